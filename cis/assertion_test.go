package cis

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, name string) *Assertion {
	t.Helper()
	a, err := ParseRoleAssertion(readFixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

func TestParseRoleAssertionSample(t *testing.T) {
	a := mustParse(t, "single-role.xml")
	want := &Assertion{
		User: User{UID: "232871648514", Name: "Hatherly Adam", Roles: []RoleProfile{{
			ID: "780609380511", OrgCode: "X09", OrgName: "NHS CONNECTING FOR HEALTH",
			StaffGroup: "Clinical", SubGroup: "Clinical Provision", JobRole: "Health Professional Access Role",
			JobRoleCode:   "S8000:G8000:R8003",
			Activities:    []string{"B8029", "B0945", "B0264"},
			ActivityNames: []string{"Execute Management Reports", "View non-ETP Clinical Data within CSA", "Manage Detailed Health Records"},
		}}},
		SelectedRoleID: "780609380511",
		Mode:           ModeLive,
		AssertionID:    "ba10307f67ace849c6fc7459fe9b6e4e2daa65c8d",
		Issuer:         "http://iam-careid-development:8080",
		IssueInstant:   time.Date(2026, 11, 26, 10, 30, 51, 0, time.UTC),
		NotBefore:      time.Date(2026, 11, 26, 10, 27, 51, 0, time.UTC),
		NotOnOrAfter:   time.Date(2026, 11, 26, 10, 31, 51, 0, time.UTC),
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got  %+v\nwant %+v", a, want)
	}
	if !a.SelectedRole().HasActivity("B0264") {
		t.Error("selected role lacks B0264")
	}
}

func TestParseRoleAssertionValidFixtures(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, a *Assertion)
	}{
		{"two-roles-selected-last.xml", func(t *testing.T, a *Assertion) {
			r := a.SelectedRole()
			if len(a.User.Roles) != 2 || r != &a.User.Roles[1] {
				t.Fatalf("selected %+v of %d roles, want the second", r, len(a.User.Roles))
			}
			if r.StaffGroup != "Admin & Clerical" || r.SubGroup != "Admin" || r.JobRole != "Demographic Administrator" {
				t.Errorf("job role %q/%q/%q", r.StaffGroup, r.SubGroup, r.JobRole)
			}
			if !reflect.DeepEqual(r.AreasOfWork, []string{`"Secondary Care":"Secondary Care":"Secondary Care"`}) ||
				!reflect.DeepEqual(r.AreaOfWorkCodes, []string{"P8001:Q8001:T6092"}) ||
				!reflect.DeepEqual(r.Workgroups, []string{"DemographicWG"}) || !reflect.DeepEqual(r.WorkgroupCodes, []string{"555005330103"}) {
				t.Errorf("areas/workgroups %+v", r)
			}
			if a.User.Roles[0].AreasOfWork != nil || a.User.Roles[0].Workgroups != nil {
				t.Error("absent lists should be nil")
			}
		}},
		{"forty-roles.xml", func(t *testing.T, a *Assertion) {
			if len(a.User.Roles) != 40 {
				t.Fatalf("%d roles, want 40", len(a.User.Roles))
			}
			r := a.SelectedRole()
			if r != &a.User.Roles[22] || r.ID != "555006300022" {
				t.Fatalf("selected %+v, want index 22", r)
			}
			if a.User.OcsPrCode != "C1234567" || a.User.Roles[0].OrgName != "SMITH & JONES SURGERY 0" ||
				a.User.Roles[3].OrgName != "BOOTS UK LTD, NOTTINGHAM 3" || a.User.Roles[1].OrgName != "ST. MARY'S HOSPITAL (PADDINGTON) 1" {
				t.Errorf("names: %q %q %q %q", a.User.OcsPrCode, a.User.Roles[0].OrgName, a.User.Roles[1].OrgName, a.User.Roles[3].OrgName)
			}
			if a.User.Roles[0].StaffGroup != "Admin & Clerical" || a.User.Roles[0].ActivityNames[1] != "Perform Activity 1 & Review 0" {
				t.Errorf("ampersands: %+v", a.User.Roles[0])
			}
			for i, r := range a.User.Roles {
				if len(r.Activities) != 3+i%6 {
					t.Errorf("role %d: %d activities", i, len(r.Activities))
				}
			}
		}},
		{"forty-roles-selected-last.xml", func(t *testing.T, a *Assertion) {
			if a.SelectedRole() != &a.User.Roles[39] {
				t.Errorf("selected %s, want the last", a.SelectedRoleID)
			}
		}},
		{"unicode-names.xml", func(t *testing.T, a *Assertion) {
			if a.User.Name != "Ó Súilleabháin Siân Dr" {
				t.Errorf("name %q", a.User.Name)
			}
			w := a.User.Roles[0]
			if w.OrgName != "BWRDD IECHYD PRIFYSGOL BETSI CADWALADR – YSBYTY GWYNEDD" || w.SubGroup != "Nyrsio: Cymraeg" ||
				w.JobRole != `Nyrs Staff "Ward 3" Mân-anafiadau` || w.ActivityNames[0] != "Rheoli Cofnodion Iechyd – Ffôn" {
				t.Errorf("welsh role %+v", w)
			}
			f := a.SelectedRole()
			if f.OrgName != "O'NEILL & D'ARCY MÉDICAL CENTRE" || f.JobRole != "Médecin Généraliste (GP): Zoë" || !f.HasActivity("B0570") {
				t.Errorf("selected role %+v", f)
			}
		}},
		{"training-mode.xml", func(t *testing.T, a *Assertion) {
			if a.Mode != ModeTraining {
				t.Errorf("mode %v", a.Mode)
			}
		}},
		{"rare-attributes.xml", func(t *testing.T, a *Assertion) {
			r := a.SelectedRole()
			if r.OrgOpenDate != "19990401" || r.OrgCloseDate != "20300331" || r.PersonStatus != "Active" || a.Mode != ModeLive {
				t.Errorf("rare attributes %+v mode %v", r, a.Mode)
			}
		}},
		{"hour-window.xml", func(t *testing.T, a *Assertion) {
			if a.NotOnOrAfter.Sub(a.NotBefore) != MaxAssertionWindow {
				t.Errorf("window %v–%v", a.NotBefore, a.NotOnOrAfter)
			}
		}},
		{"namespace-variants.xml", func(t *testing.T, a *Assertion) {
			want := mustParse(t, "single-role.xml")
			if a.User.UID != "232871648514" || !reflect.DeepEqual(a.User, want.User) {
				t.Errorf("user %+v", a.User)
			}
			if !a.NotBefore.Equal(want.NotBefore) || !a.NotOnOrAfter.Equal(want.NotOnOrAfter) || a.NotBefore.Location() != time.UTC {
				t.Errorf("window %v–%v", a.NotBefore, a.NotOnOrAfter)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a := mustParse(t, tt.file)
			if a.SelectedRole() == nil {
				t.Fatal("no selected role")
			}
			tt.check(t, a)
		})
	}
}

func TestParseRoleAssertionRejects(t *testing.T) {
	tests := []struct {
		file string
		want []error
		msg  string // part of the error text
	}{
		{"truncated.xml", []error{ErrMalformed}, "unexpected EOF"},
		{"duplicate-uid.xml", []error{ErrMalformed}, "uid given twice"},
		{"duplicate-o-in-block.xml", []error{ErrMalformed}, "o given twice"},
		{"two-values-single.xml", []error{ErrMalformed}, "uid has 2 values"},
		{"duplicate-xml-attribute.xml", []error{ErrMalformed}, "repeats attribute"},
		{"two-assertions.xml", []error{ErrMalformed}, "more than one saml:Assertion"},
		{"wrong-ns-response.xml", []error{ErrMalformed}, "root element"},
		{"wrong-ns-assertion.xml", []error{ErrMalformed}, "unexpected element"},
		{"wrong-ns-attribute-element.xml", []error{ErrMalformed}, "{urn:example:evil}Attribute"},
		{"wrong-attribute-namespace.xml", []error{ErrMalformed}, "AttributeNamespace"},
		{"undeclared-prefix.xml", []error{ErrMalformed}, "not declared"},
		{"doctype-billion-laughs.xml", []error{ErrMalformed}, "DOCTYPE"},
		{"external-entity.xml", []error{ErrMalformed}, "entity"},
		{"second-root.xml", []error{ErrMalformed}, "second root"},
		{"processing-instruction.xml", []error{ErrMalformed}, "processing instruction"},
		{"late-xml-declaration.xml", []error{ErrMalformed}, "processing instruction"},
		{"status-requester.xml", []error{ErrSessionInvalid}, "not samlp:Success"},
		{"status-success-foreign-prefix.xml", []error{ErrSessionInvalid}, "not samlp:Success"},
		{"status-success-unprefixed.xml", []error{ErrSessionInvalid}, "not samlp:Success"},
		{"missing-uid.xml", []error{ErrMalformed}, "uid missing"},
		{"missing-session-role.xml", []error{ErrMalformed}, "ssbSessionRoleUid missing"},
		{"selected-role-not-found.xml", []error{ErrMalformed, ErrUnknownRole}, "matches no role"},
		{"role-attribute-before-idcode.xml", []error{ErrMalformed}, "before the first nhsIdCode"},
		{"block-without-uniqueidentifier.xml", []error{ErrMalformed}, "no uniqueIdentifier"},
		{"duplicate-uniqueidentifier.xml", []error{ErrMalformed}, "more than one block"},
		{"bad-mode.xml", []error{ErrMalformed}, "ssbMode"},
		{"bad-job-role.xml", []error{ErrMalformed}, "nhsJobRole"},
		{"unknown-saml-element.xml", []error{ErrMalformed}, "Advice"},
		{"missing-notonorafter.xml", []error{ErrMalformed}, "NotOnOrAfter"},
		{"time-without-zone.xml", []error{ErrMalformed}, "time zone"},
		{"other-user-in-subject.xml", []error{ErrMalformed}, "different user"},
		{"text-in-structure.xml", []error{ErrMalformed}, "unexpected text"},
		{"version-2.xml", []error{ErrMalformed}, "MajorVersion"},
		{"too-deep.xml", []error{ErrMalformed}, "SubjectConfirmationData (details withheld"},
		{"too-deep-outside.xml", []error{ErrMalformed}, "deeper than 32"},
		{"too-many-namespaces.xml", []error{ErrMalformed}, "more than 64 namespace declarations"},
		{"missing-mode.xml", []error{ErrMalformed}, "ssbMode missing"},
		{"other-dn-in-subject.xml", []error{ErrMalformed}, "different user"},
		{"uid-prefix-in-subject.xml", []error{ErrMalformed}, "different user"},
		{"long-window.xml", []error{ErrMalformed}, "longer than 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a, err := ParseRoleAssertion(readFixture(t, tt.file))
			if err == nil {
				t.Fatalf("parsed: %+v", a)
			}
			if a != nil {
				t.Error("assertion returned with an error")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q is not %v", err, w)
				}
			}
			if !errors.Is(err, ErrSessionInvalid) {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Errorf("error %T is not a *ParseError", err)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), fixtureTicket) {
				t.Errorf("error quotes the ticket: %q", err)
			}
		})
	}
}

// TestParseRoleAssertionSplitText: a value split by comments and CDATA, with
// entities in several pieces, is joined intact.
func TestParseRoleAssertionSplitText(t *testing.T) {
	doc := readFixture(t, "single-role.xml")
	doc = bytes.Replace(doc, []byte("<saml:AttributeValue>Hatherly Adam</saml:AttributeValue>"),
		[]byte("<saml:AttributeValue>O&apos;Hat<!-- x -->herly &amp; <![CDATA[A&amp;]]><!-- y -->d&#x61;m &lt;3</saml:AttributeValue>"), 1)
	a, err := ParseRoleAssertion(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := "O'Hatherly & A&amp;dam <3"; a.User.Name != want {
		t.Errorf("name %q, want %q", a.User.Name, want)
	}
}

func TestParseRoleAssertionTooLarge(t *testing.T) {
	doc := readFixture(t, "single-role.xml")
	pad := bytes.Repeat([]byte(" "), MaxAssertionSize)
	huge := append(bytes.Clone(doc[:len(doc)-1]), pad...)
	_, err := ParseRoleAssertion(huge)
	var pe *ParseError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *ParseError with ErrTooLarge", err)
	}
	// Just under the limit is parsed (white space after the root).
	ok := append(bytes.Clone(doc), pad[:MaxAssertionSize-len(doc)]...)
	if _, err := ParseRoleAssertion(ok); err != nil {
		t.Fatalf("document of exactly MaxAssertionSize: %v", err)
	}
}

func TestParseRoleAssertionManyRoles(t *testing.T) {
	d := sampleDoc()
	for len(d.Roles) <= maxRoleProfiles {
		d.Roles = append(d.Roles, fixtureRole{OrgCode: "X", ID: fmt.Sprintf("9%011d", len(d.Roles))})
	}
	_, err := ParseRoleAssertion(d.bytes())
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "role profiles") {
		t.Fatalf("err = %v, want the role profile limit", err)
	}
}

// TestParseRoleAssertionNamespaceLimit: at most maxNamespaceDecls
// namespace declarations in a document (the fixture has two), so resolving
// a prefix scans a bounded list; one more is refused with a clear error.
func TestParseRoleAssertionNamespaceLimit(t *testing.T) {
	doc := readFixture(t, "single-role.xml")
	const status = `<samlp:StatusCode Value="samlp:Success"/>`
	// n elements x in samlp:StatusDetail, siblings or nested, each
	// declaring per prefixes.
	with := func(n, per int, nested bool) []byte {
		var b strings.Builder
		for i := range n {
			b.WriteString("<x")
			for j := range per {
				fmt.Fprintf(&b, ` xmlns:p%d_%d="urn:example:%d"`, i, j, j)
			}
			b.WriteString(">")
			if !nested {
				b.WriteString("</x>")
			}
		}
		if nested {
			b.WriteString(strings.Repeat("</x>", n))
		}
		return bytes.Replace(doc, []byte(status), []byte(status+"<samlp:StatusDetail>"+b.String()+"</samlp:StatusDetail>"), 1)
	}
	if _, err := ParseRoleAssertion(with(maxNamespaceDecls-2, 1, false)); err != nil {
		t.Fatalf("%d declarations: %v", maxNamespaceDecls, err)
	}
	for _, tc := range []struct {
		n, per int
		nested bool
	}{{maxNamespaceDecls - 1, 1, false}, {2, maxXMLAttrs, false}, {maxAssertionDepth - 4, 3, true}} {
		_, err := ParseRoleAssertion(with(tc.n, tc.per, tc.nested))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d namespace declarations", maxNamespaceDecls)) {
			t.Errorf("%+v: err = %v, want the namespace declaration limit", tc, err)
		}
	}
}

// TestParseRoleAssertionTicketNeverInErrors breaks the document inside and
// around SubjectConfirmationData and checks no error quotes the ticket.
func TestParseRoleAssertionTicketNeverInErrors(t *testing.T) {
	doc := readFixture(t, "single-role.xml")
	i := bytes.Index(doc, []byte(fixtureTicket))
	for _, bad := range []string{
		fixtureTicket + "&" + fixtureTicket + ";",
		fixtureTicket + "</saml:Foo>",
		"<" + fixtureTicket + ">",
		"<a " + fixtureTicket + "=\"1\">",
		fixtureTicket + "<!DOCTYPE x>",
		"<?" + fixtureTicket + "?>",
	} {
		b := append(append(bytes.Clone(doc[:i]), bad...), doc[i+len(fixtureTicket):]...)
		_, err := ParseRoleAssertion(b)
		if err == nil {
			t.Errorf("%q: parsed", bad)
			continue
		}
		if strings.Contains(err.Error(), fixtureTicket[4:20]) {
			t.Errorf("error quotes the ticket: %q", err)
		}
	}
	// Truncations at every point of the inner assertion.
	for n := i - 200; n < i+len(fixtureTicket)+50; n++ {
		if _, err := ParseRoleAssertion(doc[:n]); err == nil || strings.Contains(err.Error(), fixtureTicket[4:20]) {
			t.Fatalf("truncated at %d: %v", n, err)
		}
	}
}

func TestSplitJobRole(t *testing.T) {
	tests := []struct {
		in             string
		staff, sub, jr string
		ok             bool
	}{
		{`"Clinical":"Clinical Provision":"Health Professional Access Role"`, "Clinical", "Clinical Provision", "Health Professional Access Role", true},
		{`"Admin & Clerical":"Admin":"Receptionist"`, "Admin & Clerical", "Admin", "Receptionist", true},
		{`"a:b":"c "d" e":"f'g: ŵ"`, "a:b", `c "d" e`, "f'g: ŵ", true},
		{`"":"":""`, "", "", "", true},
		{`"a":"b"`, "", "", "", false},
		{`"a":"b":"c":"d"`, "", "", "", false},
		{`a:b:c`, "", "", "", false},
		{`"`, "", "", "", false},
		{``, "", "", "", false},
	}
	for _, tt := range tests {
		s, g, j, err := splitJobRole(tt.in)
		if (err == nil) != tt.ok || s != tt.staff || g != tt.sub || j != tt.jr {
			t.Errorf("splitJobRole(%q) = %q, %q, %q, %v", tt.in, s, g, j, err)
		}
	}
}

func TestCheckTime(t *testing.T) {
	a := mustParse(t, "single-role.xml") // 10:27:51 – 10:31:51
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, "2026-11-26T"+s+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		now   string
		skew  time.Duration
		err   string // "" valid, else which bound
		label string
	}{
		{"10:29:00", 0, "", "inside"},
		{"10:27:51", 0, "", "at NotBefore"},
		{"10:27:50", 0, "not yet valid", "just before NotBefore"},
		{"10:31:51", 0, "expired", "at NotOnOrAfter"},
		{"10:31:50", 0, "", "just before NotOnOrAfter"},
		{"10:22:51", DefaultSkew, "", "NotBefore minus skew"},
		{"10:22:50", DefaultSkew, "not yet valid", "beyond NotBefore minus skew"},
		{"10:36:50", DefaultSkew, "", "inside NotOnOrAfter plus skew"},
		{"10:36:51", DefaultSkew, "expired", "at NotOnOrAfter plus skew"},
		{"11:30:00", time.Hour, "", "an hour off with an hour's skew"},
		{"10:31:51", -time.Hour, "expired", "negative skew counts as zero"},
	}
	for _, tt := range tests {
		err := a.CheckTime(at(tt.now), tt.skew)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.label, err)
		case tt.err != "" && (!errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: err = %v, want ErrExpired saying %q", tt.label, err, tt.err)
		}
	}
	var nilA *Assertion
	if err := nilA.CheckTime(time.Now(), 0); !errors.Is(err, ErrExpired) {
		t.Errorf("nil assertion: %v", err)
	}
}

// TestCheckTimeIssueInstant: CheckTime also requires IssueInstant within
// the validity window widened by the skew (the public sample whose window
// is an hour off its issue instant passes with an hour's skew).
func TestCheckTimeIssueInstant(t *testing.T) {
	a := mustParse(t, "single-role.xml") // issued 10:30:51, valid 10:27:51 – 10:31:51
	now := a.IssueInstant
	for _, tt := range []struct {
		issue time.Duration // from NotBefore
		skew  time.Duration
		ok    bool
	}{
		{0, 0, true},
		{-time.Second, 0, false},
		{-DefaultSkew, DefaultSkew, true},
		{-DefaultSkew - time.Second, DefaultSkew, false},
		{4*time.Minute - time.Second, 0, true}, // just before NotOnOrAfter
		{4 * time.Minute, 0, false},            // at NotOnOrAfter
		{4*time.Minute + DefaultSkew, DefaultSkew, false},
		{4*time.Minute + DefaultSkew - time.Second, DefaultSkew, true},
		{time.Hour + 3*time.Minute, DefaultSkew, false}, // the window an hour before the issue instant
		{time.Hour + 3*time.Minute, time.Hour, true},    // … with an hour's skew
		{-time.Hour - time.Minute, time.Hour + time.Minute, true},
	} {
		b := *a
		b.IssueInstant = a.NotBefore.Add(tt.issue)
		err := b.CheckTime(now, tt.skew)
		switch {
		case tt.ok && err != nil:
			t.Errorf("issued at NotBefore%+v, skew %v: %v", tt.issue, tt.skew, err)
		case !tt.ok && (!errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "IssueInstant")):
			t.Errorf("issued at NotBefore%+v, skew %v: err = %v, want ErrExpired naming IssueInstant", tt.issue, tt.skew, err)
		}
	}
}

func FuzzParseRoleAssertion(f *testing.F) {
	f.Add(readFixture(f, "single-role.xml"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseRoleAssertion(data)
		// The shortcut for attribute values changes nothing.
		if len(data) <= MaxAssertionSize {
			g, gerr := parseRoleAssertion(data, true)
			if fmt.Sprint(err) != fmt.Sprint(gerr) || !reflect.DeepEqual(a, g) {
				t.Fatalf("with the value shortcut: %v, %+v\nwithout: %v, %+v", err, a, gerr, g)
			}
		}
		if err != nil {
			checkErrorBounded(t, "ParseRoleAssertion", err)
			if a != nil {
				t.Fatal("assertion with error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrSessionInvalid) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		// Whatever parses satisfies the model's promises.
		if a.User.UID == "" || a.SelectedRole() == nil || a.AssertionID == "" || !a.NotBefore.Before(a.NotOnOrAfter) ||
			a.NotOnOrAfter.Sub(a.NotBefore) > MaxAssertionWindow || (a.Mode != ModeLive && a.Mode != ModeTraining) {
			t.Fatalf("inconsistent assertion %+v", a)
		}
		seen := map[string]bool{}
		for _, r := range a.User.Roles {
			if r.ID == "" || r.OrgCode == "" || seen[r.ID] {
				t.Fatalf("bad role %+v", r)
			}
			seen[r.ID] = true
		}
	})
}

// benchmarkParse measures ParseRoleAssertion on one fixture.
func benchmarkParse(b *testing.B, fixture string) {
	doc := readFixture(b, fixture)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRoleAssertion(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRoleAssertion40Roles(b *testing.B) { benchmarkParse(b, "forty-roles.xml") }

// BenchmarkParseRoleAssertionDemo is the typical case: a user with one
// role profile (the shape of the development environment's demo users).
func BenchmarkParseRoleAssertionDemo(b *testing.B) { benchmarkParse(b, "single-role.xml") }

// stdResponse is the naive peer: plain xml.Unmarshal into structs of the
// same document, with bare tags that match any namespace and no checks.
type stdResponse struct {
	XMLName xml.Name `xml:"Response"`
	Status  struct {
		StatusCode struct {
			Value string `xml:"Value,attr"`
		}
	}
	Assertion struct {
		AssertionID  string `xml:"AssertionID,attr"`
		Issuer       string `xml:"Issuer,attr"`
		IssueInstant string `xml:"IssueInstant,attr"`
		Conditions   struct {
			NotBefore    string `xml:"NotBefore,attr"`
			NotOnOrAfter string `xml:"NotOnOrAfter,attr"`
		}
		AttributeStatement struct {
			Subject struct {
				NameIdentifier string
			}
			Attribute []struct {
				AttributeName  string   `xml:"AttributeName,attr"`
				AttributeValue []string `xml:"AttributeValue"`
			}
		}
	}
}

func BenchmarkParseRoleAssertion40RolesStdUnmarshal(b *testing.B) {
	doc := readFixture(b, "forty-roles.xml")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var r stdResponse
		if err := xml.Unmarshal(doc, &r); err != nil {
			b.Fatal(err)
		}
		if len(r.Assertion.AttributeStatement.Attribute) < 40 {
			b.Fatal("too few attributes")
		}
	}
}

// TestCountRoleBlocks checks the role list sizing against a plain count.
func TestCountRoleBlocks(t *testing.T) {
	for _, name := range []string{"single-role.xml", "two-roles-selected-last.xml", "forty-roles.xml", "rare-attributes.xml"} {
		doc := readFixture(t, name)
		if got, want := countRoleBlocks(doc), bytes.Count(doc, []byte(`"nhsIdCode"`)); got != want {
			t.Errorf("%s: countRoleBlocks = %d, want %d", name, got, want)
		}
	}
	for _, in := range []string{"", "I", `IdCode"`, `"nhsIdCode"`, `"nhsIdCode""nhsIdCode"x`, `nhsIdCode"`} {
		if got, want := countRoleBlocks([]byte(in)), bytes.Count([]byte(in), []byte(`"nhsIdCode"`)); got != want {
			t.Errorf("%q: countRoleBlocks = %d, want %d", in, got, want)
		}
	}
}

// TestParseRoleAssertionValueVariants: the values of one attribute, written
// in every way the general path reads (the parser takes a shortcut for
// values written exactly like the one before), give the same list; and
// errors in any of them are still found.
func TestParseRoleAssertionValueVariants(t *testing.T) {
	doc := readFixture(t, "single-role.xml")
	const orig = `<saml:AttributeValue>Execute Management Reports</saml:AttributeValue>
                <saml:AttributeValue>View non-ETP Clinical Data within CSA</saml:AttributeValue>
                <saml:AttributeValue>Manage Detailed Health Records</saml:AttributeValue>`
	if !bytes.Contains(doc, []byte(orig)) {
		t.Fatal("fixture changed: nhsBusinessFunctions values not found")
	}
	variants := `<saml:AttributeValue>Execute Management Reports</saml:AttributeValue>
                <saml:AttributeValue>View &amp; non-ETP&#x21;</saml:AttributeValue>
                <saml:AttributeValue >Manage</saml:AttributeValue >
                <saml:AttributeValue>A<!-- c -->B</saml:AttributeValue>
                <saml:AttributeValue></saml:AttributeValue>
                <saml:AttributeValue>  padded  </saml:AttributeValue>
                <saml:AttributeValue>C<![CDATA[<D>]]></saml:AttributeValue>
                <saml:AttributeValue xmlns:q="urn:x">Q</saml:AttributeValue>
                <saml:AttributeValue>Ünïcode</saml:AttributeValue>
                <saml:AttributeValue/>
                <saml:AttributeValue>Last</saml:AttributeValue>`
	vdoc := bytes.Replace(doc, []byte(orig), []byte(variants), 1)
	a, err := ParseRoleAssertion(vdoc)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := parseRoleAssertion(vdoc, true); err != nil || !reflect.DeepEqual(a, g) {
		t.Errorf("without the value shortcut: %v, %+v", err, g)
	}
	want := []string{"Execute Management Reports", "View & non-ETP!", "Manage", "AB", "padded", "C<D>", "Q", "Ünïcode", "Last"}
	if got := a.User.Roles[0].ActivityNames; !slices.Equal(got, want) {
		t.Errorf("ActivityNames %q, want %q", got, want)
	}
	// The first value of an attribute may take the shortcut too, after a
	// value of an earlier attribute (here the fixture's nhsIdCode, o, …).
	for _, first := range []string{
		`<saml:AttributeValue>View &amp; non-ETP&#x21;</saml:AttributeValue>`,
		`<saml:AttributeValue>  padded  </saml:AttributeValue>`,
		`<saml:AttributeValue></saml:AttributeValue>`,
		`<saml:AttributeValue xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion">Declared</saml:AttributeValue>`,
	} {
		parseBothWays(t, "first value "+first, bytes.Replace(doc, []byte(orig), []byte(first+"\n                "+orig), 1))
	}
	for _, bad := range []string{
		"<saml:AttributeValue>bad\x01</saml:AttributeValue>",
		"<saml:AttributeValue>bad]]></saml:AttributeValue>",
		"<saml:AttributeValue>&bad;</saml:AttributeValue>",
		"<saml:AttributeValue>\xff</saml:AttributeValue>",
		"<saml:AttributeValue>x</saml:AttributeValu>",
		"<saml:AttributeValue>x</saml:AttributeValueX>",
		"<saml:AttributeValue>x<saml:AttributeValue>y</saml:AttributeValue></saml:AttributeValue>",
		"<saml:AttributeValues>x</saml:AttributeValues>",
		"<samlx:AttributeValue>x</samlx:AttributeValue>",
	} {
		// As a later value and as the first (see above).
		for _, v := range []string{"<saml:AttributeValue>one</saml:AttributeValue>\n                " + bad, bad} {
			_, err := ParseRoleAssertion(bytes.Replace(doc, []byte(orig), []byte(v), 1))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%q: err = %v, want ErrMalformed", v, err)
			}
		}
	}
	many := strings.Repeat("<saml:AttributeValue>v</saml:AttributeValue>\n", maxAttributeValues+1)
	_, err = ParseRoleAssertion(bytes.Replace(doc, []byte(orig), []byte(many), 1))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "more than") {
		t.Errorf("%d values: err = %v, want the value limit", maxAttributeValues+1, err)
	}
}

// TestAttributeKind: every dictionary name maps to its kind, near misses to
// none.
func TestAttributeKind(t *testing.T) {
	for k := attrUnknown + 1; k < attrKinds; k++ {
		if got := attributeKind(k.String()); got != k {
			t.Errorf("attributeKind(%q) = %v", k.String(), got)
		}
		name := k.String()
		for _, miss := range []string{strings.ToUpper(name), name[:len(name)-1] + "x", name + "s", "x" + name[1:]} {
			if got := attributeKind(miss); got != attrUnknown {
				t.Errorf("attributeKind(%q) = %v, want unknown", miss, got)
			}
		}
	}
	for _, miss := range []string{"", "(unknown)", "nhsIdCodes", "nhsXreaOfWork", "nhsOrgXloseDate"} {
		if got := attributeKind(miss); got != attrUnknown {
			t.Errorf("attributeKind(%q) = %v, want unknown", miss, got)
		}
	}
}

// TestParseRoleAssertionAttributeVariants: saml:Attribute start tags written
// in ways the shortcut for attributes written like the one before does not
// take give the same result as the general path, and errors in them are
// still found.
func TestParseRoleAssertionAttributeVariants(t *testing.T) {
	doc := readFixture(t, "single-role.xml")
	const orig = `<saml:Attribute AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.com">`
	if !bytes.Contains(doc, []byte(orig)) {
		t.Fatal("fixture changed: nhsJobRoleCode attribute not found")
	}
	for _, ok := range []string{
		`<saml:Attribute AttributeName="nhsJobRole&#67;ode" AttributeNamespace="http://www.syntegra.com">`,
		`<saml:Attribute AttributeName='nhsJobRoleCode' AttributeNamespace="http://www.syntegra.com">`,
		`<saml:Attribute  AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.com" >`,
		`<saml:Attribute AttributeNamespace="http://www.syntegra.com" AttributeName="nhsJobRoleCode">`,
		`<saml:Attribute AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.com" xmlns:x="urn:x">`,
		`<saml:Attribute xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion" AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.com">`,
	} {
		if a := parseBothWays(t, ok, bytes.Replace(doc, []byte(orig), []byte(ok), 1)); a != nil && a.User.Roles[0].JobRoleCode == "" {
			t.Errorf("%s: JobRoleCode lost", ok)
		}
	}
	for _, bad := range []string{
		`<saml:Attribute AttributeName="" AttributeNamespace="http://www.syntegra.com">`,
		`<saml:Attribute AttributeName="a<b" AttributeNamespace="http://www.syntegra.com">`,
		"<saml:Attribute AttributeName=\"a\x01b\" AttributeNamespace=\"http://www.syntegra.com\">",
		`<saml:Attribute AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.org">`,
		`<saml:Attribute AttributeName="nhsJobRoleCode" AttributeName="x" AttributeNamespace="http://www.syntegra.com">`,
		`<saml:Attribute AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.com"/>`,
		`<saml:Attributes AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.com">`,
		`<samlx:Attribute AttributeName="nhsJobRoleCode" AttributeNamespace="http://www.syntegra.com">`,
		`<saml:Attribute AttributeName="uid" AttributeNamespace="http://www.syntegra.com">`,
	} {
		_, err := ParseRoleAssertion(bytes.Replace(doc, []byte(orig), []byte(bad), 1))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", bad, err)
		}
	}
}

// TestParseRoleAssertionCopiesStrings: the result shares no memory with the
// input, which callers may reuse: overwriting the input after the parse
// changes nothing in it.
func TestParseRoleAssertionCopiesStrings(t *testing.T) {
	for _, name := range []string{"single-role.xml", "forty-roles.xml", "rare-attributes.xml"} {
		doc := readFixture(t, name)
		buf := bytes.Clone(doc)
		a, err := ParseRoleAssertion(buf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range buf {
			buf[i] = 'x'
		}
		// Another parse in between must not disturb the first result either.
		if _, err := ParseRoleAssertion(readFixture(t, "two-roles-selected-last.xml")); err != nil {
			t.Fatal(err)
		}
		want, err := ParseRoleAssertion(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, want) {
			t.Errorf("%s: result changed with the input buffer:\n%+v\nwant\n%+v", name, a, want)
		}
	}
}

// parseBothWays parses doc with and without the shortcuts, reports an
// error or a difference, and returns the result (nil on error).
func parseBothWays(t *testing.T, label string, doc []byte) *Assertion {
	t.Helper()
	a, err := ParseRoleAssertion(doc)
	if err != nil {
		t.Errorf("%s: %v", label, err)
		return nil
	}
	if g, err := parseRoleAssertion(doc, true); err != nil || !reflect.DeepEqual(a, g) {
		t.Errorf("%s: without the shortcuts: %v, %+v", label, err, g)
	}
	return a
}

// TestParseRoleAssertionTrimsXMLSpaceOnly: values lose leading and trailing
// XML white space (space, tab, CR, LF) and nothing else: a uid wrapped in
// NO-BREAK SPACE, NEL or EM SPACE, written as references or raw, is not a
// uid, and such a list value is kept as written.
func TestParseRoleAssertionTrimsXMLSpaceOnly(t *testing.T) {
	doc := readFixture(t, "single-role.xml")
	const uid, code = "<saml:AttributeValue>232871648514</saml:AttributeValue>", "<saml:AttributeValue>B0264</saml:AttributeValue>"
	for _, v := range []string{"&#160;232871648514&#x2003;", "\u00a0232871648514", "232871648514\u0085", "&#x85;232871648514", "\u2003232871648514"} {
		b := bytes.Replace(doc, []byte(uid), []byte("<saml:AttributeValue>"+v+"</saml:AttributeValue>"), 1)
		a, err := ParseRoleAssertion(b)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "uid") {
			t.Errorf("uid %q: %+v, %v; want a malformed uid", v, a, err)
		}
	}
	for v, want := range map[string]string{
		" \t\r\n B0264 \r\n":          "B0264",
		"&#160;B0264":                 "\u00a0B0264",
		"B0264&#x2003;":               "B0264\u2003",
		"\u0085B0264":                 "\u0085B0264",
		"&#32;&#9;B0264&#10;&#13;":    "B0264", // references to XML white space are XML white space
		"&#160; B0264 &#160;":         "\u00a0 B0264 \u00a0",
		"\t<![CDATA[ B0264 ]]>\n":     "B0264",
		"\u00a0<!-- c -->B0264\u00a0": "\u00a0B0264\u00a0",
	} {
		b := bytes.Replace(doc, []byte(code), []byte("<saml:AttributeValue>"+v+"</saml:AttributeValue>"), 1)
		a := parseBothWays(t, v, b)
		if a == nil {
			continue
		}
		if got := a.User.Roles[0].Activities; len(got) != 3 || got[2] != want {
			t.Errorf("%q: activities %q, want the last %q", v, got, want)
		}
	}
}
