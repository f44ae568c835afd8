package cis

import (
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func readGPFixture(t testing.TB, name string) []byte {
	t.Helper()
	return readTestdata(t, "gpobject", name)
}

func TestParseGPObjectFixtures(t *testing.T) {
	act, err := ParseGPObject(readGPFixture(t, "activate-response.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := act.Get("challenge"); got != "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0u" {
		t.Errorf("challenge = %q", got)
	}
	if p, ok := act.Lookup("ssp_url"); !ok || p.Value != "" {
		t.Errorf("ssp_url = %+v, %v", p, ok)
	}
	if len(act.Params) != 14 {
		t.Errorf("%d params, want 14", len(act.Params))
	}

	req, err := ParseGPObject(readGPFixture(t, "activate-request-indented.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if req.Get("device_id") != "k3x9p0qa,ClientIP=192.168.1.23" || req.Get("service") != "ACTIVATION" {
		t.Errorf("indented request: %+v", req.Params)
	}

	crlf, err := ParseGPObject(readGPFixture(t, "validate-response-crlf-indented.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := crlf.Lookup("x_unknown"); p.Attr("ENCODING") != "none" || p.Value != "kept" {
		t.Errorf("unknown param = %+v", p)
	}
	roles, err := crlf.JobRoles()
	if err != nil {
		t.Fatal(err)
	}
	want := []LoginRole{
		{Index: 0, ID: "555000200001", OrgCode: "Y05826", OrgName: "ST. MARY'S SURGERY (DR SMITH & PARTNERS)", StaffGroup: "Admin & Clerical", SubGroup: "Admin & Clerical", JobRole: "Receptionist Access Role"},
		{Index: 1, ID: "555000200002", OrgCode: "RQM", OrgName: "CHELSEA AND WESTMINSTER HOSPITAL NHS FOUNDATION TRUST", StaffGroup: "Clinical", SubGroup: "Clinical Provision", JobRole: "Health Professional Access Role"},
	}
	if !reflect.DeepEqual(roles, want) {
		t.Errorf("roles =\n%+v\nwant\n%+v", roles, want)
	}
}

func TestParseGPObject40Roles(t *testing.T) {
	g, err := ParseGPObject(readGPFixture(t, "validate-response-40roles.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Get("cn") != `O'Brien-Müller Siân "Sam" Dr` {
		t.Errorf("cn = %q", g.Get("cn"))
	}
	roles, err := g.JobRoles()
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != 40 {
		t.Fatalf("%d roles", len(roles))
	}
	r := roles[2]
	if r.Index != 2 || r.ID != "555000100002" || r.OrgCode != "Y05826" || r.OrgName != "ST. MARY'S SURGERY (DR SMITH & PARTNERS)" ||
		r.StaffGroup != "Admin & Clerical" || r.SubGroup != "Admin & Clerical" || r.JobRole != "Medical Secretary Access Role" {
		t.Errorf("role 2 = %+v", r)
	}
	if r := roles[5]; r.OrgName != "THE DENSHAM SURGERY, LITTLE HARBOUR, STOCKTON" {
		t.Errorf("role 5 org = %q", r.OrgName)
	}
	if !strings.Contains(g.Get("sso_ticket"), "@AAJTSQACMDE=#") {
		t.Errorf("ticket not parsed")
	}
}

func TestParseGPObjectLenient(t *testing.T) {
	for _, tc := range []struct{ in, name, value string }{
		{`<gpOBJECT><gpPARAM name="a">Admin & Clerical</gpPARAM></gpOBJECT>`, "a", "Admin & Clerical"},
		{`<gpOBJECT><gpPARAM name="a">x &amp; y &lt;&gt;&quot;&apos; &#65;&#x42;</gpPARAM></gpOBJECT>`, "a", `x & y <>"' AB`},
		{`<gpOBJECT><gpPARAM name="a">&amp &foo; &#; &#xZZ; &#0; &</gpPARAM></gpOBJECT>`, "a", "&amp &foo; &#; &#xZZ; &#0; &"},
		{`<gpOBJECT><gpPARAM name='a' id = "1" >v</gpPARAM ></gpOBJECT>`, "a", "v"},
		{`<?xml version="1.0"?><!-- c --><!DOCTYPE USER PUBLIC "x" "y"><GPOBJECT><gpPARAM name="a"/></GPOBJECT><!-- end -->`, "a", ""},
		{"\xEF\xBB\xBF<gpOBJECT>\r\n  <gpPARAM name=\"a\">l1\r\nl2\rl3</gpPARAM>\r\n</gpOBJECT>\r\n", "a", "l1\nl2\nl3"},
		{`<gpOBJECT><gpPARAM name="a"><![CDATA[<b>&amp;</b>]]> tail</gpPARAM></gpOBJECT>`, "a", "<b>&amp;</b> tail"},
		{`<gpOBJECT><gpPARAM name="a">bad` + "\xff" + `utf8</gpPARAM></gpOBJECT>`, "a", "bad\uFFFDutf8"},
		{`<gpOBJECT><gpPARAM name="a" encoding="base64">QUJD</gpPARAM></gpOBJECT>`, "a", "QUJD"},
	} {
		g, err := ParseGPObject([]byte(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if p, ok := g.Lookup(tc.name); !ok || p.Value != tc.value {
			t.Errorf("%q: %s = %q, want %q", tc.in, tc.name, p.Value, tc.value)
		}
	}
}

func TestParseGPObjectGarbage(t *testing.T) {
	ok := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<gpOBJECT><gpPARAM name="a">1</gpPARAM></gpOBJECT>`
	for _, in := range []string{
		"",
		"   ",
		"not xml at all",
		ok[:len(ok)-5],  // truncated
		ok[:len(ok)-20], // truncated inside a param
		`<root><gpPARAM name="a">1</gpPARAM></root>`, // no gpOBJECT root
		`<gpOBJECT></gpOBJECT><gpOBJECT></gpOBJECT>`, // second root
		`<gpOBJECT></gpOBJECT>trailing`,
		`<gpOBJECT><gpPARAM name="a">1</gpOBJECT>`,                    // unterminated gpPARAM
		`<gpOBJECT><gpPARAM name="a">1</gpPARAM>`,                     // unterminated gpOBJECT
		`<gpOBJECT><gpPARAM name="a"`,                                 // unterminated tag
		`<gpOBJECT><gpPARAM name="a>1</gpPARAM></gpOBJECT>`,           // unterminated attribute
		`<gpOBJECT><gpPARAM name="a"><b>x</b></gpPARAM></gpOBJECT>`,   // nesting
		`<gpOBJECT><gpOBJECT></gpOBJECT></gpOBJECT>`,                  // nesting
		`<gpOBJECT><x/></gpOBJECT>`,                                   // unknown element
		`<gpOBJECT>text</gpOBJECT>`,                                   // stray text
		`<gpOBJECT><gpPARAM name="a" name="b">1</gpPARAM></gpOBJECT>`, // repeated attribute
		`<gpOBJECT><gpPARAM name>1</gpPARAM></gpOBJECT>`,
		`<gpOBJECT><gpPARAM name=a>1</gpPARAM></gpOBJECT>`,
		`<gpOBJECT><gpPARAM name="<">1</gpPARAM></gpOBJECT>`,
		`<!DOCTYPE USER [<!ENTITY x "boom">]><gpOBJECT><gpPARAM name="a">&x;</gpPARAM></gpOBJECT>`,
		`<!DOCTYPE USER SYSTEM "a.dtd" [<!ENTITY x SYSTEM "file:///etc/passwd">]><gpOBJECT/>`,
		`<!ENTITY x "y"><gpOBJECT/>`,
		`<!DOCTYPE USER SYSTEM "a"><!DOCTYPE USER SYSTEM "b"><gpOBJECT/>`,
		`<!DOCTYPE USER SYSTEM "a"`,
		`<gpOBJECT><!-- unterminated </gpOBJECT>`,
		`<gpOBJECT><gpPARAM name="a"><![CDATA[x</gpPARAM></gpOBJECT>`,
		"<gpOBJECT><gpPARAM name=\"a\">\x00</gpPARAM></gpOBJECT>",
		`<gpOBJECT/><?xml version="1.0"?>`,
		`<gpOBJECT></gpPARAM>`,
	} {
		g, err := ParseGPObject([]byte(in))
		var pe *ParseError
		if err == nil || !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %+v, %v; want *ParseError wrapping ErrMalformed", in, g, err)
		}
	}
	big := make([]byte, MaxGPObjectSize+1)
	if _, err := ParseGPObject(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

// TestParseGPObjectAttributeLimit: a reply of nearly MaxGPObjectSize holding
// one gpPARAM with ~37,000 distinct attributes is refused at the element's
// maxXMLAttrs+1st attribute, so the work done (the error's offset) is
// bounded by the limit, not by the document (the duplicate check compares
// each attribute with those before it); maxXMLAttrs attributes are fine.
func TestParseGPObjectAttributeLimit(t *testing.T) {
	// Three-character names, distinct even without regard to case.
	const first, rest = "abcdefghijklmnopqrstuvwxyz_", "abcdefghijklmnopqrstuvwxyz0123456789_-."
	attrs := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(" " + string(first[i%27]) + string(rest[i/27%39]) + string(rest[i/27/39%39]) + `=""`)
		}
		return b.String()
	}
	doc := func(n int) []byte {
		return []byte(`<gpOBJECT><gpPARAM name="a"` + attrs(n) + `>v</gpPARAM></gpOBJECT>`)
	}
	huge := doc(37000)
	if len(huge) > MaxGPObjectSize || len(huge) < MaxGPObjectSize-8<<10 {
		t.Fatalf("test document is %d bytes, want just under %d", len(huge), MaxGPObjectSize)
	}
	_, err := ParseGPObject(huge)
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "attributes") {
		t.Fatalf("err = %v, want a *ParseError about too many attributes", err)
	}
	// Refused where the limit is passed: 7 bytes per attribute from byte 27.
	if limit := int64(27 + 7*(maxXMLAttrs+1)); pe.Offset > limit {
		t.Errorf("refused at byte %d, want by byte %d", pe.Offset, limit)
	}
	// The name attribute and maxXMLAttrs-1 others: accepted.
	g, err := ParseGPObject(doc(maxXMLAttrs - 1))
	if err != nil || len(g.Params) != 1 || len(g.Params[0].Attrs) != maxXMLAttrs-1 {
		t.Fatalf("%d attributes: %v, %+v", maxXMLAttrs, err, g)
	}
	if _, err := ParseGPObject(doc(maxXMLAttrs)); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d attributes: %v", maxXMLAttrs+1, err)
	}
}

func TestEncodeGPObject(t *testing.T) {
	var g GPObject
	g.Add("auth_method", "3")
	g.Add("response", "QUJD\nREVG", Attr{Name: "encoding", Value: "base64"})
	g.Add(`we"ird<&>`, "Admin & Clerical 'x' <y> \t\r\n", Attr{Name: "id", Value: `"1"&`}, Attr{Name: "bad name", Value: "dropped"}, Attr{Name: "NAME", Value: "dropped"}, Attr{Name: "id", Value: "dup"})
	got := string(g.Encode(RequestDocType))
	want := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE USER SYSTEM "gpOBJECT.DTD">
<gpOBJECT>
<gpPARAM name="auth_method">3</gpPARAM>
<gpPARAM name="response" encoding="base64">QUJD&#xA;REVG</gpPARAM>
<gpPARAM name="we&quot;ird&lt;&amp;&gt;" id="&quot;1&quot;&amp;">Admin &amp; Clerical &apos;x&apos; &lt;y&gt; &#x9;&#xD;&#xA;</gpPARAM>
</gpOBJECT>
`
	if got != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
	back, err := ParseGPObject([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	g.Params[2].Attrs = g.Params[2].Attrs[:1]
	if !reflect.DeepEqual(back, &g) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, &g)
	}
	checkStdlibXML(t, []byte(got), &g)
	if s := string((&GPObject{}).Encode("")); s != "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpOBJECT>\n</gpOBJECT>\n" {
		t.Errorf("empty = %q", s)
	}
	if s := string((&GPObject{}).Encode(`a"b` + "\x00")); !strings.Contains(s, `SYSTEM "ab`+"\uFFFD"+`"`) {
		t.Errorf("doctype not sanitised: %q", s)
	}
}

// checkStdlibXML parses doc with encoding/xml, an independent reader, and
// compares what it sees with g.
func checkStdlibXML(t testing.TB, doc []byte, g *GPObject) {
	t.Helper()
	var v struct {
		XMLName xml.Name `xml:"gpOBJECT"`
		Params  []struct {
			Attrs []xml.Attr `xml:",any,attr"`
			Value string     `xml:",chardata"`
		} `xml:"gpPARAM"`
	}
	if err := xml.Unmarshal(doc, &v); err != nil {
		t.Fatalf("encoding/xml rejects Encode output: %v\n%s", err, doc)
	}
	if len(v.Params) != len(g.Params) {
		t.Fatalf("encoding/xml sees %d params, want %d", len(v.Params), len(g.Params))
	}
	for i, p := range v.Params {
		var got Param
		got.Value = p.Value
		for _, a := range p.Attrs {
			if a.Name.Local == "name" && a.Name.Space == "" {
				got.Name = a.Value
			} else {
				got.Attrs = append(got.Attrs, Attr{Name: a.Name.Local, Value: a.Value})
			}
		}
		if !reflect.DeepEqual(got, g.Params[i]) {
			t.Errorf("encoding/xml param %d = %+v, want %+v", i, got, g.Params[i])
		}
	}
}

func TestGPObjectAccessors(t *testing.T) {
	var nilObj *GPObject
	if nilObj.Get("x") != "" {
		t.Error("nil Get")
	}
	var g GPObject
	g.Add("a", "1")
	g.Add("a", "2")
	if g.Get("a") != "1" || g.Get("b") != "" {
		t.Error("Get returns the first")
	}
	if (Param{}).Attr("id") != "" {
		t.Error("Attr on no attrs")
	}
}

func TestEncodeLikeGAS(t *testing.T) {
	var g GPObject
	g.Add("nhsjobrole0", FormatJobRoleText("ST. MARY'S (A&E)", "Admin & Clerical", "x &amp; y", "R&D"), Attr{Name: "id", Value: "555000100001"}, Attr{Name: "orgcode", Value: "A&B"})
	g.Add("cn", `O'Brien "Sam" <Dr>`)
	out := string(g.EncodeLikeGAS("https://gas.example/login/dtd"))
	for _, want := range []string{
		`<!DOCTYPE USER SYSTEM "https://gas.example/login/dtd">`,
		`id="555000100001" orgcode="A&amp;B">ST. MARY'S (A&E), "Admin & Clerical":"x &amp;amp; y":"R&D"</gpPARAM>`,
		`<gpPARAM name="cn">O'Brien "Sam" &lt;Dr></gpPARAM>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("EncodeLikeGAS output lacks %s:\n%s", want, out)
		}
	}
	back, err := ParseGPObject([]byte(out))
	if err != nil || !reflect.DeepEqual(back, &g) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}
