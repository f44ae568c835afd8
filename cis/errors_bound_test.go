package cis

import (
	"bytes"
	"strings"
	"testing"
)

// maxTestErrorLen bounds the text of any parse error in the tests below and
// in the fuzz targets: names, URIs and values from the input are quoted
// only in part.
const maxTestErrorLen = 600

// checkErrorBounded fails t unless err is an error of at most
// maxTestErrorLen bytes.
func checkErrorBounded(t testing.TB, label string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error", label)
	case len(err.Error()) > maxTestErrorLen:
		t.Errorf("%s: error of %d bytes: %.200s…", label, len(err.Error()), err)
	}
}

// TestParseErrorsBounded: huge element names, prefixes, attribute names and
// namespace URIs, wherever a parser names them in an error, appear there
// cut short.
func TestParseErrorsBounded(t *testing.T) {
	huge := strings.Repeat("n", 200_000)
	hugeURI := "urn:" + strings.Repeat("é", 100_000)
	single := readFixture(t, "single-role.xml")
	at := func(old, new string) []byte {
		if !bytes.Contains(single, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(single, []byte(old), []byte(new), 1)
	}
	const status = `<samlp:StatusCode Value="samlp:Success"/>`
	for label, doc := range map[string][]byte{
		"root name":                []byte("<" + huge + "/>"),
		"root prefix":              []byte("<" + huge + ":Response xmlns:" + huge + `="urn:x"/>`),
		"root namespace":           []byte(`<Response xmlns="` + hugeURI + `"/>`),
		"first child":              at("<samlp:Status>", `<`+huge+` xmlns="`+hugeURI+`"/><samlp:Status>`),
		"unexpected element":       at("<saml:AttributeStatement>", `<q:`+huge+` xmlns:q="`+hugeURI+`"/><saml:AttributeStatement>`),
		"end tag":                  at("</samlp:Status>", "</"+huge+">"),
		"empty namespace":          at(status, `<x xmlns:`+huge+`=""/>`+status),
		"repeated attribute":       at(status, `<x `+huge+`="1" `+huge+`="2"/>`+status),
		"attribute in a namespace": at(`<saml:Attribute AttributeName="uid"`, `<saml:Attribute xmlns:q="urn:q" q:`+huge+`="1" AttributeName="uid"`),
		"undeclared prefix":        at(status, "<"+huge+":x/>"+status),
		"second root":              append(bytes.Clone(single), "<"+huge+"/>"...),
		"processing instruction":   at(status, "<?"+huge+"?>"+status),
		"AttributeName":            at(`AttributeName="uid"`, `AttributeName="`+huge+`"`),
		"AttributeNamespace":       at(`AttributeName="uid" AttributeNamespace="http://www.syntegra.com"`, `AttributeName="uid" AttributeNamespace="`+hugeURI+`"`),
		"time":                     at(`NotBefore="2026-11-26T10:27:51Z"`, `NotBefore="`+huge+`"`),
		"uid value":                at("<saml:AttributeValue>232871648514</saml:AttributeValue>", "<saml:AttributeValue>"+huge+"</saml:AttributeValue>"),
		"major version":            at(`MajorVersion="1" MinorVersion="1" AssertionID`, `MajorVersion="`+huge+`" MinorVersion="1" AssertionID`),
		"status code prefix":       at(status, `<samlp:StatusCode Value="`+huge+`:Success"/>`),
	} {
		_, err := ParseRoleAssertion(doc)
		checkErrorBounded(t, "RoleAssertion "+label, err)
	}

	huge = huge[:100_000] // twice in a gpOBJECT: still under MaxGPObjectSize
	param := func(s string) []byte { return []byte("<gpOBJECT>" + s + "</gpOBJECT>") }
	for label, doc := range map[string][]byte{
		"root name":               []byte("<" + huge + "/>"),
		"element":                 param("<" + huge + "/>"),
		"unterminated tag":        []byte("<gpOBJECT><" + huge),
		"malformed tag":           param("<gpPARAM" + huge[:10] + `"` + huge + `">`),
		"attribute without value": param(`<gpPARAM name="a" ` + huge + `>v</gpPARAM>`),
		"attribute not quoted":    param(`<gpPARAM name="a" ` + huge + `=v>v</gpPARAM>`),
		"unterminated attribute":  param(`<gpPARAM name="a" ` + huge + `="v>v</gpPARAM>`),
		"< in attribute":          param(`<gpPARAM name="a" ` + huge + `="<">v</gpPARAM>`),
		"repeated attribute":      param(`<gpPARAM name="a" ` + huge + `="1" ` + huge + `="2">v</gpPARAM>`),
		"end tag":                 param(`<gpPARAM name="a">v</` + huge + `>`),
		"too many attributes":     []byte("<gpOBJECT><" + huge + manyAttrs(maxXMLAttrs+1) + "/>"),
	} {
		_, err := ParseGPObject(doc)
		checkErrorBounded(t, "gpOBJECT "+label, err)
	}
	for label, name := range map[string]string{"index": "nhsjobrole" + huge, "zeros": "nhsjobrole" + strings.Repeat("0", 200_000) + "1"} {
		_, err := (&GPObject{Params: []Param{{Name: name, Value: "ORG only", Attrs: []Attr{{"id", "1"}}}}}).JobRoles()
		checkErrorBounded(t, "JobRoles "+label, err)
	}
}

// manyAttrs returns n distinct attributes.
func manyAttrs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a" + strings.Repeat("x", i) + `="1"`)
	}
	return b.String()
}
