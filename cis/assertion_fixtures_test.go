package cis

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateFixtures = flag.Bool("update", false, "rewrite cis/testdata/assertion and the fuzz seed corpus from the fixture generator")

// fixtureTicket is the SSO ticket the fixtures echo in the inner assertion.
const fixtureTicket = "AQIC5wM2LY4SfczFixture+Tick/et0Zz=@AAJTSQACMDE=#"

// fixtureRole is one role profile block of a generated RoleAssertion.
type fixtureRole struct {
	OrgCode, OrgName, JobRole, JobRoleCode, ID string
	ActivityNames, Activities                  []string
	AreasOfWork, AreaOfWorkCodes               []string
	Workgroups, WorkgroupCodes                 []string
	OrgOpenDate, OrgCloseDate, PersonStatus    string
}

// fixtureDoc describes a RoleAssertion in the shape the SSB sends (see the
// RoleAssertion section of the protocol spec).
type fixtureDoc struct {
	UID, Name, OcsPrCode, Selected, Mode  string
	Roles                                 []fixtureRole
	IssueInstant, NotBefore, NotOnOrAfter string
	Status                                string // StatusCode Value; "" means samlp:Success
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// bytes renders d with the SSB's indentation and attribute order.
func (d fixtureDoc) bytes() []byte {
	var b strings.Builder
	status := d.Status
	if status == "" {
		status = "samlp:Success"
	}
	issue, nb, noa := d.IssueInstant, d.NotBefore, d.NotOnOrAfter
	if issue == "" {
		issue, nb, noa = "2026-11-26T10:30:51Z", "2026-11-26T10:27:51Z", "2026-11-26T10:31:51Z"
	}
	fmt.Fprintf(&b, `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" ResponseID="null" InResponseTo="null" MajorVersion="1" MinorVersion="1" IssueInstant="%s" Recipient="172.16.143.51">
    <samlp:Status>
        <samlp:StatusCode Value="%s"/>
    </samlp:Status>
`, issue, status)
	if d.Status != "" {
		b.WriteString("</samlp:Response>\n")
		return []byte(b.String())
	}
	fmt.Fprintf(&b, `    <saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="1" MinorVersion="1" AssertionID="ba10307f67ace849c6fc7459fe9b6e4e2daa65c8d" Issuer="http://iam-careid-development:8080" IssueInstant="%[1]s">
        <saml:Conditions NotBefore="%[2]s" NotOnOrAfter="%[3]s"/>
        <saml:AttributeStatement>
            <saml:Subject>
                <saml:NameIdentifier NameQualifier="o=nhs">uid=%[4]s,ou=People,o=nhs</saml:NameIdentifier>
                <saml:SubjectConfirmation>
                    <saml:ConfirmationMethod>urn:com:sun:identity</saml:ConfirmationMethod>
                    <saml:SubjectConfirmationData>
                        <saml:Assertion MajorVersion="1" MinorVersion="1" AssertionID="10a1792f539d58d6d11f9a84633338c27907283er" Issuer="http://iam-careid-development:8080" IssueInstant="%[1]s">
                            <saml:Conditions NotBefore="%[2]s" NotOnOrAfter="%[3]s"/>
                            <saml:AuthenticationStatement AuthenticationInstant="%[1]s" AuthenticationMethod="urn:com:sun:identity:ExtendedLoginModule">
                                <saml:Subject>
                                    <saml:NameIdentifier NameQualifier="o=nhs">uid=%[4]s,ou=People,o=nhs</saml:NameIdentifier>
                                    <saml:SubjectConfirmation>
                                        <saml:ConfirmationMethod>urn:com:sun:identity</saml:ConfirmationMethod>
                                        <saml:SubjectConfirmationData>%[5]s</saml:SubjectConfirmationData>
                                    </saml:SubjectConfirmation>
                                </saml:Subject>
                                <saml:SubjectLocality IPAddress="172.16.143.51"/>
                            </saml:AuthenticationStatement>
                        </saml:Assertion>
                    </saml:SubjectConfirmationData>
                </saml:SubjectConfirmation>
            </saml:Subject>
`, issue, nb, noa, d.UID, fixtureTicket)
	attr := func(name string, values ...string) {
		if len(values) == 0 || (len(values) == 1 && values[0] == "") {
			return // the SSB omits empty attributes
		}
		fmt.Fprintf(&b, "            <saml:Attribute AttributeName=%q AttributeNamespace=\"http://www.syntegra.com\">\n", name)
		for _, v := range values {
			fmt.Fprintf(&b, "                <saml:AttributeValue>%s</saml:AttributeValue>\n", xmlText(v))
		}
		b.WriteString("            </saml:Attribute>\n")
	}
	attr("ssbAssertionVersion", "1.1")
	attr("cn", d.Name)
	attr("uid", d.UID)
	attr("nhsOcsPrCode", d.OcsPrCode)
	attr("ssbSessionRoleUid", d.Selected)
	attr("ssbMode", d.Mode)
	for _, r := range d.Roles {
		attr("nhsIdCode", r.OrgCode)
		attr("o", r.OrgName)
		attr("nhsBusinessFunctions", r.ActivityNames...)
		attr("nhsBusinessFunctionsCodes", r.Activities...)
		attr("nhsJobRole", r.JobRole)
		attr("uniqueIdentifier", r.ID)
		attr("nhsJobRoleCode", r.JobRoleCode)
		attr("nhsAreaOfWork", r.AreasOfWork...)
		attr("nhsAreaOfWorkCodes", r.AreaOfWorkCodes...)
		attr("nhsWorkGroups", r.Workgroups...)
		attr("nhsWorkGroupsCodes", r.WorkgroupCodes...)
		attr("nhsOrgOpenDate", r.OrgOpenDate)
		attr("nhsOrgCloseDate", r.OrgCloseDate)
		attr("nhsPersonStatus", r.PersonStatus)
	}
	b.WriteString("        </saml:AttributeStatement>\n    </saml:Assertion>\n</samlp:Response>\n")
	return []byte(b.String())
}

// The public NHS sample's user and role.
var sampleRole = fixtureRole{
	OrgCode: "X09", OrgName: "NHS CONNECTING FOR HEALTH",
	JobRole:     `"Clinical":"Clinical Provision":"Health Professional Access Role"`,
	JobRoleCode: "S8000:G8000:R8003", ID: "780609380511",
	ActivityNames: []string{"Execute Management Reports", "View non-ETP Clinical Data within CSA", "Manage Detailed Health Records"},
	Activities:    []string{"B8029", "B0945", "B0264"},
}

func sampleDoc() fixtureDoc {
	return fixtureDoc{UID: "232871648514", Name: "Hatherly Adam", Selected: sampleRole.ID, Mode: "0", Roles: []fixtureRole{sampleRole}}
}

var adminRole = fixtureRole{
	OrgCode: "RME", OrgName: "COMMUNICARE NHS TRUST",
	JobRole:     `"Admin & Clerical":"Admin":"Demographic Administrator"`,
	JobRoleCode: "S0080:G0440:R5110", ID: "555006304103",
	ActivityNames:   []string{"Manage Patient Duplicate Records", "Access Sensitive(S) Flagged Records"},
	Activities:      []string{"B1680", "B1611"},
	AreasOfWork:     []string{`"Secondary Care":"Secondary Care":"Secondary Care"`},
	AreaOfWorkCodes: []string{"P8001:Q8001:T6092"},
	Workgroups:      []string{"DemographicWG"}, WorkgroupCodes: []string{"555005330103"},
}

// fortyRoles returns a user with 40 role profiles, the selected one at
// index 22: the size seen in the field, and the benchmark's document.
func fortyRoles() fixtureDoc {
	orgs := []string{"SMITH & JONES SURGERY", "ST. MARY'S HOSPITAL (PADDINGTON)", "LEEDS TEACHING HOSPITALS NHS TRUST", "BOOTS UK LTD, NOTTINGHAM"}
	jobs := []string{`"Admin & Clerical":"Admin & Clerical":"Receptionist Access Role"`, `"Clinical":"Clinical Provision":"Health Professional Access Role"`, `"Clinical":"Clinical Support":"Medical Secretary Access Role"`}
	d := fixtureDoc{UID: "555006130103", Name: "Downs Michelle Miss", OcsPrCode: "C1234567", Mode: "0"}
	for i := range 40 {
		r := fixtureRole{
			OrgCode:     fmt.Sprintf("R%02dX", i),
			OrgName:     fmt.Sprintf("%s %d", orgs[i%len(orgs)], i),
			JobRole:     jobs[i%len(jobs)],
			JobRoleCode: fmt.Sprintf("S8000:G8000:R80%02d", i),
			ID:          fmt.Sprintf("5550063%05d", i),
		}
		for j := range 3 + i%6 {
			r.ActivityNames = append(r.ActivityNames, fmt.Sprintf("Perform Activity %d & Review %d", j, i))
			r.Activities = append(r.Activities, fmt.Sprintf("B%04d", (i*7+j*13)%10000))
		}
		if i%5 == 0 {
			r.AreasOfWork = []string{`"Secondary Care":"Secondary Care":"Secondary Care"`}
			r.AreaOfWorkCodes = []string{"P8001:Q8001:T6092"}
			r.Workgroups = []string{fmt.Sprintf("WG %d", i)}
			r.WorkgroupCodes = []string{fmt.Sprintf("5550053%05d", i)}
		}
		d.Roles = append(d.Roles, r)
	}
	d.Selected = d.Roles[22].ID
	return d
}

func unicodeDoc() fixtureDoc {
	welsh := fixtureRole{
		OrgCode: "7A1", OrgName: "BWRDD IECHYD PRIFYSGOL BETSI CADWALADR – YSBYTY GWYNEDD",
		JobRole:     `"Clinical":"Nyrsio: Cymraeg":"Nyrs Staff "Ward 3" Mân-anafiadau"`,
		JobRoleCode: "S8000:G8000:R8001", ID: "200000000001",
		ActivityNames: []string{"Rheoli Cofnodion Iechyd – Ffôn"}, Activities: []string{"B0264"},
	}
	french := fixtureRole{
		OrgCode: "Y0345", OrgName: "O'NEILL & D'ARCY MÉDICAL CENTRE",
		JobRole:     `"Clinical":"Clinical Provision":"Médecin Généraliste (GP): Zoë"`,
		JobRoleCode: "S8000:G8000:R8000", ID: "200000000002",
		Activities: []string{"B0570", "B0264"},
	}
	return fixtureDoc{UID: "200000000099", Name: "Ó Súilleabháin Siân Dr", Selected: french.ID, Mode: "0", Roles: []fixtureRole{welsh, french}}
}

// roleAssertionFixtures renders every fixture, valid and hostile.
func roleAssertionFixtures() (map[string][]byte, error) {
	out := map[string][]byte{}
	var failed error
	mutate := func(name string, doc []byte, pairs ...string) {
		for i := 0; i+1 < len(pairs); i += 2 {
			if n := bytes.Count(doc, []byte(pairs[i])); n != 1 && failed == nil {
				failed = fmt.Errorf("fixture %s: %q occurs %d times, want once", name, pairs[i], n)
				return
			}
			doc = bytes.Replace(doc, []byte(pairs[i]), []byte(pairs[i+1]), 1)
		}
		out[name] = doc
	}

	single := sampleDoc().bytes()
	out["single-role.xml"] = single

	two := fixtureDoc{UID: "555006130103", Name: "Downs Michelle Miss", Selected: adminRole.ID, Mode: "0",
		Roles: []fixtureRole{sampleRole, adminRole}}
	out["two-roles-selected-last.xml"] = two.bytes()

	forty := fortyRoles()
	fortyB := forty.bytes()
	out["forty-roles.xml"] = fortyB
	last := forty
	last.Selected = forty.Roles[39].ID
	out["forty-roles-selected-last.xml"] = last.bytes()

	out["unicode-names.xml"] = unicodeDoc().bytes()

	training := sampleDoc()
	training.Mode = "1"
	out["training-mode.xml"] = training.bytes()

	rare := sampleDoc()
	rare.Roles = []fixtureRole{sampleRole}
	rare.Roles[0].OrgOpenDate, rare.Roles[0].OrgCloseDate, rare.Roles[0].PersonStatus = "19990401", "20300331", "Active"
	out["rare-attributes.xml"] = rare.bytes()

	// Same content, other spellings: XML declaration, other prefixes, a
	// default namespace, comments and CDATA inside values, zone offsets.
	mutate("namespace-variants.xml", single,
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol"`, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- SSB -->\n<p:Response xmlns:p=\"urn:oasis:names:tc:SAML:1.0:protocol\" xmlns:samlp=\"urn:oasis:names:tc:SAML:1.0:protocol\"",
		"<samlp:Status>", "<p:Status>",
		"</samlp:Status>", "</p:Status>",
		"</samlp:Response>", "</p:Response>",
		`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="1"`, `<Assertion xmlns="urn:oasis:names:tc:SAML:1.0:assertion" xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" MajorVersion="1"`,
		"    </saml:Assertion>\n</p", "    </Assertion>\n</p",
		`<saml:Conditions NotBefore="2026-11-26T10:27:51Z" NotOnOrAfter="2026-11-26T10:31:51Z"/>
        <saml:AttributeStatement>`, `<Conditions NotBefore="2026-11-26T11:27:51+01:00" NotOnOrAfter="2026-11-26T10:31:51.000Z"/>
        <AttributeStatement>`,
		"</saml:AttributeStatement>", "</AttributeStatement>",
		"<saml:AttributeValue>232871648514</saml:AttributeValue>", "<AttributeValue>2328<!-- split -->716<![CDATA[48514]]></AttributeValue>",
	)

	// Hostile and broken documents.
	out["truncated.xml"] = fortyB[:len(fortyB)/2]
	mutate("duplicate-uid.xml", single, `<saml:Attribute AttributeName="uid"`, `<saml:Attribute AttributeName="uid" AttributeNamespace="http://www.syntegra.com">
                <saml:AttributeValue>999999999999</saml:AttributeValue>
            </saml:Attribute>
            <saml:Attribute AttributeName="uid"`)
	mutate("duplicate-o-in-block.xml", single, `<saml:Attribute AttributeName="o"`, `<saml:Attribute AttributeName="o" AttributeNamespace="http://www.syntegra.com">
                <saml:AttributeValue>SOMEWHERE ELSE</saml:AttributeValue>
            </saml:Attribute>
            <saml:Attribute AttributeName="o"`)
	mutate("two-values-single.xml", single, "<saml:AttributeValue>232871648514</saml:AttributeValue>",
		"<saml:AttributeValue>232871648514</saml:AttributeValue><saml:AttributeValue>999999999999</saml:AttributeValue>")
	mutate("duplicate-xml-attribute.xml", single, `<saml:Attribute AttributeName="uid"`, `<saml:Attribute AttributeName="cn" AttributeName="uid"`)
	inner := single[bytes.Index(single, []byte("    <saml:Assertion ")):bytes.Index(single, []byte("</samlp:Response>"))]
	mutate("two-assertions.xml", single, "</samlp:Response>", string(inner)+"</samlp:Response>")
	mutate("wrong-ns-response.xml", single, `xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol"`, `xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"`)
	mutate("wrong-ns-assertion.xml", single, `xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion"`, `xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`)
	mutate("wrong-ns-attribute-element.xml", single, `<saml:Attribute AttributeName="uid" AttributeNamespace="http://www.syntegra.com">
                <saml:AttributeValue>232871648514</saml:AttributeValue>
            </saml:Attribute>`, `<x:Attribute xmlns:x="urn:example:evil" AttributeName="uid" AttributeNamespace="http://www.syntegra.com">
                <saml:AttributeValue>232871648514</saml:AttributeValue>
            </x:Attribute>`)
	mutate("wrong-attribute-namespace.xml", single, `<saml:Attribute AttributeName="uid" AttributeNamespace="http://www.syntegra.com">`,
		`<saml:Attribute AttributeName="uid" AttributeNamespace="http://www.example.com">`)
	mutate("undeclared-prefix.xml", single, "<saml:NameIdentifier NameQualifier=\"o=nhs\">uid=232871648514,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation>",
		"<saml:NameIdentifier NameQualifier=\"o=nhs\">uid=232871648514,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation q:x=\"1\">")
	out["doctype-billion-laughs.xml"] = append([]byte(`<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
`), bytes.Replace(single, []byte("Hatherly Adam"), []byte("&lol3;"), 1)...)
	mutate("external-entity.xml", single, "Hatherly Adam", "&xxe;")
	out["second-root.xml"] = append(slices.Clone(single), "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:1.0:protocol\"/>\n"...)
	mutate("processing-instruction.xml", single, "<samlp:Status>", "<?evil data?><samlp:Status>")
	mutate("late-xml-declaration.xml", single, "<samlp:Status>", "<?xml version=\"1.0\"?><samlp:Status>")
	requester := sampleDoc()
	requester.Status = "samlp:Requester"
	out["status-requester.xml"] = requester.bytes()
	mutate("status-success-foreign-prefix.xml", single, `<samlp:StatusCode Value="samlp:Success"/>`, `<samlp:StatusCode xmlns:x="urn:example:evil" Value="x:Success"/>`)
	mutate("status-success-unprefixed.xml", single, `<samlp:StatusCode Value="samlp:Success"/>`, `<samlp:StatusCode Value="Success"/>`)
	mutate("missing-uid.xml", single, `<saml:Attribute AttributeName="uid" AttributeNamespace="http://www.syntegra.com">
                <saml:AttributeValue>232871648514</saml:AttributeValue>
            </saml:Attribute>
`, "")
	mutate("missing-session-role.xml", single, `<saml:Attribute AttributeName="ssbSessionRoleUid" AttributeNamespace="http://www.syntegra.com">
                <saml:AttributeValue>780609380511</saml:AttributeValue>
            </saml:Attribute>
`, "")
	notFound := sampleDoc()
	notFound.Selected = "123456789012"
	out["selected-role-not-found.xml"] = notFound.bytes()
	mutate("role-attribute-before-idcode.xml", single, `<saml:Attribute AttributeName="ssbMode"`, `<saml:Attribute AttributeName="o" AttributeNamespace="http://www.syntegra.com">
                <saml:AttributeValue>NOWHERE</saml:AttributeValue>
            </saml:Attribute>
            <saml:Attribute AttributeName="ssbMode"`)
	noID := sampleDoc()
	noID.Roles = []fixtureRole{sampleRole, adminRole}
	noID.Roles[1].ID = ""
	out["block-without-uniqueidentifier.xml"] = noID.bytes()
	dupID := sampleDoc()
	dupID.Roles = []fixtureRole{sampleRole, adminRole}
	dupID.Roles[1].ID = sampleRole.ID
	out["duplicate-uniqueidentifier.xml"] = dupID.bytes()
	badMode := sampleDoc()
	badMode.Mode = "2"
	out["bad-mode.xml"] = badMode.bytes()
	badJob := sampleDoc()
	badJob.Roles = []fixtureRole{sampleRole}
	badJob.Roles[0].JobRole = "Health Professional Access Role"
	out["bad-job-role.xml"] = badJob.bytes()
	mutate("unknown-saml-element.xml", single, "<saml:AttributeStatement>", "<saml:Advice/>\n        <saml:AttributeStatement>")
	mutate("too-deep-outside.xml", single, `<samlp:StatusCode Value="samlp:Success"/>`,
		`<samlp:StatusCode Value="samlp:Success"/><samlp:StatusDetail>`+strings.Repeat("<x>", 40)+strings.Repeat("</x>", 40)+"</samlp:StatusDetail>")
	mutate("missing-notonorafter.xml", single, `<saml:Conditions NotBefore="2026-11-26T10:27:51Z" NotOnOrAfter="2026-11-26T10:31:51Z"/>
        <saml:AttributeStatement>`, `<saml:Conditions NotBefore="2026-11-26T10:27:51Z"/>
        <saml:AttributeStatement>`)
	mutate("time-without-zone.xml", single, `NotOnOrAfter="2026-11-26T10:31:51Z"/>
        <saml:AttributeStatement>`, `NotOnOrAfter="2026-11-26T10:31:51"/>
        <saml:AttributeStatement>`)
	mutate("other-user-in-subject.xml", single, "<saml:NameIdentifier NameQualifier=\"o=nhs\">uid=232871648514,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation>",
		"<saml:NameIdentifier NameQualifier=\"o=nhs\">uid=999999999999,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation>")
	// What a real SSB never sends: no ssbMode, a subject that is not
	// uid=<the uid attribute>,…, a validity window of more than an hour.
	noMode := sampleDoc()
	noMode.Mode = ""
	out["missing-mode.xml"] = noMode.bytes()
	mutate("other-dn-in-subject.xml", single, "<saml:NameIdentifier NameQualifier=\"o=nhs\">uid=232871648514,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation>",
		"<saml:NameIdentifier NameQualifier=\"o=nhs\">cn=someone else,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation>")
	mutate("uid-prefix-in-subject.xml", single, "<saml:NameIdentifier NameQualifier=\"o=nhs\">uid=232871648514,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation>",
		"<saml:NameIdentifier NameQualifier=\"o=nhs\">uid=2328716485149,ou=People,o=nhs</saml:NameIdentifier>\n                <saml:SubjectConfirmation>")
	long := sampleDoc()
	long.IssueInstant, long.NotBefore, long.NotOnOrAfter = "2026-11-26T10:30:51Z", "2026-11-26T10:27:51Z", "2026-11-26T11:27:52Z"
	out["long-window.xml"] = long.bytes()
	hour := sampleDoc()
	hour.IssueInstant, hour.NotBefore, hour.NotOnOrAfter = "2026-11-26T10:30:51Z", "2026-11-26T10:27:51Z", "2026-11-26T11:27:51Z"
	out["hour-window.xml"] = hour.bytes()
	mutate("text-in-structure.xml", single, "<samlp:Status>", "stray text<samlp:Status>")
	mutate("version-2.xml", single, `ResponseID="null" InResponseTo="null" MajorVersion="1"`, `ResponseID="null" InResponseTo="null" MajorVersion="2"`)
	var decls strings.Builder
	for i := range 3 * (maxAssertionDepth - 4) {
		if i%3 == 0 {
			decls.WriteString("<x")
		}
		fmt.Fprintf(&decls, ` xmlns:p%d="urn:example:%d"`, i, i)
		if i%3 == 2 {
			decls.WriteString(">")
		}
	}
	decls.WriteString(strings.Repeat("</x>", maxAssertionDepth-4))
	mutate("too-many-namespaces.xml", single, `<samlp:StatusCode Value="samlp:Success"/>`,
		`<samlp:StatusCode Value="samlp:Success"/><samlp:StatusDetail>`+decls.String()+"</samlp:StatusDetail>")
	deep := strings.Repeat("<saml:X>", 40) + strings.Repeat("</saml:X>", 40)
	mutate("too-deep.xml", single, ">"+fixtureTicket+"<", ">"+deep+"<")
	return out, failed
}

// TestRoleAssertionFixturesUpToDate keeps cis/testdata/assertion in step
// with the generator above; run with -update to rewrite it.
func TestRoleAssertionFixturesUpToDate(t *testing.T) {
	fixtures, err := roleAssertionFixtures()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "assertion")
	if *updateFixtures {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range fixtures {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		writeFuzzSeeds(t, fixtures)
	}
	for name, want := range fixtures {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (run go test ./cis -run TestRoleAssertionFixturesUpToDate -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator (run with -update)", name)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	for _, f := range files {
		if _, ok := fixtures[filepath.Base(f)]; !ok {
			t.Errorf("%s is not made by the generator", f)
		}
	}
}

func writeFuzzSeeds(t *testing.T, fixtures map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzParseRoleAssertion")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fixtures {
		if name == "forty-roles-selected-last.xml" {
			continue // the forty-role document is there once
		}
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(name, ".xml")), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	return readTestdata(t, "assertion", name)
}
