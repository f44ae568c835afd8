package samlidp

import (
	"slices"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/opencis/cisauth/internal/samltest"
)

// parseXML reads a document for the tests to look into.
func parseXML(t testing.TB, b []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

func attr(t testing.TB, el *etree.Element, path, name string) string {
	t.Helper()
	e := el.FindElement(path)
	if e == nil {
		t.Fatalf("no %s in %s", path, el.Tag)
		return ""
	}
	return e.SelectAttrValue(name, "")
}

func text(t testing.TB, el *etree.Element, path string) string {
	t.Helper()
	e := el.FindElement(path)
	if e == nil {
		t.Fatalf("no %s in %s", path, el.Tag)
		return ""
	}
	return e.Text()
}

// checkSignatureAlgorithms checks the ds:Signature child of el: RSA-SHA256
// over exclusive c14n, SHA-256 digests, one reference, to el itself.
func checkSignatureAlgorithms(t testing.TB, el *etree.Element) {
	t.Helper()
	sig := el.SelectElement("Signature")
	if sig == nil {
		t.Fatalf("%s is not signed", el.Tag)
	}
	if got := attr(t, sig, "./SignedInfo/SignatureMethod", "Algorithm"); got != dsig.RSASHA256SignatureMethod {
		t.Errorf("%s SignatureMethod %s", el.Tag, got)
	}
	refs := sig.FindElements("./SignedInfo/Reference")
	if len(refs) != 1 || refs[0].SelectAttrValue("URI", "") != "#"+el.SelectAttrValue("ID", "?") {
		t.Errorf("%s signature does not reference the element itself", el.Tag)
	}
	for _, dm := range sig.FindElements(".//DigestMethod") {
		if got := dm.SelectAttrValue("Algorithm", ""); got != "http://www.w3.org/2001/04/xmlenc#sha256" {
			t.Errorf("%s DigestMethod %s", el.Tag, got)
		}
	}
}

// TestAssertionContents looks at every field of a plain assertion the
// issue asks for, at a known time, and has samlsp accept it.
func TestAssertionContents(t *testing.T) {
	clock := newTestClock()
	sp := samltest.NewSP(t, samltest.SPOptions{Key: ecKey(), Clock: dsigClock(clock.Now)}) // no encryption key
	ti := newTestIdP(t, clock, nil, sp)
	b := samltest.NewBrowser(t)
	ti.signIn(b, drSmith.UID)
	req := authnRequest(t, ti, sp)
	x := responseXML(t, b, ti, sp, req, "")
	now := clock.Now()
	acs := sp.Middleware.ServiceProvider.AcsURL
	entityID := ti.srv.URL + MetadataPath
	at := func(d time.Duration) string { return now.Add(d).UTC().Format("2006-01-02T15:04:05.999Z07:00") }

	resp := parseXML(t, x)
	checkSignatureAlgorithms(t, resp)
	for _, c := range []struct{ name, got, want string }{
		{"Response Destination", resp.SelectAttrValue("Destination", ""), acs.String()},
		{"Response InResponseTo", resp.SelectAttrValue("InResponseTo", ""), req.ID},
		{"Response IssueInstant", resp.SelectAttrValue("IssueInstant", ""), at(0)},
		{"Response Issuer", text(t, resp, "./Issuer"), entityID},
		{"status", attr(t, resp, "./Status/StatusCode", "Value"), saml.StatusSuccess},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if n := len(resp.SelectElements("Assertion")); n != 1 || resp.SelectElement("EncryptedAssertion") != nil {
		t.Fatalf("%d plain assertions, want 1 and no encrypted one", n)
	}
	a := resp.SelectElement("Assertion")
	checkSignatureAlgorithms(t, a)
	for _, c := range []struct{ name, got, want string }{
		{"Issuer", text(t, a, "./Issuer"), entityID},
		{"IssueInstant", a.SelectAttrValue("IssueInstant", ""), at(0)},
		{"NameID", text(t, a, "./Subject/NameID"), drSmith.UID},
		{"NameID Format", attr(t, a, "./Subject/NameID", "Format"), string(saml.UnspecifiedNameIDFormat)},
		{"confirmation method", attr(t, a, "./Subject/SubjectConfirmation", "Method"), "urn:oasis:names:tc:SAML:2.0:cm:bearer"},
		{"Recipient", attr(t, a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "Recipient"), acs.String()},
		{"InResponseTo", attr(t, a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "InResponseTo"), req.ID},
		{"confirmation NotOnOrAfter", attr(t, a, "./Subject/SubjectConfirmation/SubjectConfirmationData", "NotOnOrAfter"), at(DefaultAssertionLifetime - DefaultClockSkew)},
		{"NotBefore", attr(t, a, "./Conditions", "NotBefore"), at(-DefaultClockSkew)},
		{"NotOnOrAfter", attr(t, a, "./Conditions", "NotOnOrAfter"), at(DefaultAssertionLifetime - DefaultClockSkew)},
		{"Audience", text(t, a, "./Conditions/AudienceRestriction/Audience"), sp.Middleware.ServiceProvider.Metadata().EntityID},
		{"AuthnContextClassRef", text(t, a, "./AuthnStatement/AuthnContext/AuthnContextClassRef"), authnContextSmartcardPKI},
		{"SessionNotOnOrAfter", attr(t, a, "./AuthnStatement", "SessionNotOnOrAfter"), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	got := map[string][]string{}
	for _, at := range a.FindElements("./AttributeStatement/Attribute") {
		if at.SelectAttrValue("NameFormat", "") != attrNameFormatBasic || at.SelectAttrValue("FriendlyName", "") != at.SelectAttrValue("Name", "") {
			t.Errorf("attribute %s: NameFormat %q FriendlyName %q", at.SelectAttrValue("Name", ""), at.SelectAttrValue("NameFormat", ""), at.SelectAttrValue("FriendlyName", ""))
		}
		for _, v := range at.SelectElements("AttributeValue") {
			got[at.SelectAttrValue("Name", "")] = append(got[at.SelectAttrValue("Name", "")], v.Text())
		}
	}
	want := map[string][]string{
		"nhsid_useruid": {"555000000001"}, "name": {"SMITH John Dr"}, "selected_roleid": {"555000000101"},
		"org_code": {"RX1"}, "role_code": {"S8000:G8000:R8003"}, "activity_codes": {"B0264", "B0360", "B0011"},
	}
	if len(got) != len(want) {
		t.Errorf("attributes %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}

	// The SP, on the same clock, accepts it.
	assertion, err := sp.Middleware.ServiceProvider.ParseXMLResponse(x, []string{req.ID}, acs)
	if err != nil {
		t.Fatalf("samlsp refuses the response: %v", privateErr(err))
	}
	if assertion.Subject.NameID.Value != drSmith.UID {
		t.Errorf("samlsp NameID %q", assertion.Subject.NameID.Value)
	}
}

// privateErr digs out the cause crewjam hides behind "Authentication
// failed".
func privateErr(err error) error {
	if ire, ok := err.(*saml.InvalidResponseError); ok {
		return ire.PrivateErr
	}
	return err
}

// TestAssertionLifetimeBounded: the validity window is the configured
// lifetime, whatever it is; SessionNotOnOrAfter when asked for.
func TestAssertionLifetimeBounded(t *testing.T) {
	for _, tc := range []struct{ lifetime, skew, spSession, wantSkew time.Duration }{
		{20 * time.Second, 2 * time.Second, 0, 2 * time.Second},
		{10 * time.Minute, 30 * time.Second, 8 * time.Hour, 30 * time.Second},
		{10 * time.Minute, 0, 0, DefaultClockSkew},
		{8 * time.Second, 0, 0, 2 * time.Second}, // the default skew, capped at a quarter
	} {
		clock := newTestClock()
		sp := samltest.NewSP(t, samltest.SPOptions{Key: ecKey(), Clock: dsigClock(clock.Now)})
		ti := newTestIdP(t, clock, func(c *Config) {
			c.AssertionLifetime, c.ClockSkew, c.SPSessionLifetime = tc.lifetime, tc.skew, tc.spSession
		}, sp)
		b := samltest.NewBrowser(t)
		ti.signIn(b, drSmith.UID)
		a := parseXML(t, responseXML(t, b, ti, sp, authnRequest(t, ti, sp), "")).SelectElement("Assertion")
		parse := func(path, name string) time.Time {
			v, err := time.Parse(time.RFC3339Nano, attr(t, a, path, name))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		issued := parse(".", "IssueInstant")
		notBefore := parse("./Conditions", "NotBefore")
		notOnOrAfter := parse("./Conditions", "NotOnOrAfter")
		confirmEnd := parse("./Subject/SubjectConfirmation/SubjectConfirmationData", "NotOnOrAfter")
		if !issued.Equal(clock.Now()) || issued.Sub(notBefore) != tc.wantSkew {
			t.Errorf("%v: issued %s, not before %s", tc, issued, notBefore)
		}
		if w := notOnOrAfter.Sub(notBefore); w != tc.lifetime {
			t.Errorf("%v: validity window %s, want %s", tc, w, tc.lifetime)
		}
		if confirmEnd.After(notOnOrAfter) {
			t.Errorf("%v: subject confirmation ends %s, after the conditions %s", tc, confirmEnd, notOnOrAfter)
		}
		if tc.spSession > 0 {
			if end := parse("./AuthnStatement", "SessionNotOnOrAfter"); !end.Equal(issued.Add(tc.spSession)) {
				t.Errorf("%v: SessionNotOnOrAfter %s", tc, end)
			}
		}
	}
}

// TestEncryptedOnlyWhenOffered: an SP whose metadata offers an encryption
// key gets an encrypted assertion, with the bridge's one suite, that samlsp
// decrypts; one that does not gets it plain.
func TestEncryptedOnlyWhenOffered(t *testing.T) {
	rsaSP := samltest.NewSP(t, samltest.SPOptions{})
	ecSP := samltest.NewSP(t, samltest.SPOptions{Key: ecKey()})
	ti := newTestIdP(t, nil, nil, rsaSP, ecSP)
	if !ti.cfg.ServiceProviders[0].Encrypted() || ti.cfg.ServiceProviders[1].Encrypted() {
		t.Fatal("Encrypted() does not follow the metadata")
	}
	b := samltest.NewBrowser(t)
	ti.signIn(b, drSmith.UID)

	req := authnRequest(t, ti, rsaSP)
	x := responseXML(t, b, ti, rsaSP, req, "")
	resp := parseXML(t, x)
	if resp.SelectElement("Assertion") != nil || resp.SelectElement("EncryptedAssertion") == nil {
		t.Fatal("want an EncryptedAssertion and no plain one")
	}
	enc := resp.SelectElement("EncryptedAssertion")
	for _, c := range []struct{ path, want string }{
		{"./EncryptedData/EncryptionMethod", algBlockCipher},
		{".//EncryptedKey/EncryptionMethod", algKeyTransport},
		{".//EncryptedKey/EncryptionMethod/DigestMethod", "http://www.w3.org/2001/04/xmlenc#sha256"},
		{".//EncryptedKey/EncryptionMethod/MGF", "http://www.w3.org/2009/xmlenc11#mgf1sha256"},
	} {
		if got := attr(t, enc, c.path, "Algorithm"); got != c.want {
			t.Errorf("%s Algorithm %s, want %s", c.path, got, c.want)
		}
	}
	assertion, err := rsaSP.Middleware.ServiceProvider.ParseXMLResponse(x, []string{req.ID}, rsaSP.Middleware.ServiceProvider.AcsURL)
	if err != nil {
		t.Fatalf("samlsp cannot use the encrypted response: %v", privateErr(err))
	}
	if assertion.Subject.NameID.Value != drSmith.UID {
		t.Errorf("decrypted NameID %q", assertion.Subject.NameID.Value)
	}

	resp = parseXML(t, responseXML(t, b, ti, ecSP, authnRequest(t, ti, ecSP), ""))
	if resp.SelectElement("Assertion") == nil || resp.SelectElement("EncryptedAssertion") != nil {
		t.Error("SP without an encryption key: want a plain assertion")
	}
}
