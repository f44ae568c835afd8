package samlidp

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencis/cisauth/internal/samltest"
)

func readMetadataFixture(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sp-metadata.xml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseServiceProvider(t *testing.T) {
	sp, err := LoadServiceProvider(filepath.Join("testdata", "sp-metadata.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if sp.EntityID() != "https://sp.example.nhs.uk/saml/metadata" || !sp.Encrypted() {
		t.Errorf("EntityID %q, Encrypted %v", sp.EntityID(), sp.Encrypted())
	}
	if want := []string{"https://sp.example.nhs.uk/saml/acs", "https://sp.example.nhs.uk/other/acs"}; !slices.Equal(sp.ACSURLs(), want) {
		t.Errorf("ACSURLs %q, want %q (the HTTP-Artifact one is never posted to)", sp.ACSURLs(), want)
	}
	if _, err := LoadServiceProvider(filepath.Join("testdata", "none.xml")); !errors.Is(err, ErrBadMetadata) || !strings.Contains(err.Error(), "none.xml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestParseServiceProviderRefuses: every way the metadata check refuses a
// document, each with an error that says where.
func TestParseServiceProviderRefuses(t *testing.T) {
	base := readMetadataFixture(t)
	const (
		acsPost = `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.nhs.uk/saml/acs" index="0" isDefault="true"/>`
		encMeth = `<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"/>`
		root    = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`
		spsso   = `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true" WantAssertionsSigned="true">`
		signKD  = `<md:KeyDescriptor use="signing">`
		encKD   = `<md:KeyDescriptor use="encryption">`
		orgOpen = `<md:Organization>`
	)
	weakCert := base64.StdEncoding.EncodeToString(samltest.SelfSigned(t, rsaWeak(), "weak").Raw)
	ecCert := base64.StdEncoding.EncodeToString(samltest.SelfSigned(t, ecKey(), "ec").Raw)
	certOf := func(kd string) string {
		i := strings.Index(base, kd)
		s := base[i:]
		s = s[strings.Index(s, "<ds:X509Certificate>")+len("<ds:X509Certificate>"):]
		return s[:strings.Index(s, "<")]
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("fixture has no %q", old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	nested := strings.Repeat("<x:a xmlns:x=\"urn:x\">", 40) + strings.Repeat("</x:a>", 40)
	for _, tc := range []struct {
		name string
		edit func(string) string
		want string
	}{
		{"DOCTYPE", replace("<!-- A service", "<!DOCTYPE md:EntityDescriptor><!-- A service"), "DOCTYPE"},
		{"entity", replace("<!-- A service", `<!DOCTYPE x [<!ENTITY e "https://evil.example/acs">]><!-- A service`), "DOCTYPE"},
		{"two roots", func(s string) string { return s + root + ` entityID="x"/>` }, "more than one root"},
		{"text after root", func(s string) string { return s + "hello" }, "text outside"},
		{"EntitiesDescriptor", func(string) string {
			return `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + strings.SplitN(base, "-->", 2)[1] + `</md:EntitiesDescriptor>`
		}, "root element is md:EntitiesDescriptor"},
		{"root in no namespace", replace(root, `<md:EntityDescriptor xmlns:md="urn:evil"`), "want md:EntityDescriptor"},
		{"processing instruction", replace(spsso, spsso+`<?evil x?>`), "processing instruction"},
		{"not UTF-8", replace(`encoding="UTF-8"`, `encoding="ISO-8859-1"`), "ISO-8859-1"},
		{"foreign ACS", replace(acsPost, `<evil:AssertionConsumerService xmlns:evil="urn:evil" Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://evil.example/acs" index="9"/>`+acsPost), "{urn:evil}AssertionConsumerService is not allowed in md:SPSSODescriptor"},
		{"foreign X509Data", replace(`<ds:X509Data>`, `<evil:X509Data xmlns:evil="urn:evil"><ds:X509Certificate>AAAA</ds:X509Certificate></evil:X509Data><ds:X509Data>`), "not allowed in ds:KeyInfo"},
		{"foreign X509Certificate", replace(`<ds:X509Data>`, `<ds:X509Data><evil:X509Certificate xmlns:evil="urn:evil">AAAA</evil:X509Certificate>`), "not allowed in ds:X509Data"},
		{"qualified Location", replace(`Location="https://sp.example.nhs.uk/saml/acs" index="0"`, `Location="https://sp.example.nhs.uk/saml/acs" xmlns:evil="urn:evil" evil:Location="https://evil.example/acs" index="0"`), "attribute {urn:evil}Location is not allowed"},
		{"repeated attribute", replace(`index="0" isDefault="true"`, `index="0" isDefault="true" Location="https://evil.example/acs"`), "attribute Location repeated"},
		{"repeated attribute among many", replace(`index="0" isDefault="true"`, `index="0" isDefault="true" a="1" b="2" c="3" d="4" e="5" f="6" Location="https://evil.example/acs"`), "attribute Location repeated"},
		{"two KeyInfo", replace(signKD+"\n      <ds:KeyInfo>", signKD+"<ds:KeyInfo/>\n      <ds:KeyInfo>"), "more than one ds:KeyInfo"},
		{"two Organization", replace(orgOpen, `<md:Organization><md:OrganizationName xml:lang="en">x</md:OrganizationName></md:Organization>`+orgOpen), "more than one md:Organization"},
		{"too deep", replace(`<mdui:UIInfo>`, nested+`<mdui:UIInfo>`), "nested more than"},
		{"no HTTP-POST ACS", func(s string) string {
			return strings.ReplaceAll(s, `bindings:HTTP-POST" Location`, `bindings:HTTP-Artifact" Location`)
		}, "no AssertionConsumerService with the HTTP-POST binding"},
		{"plain http ACS", replace("https://sp.example.nhs.uk/saml/acs\" index=\"0\"", "http://sp.example.nhs.uk/saml/acs\" index=\"0\""), "plain http only to a loopback host"},
		{"ACS with fragment", replace("https://sp.example.nhs.uk/saml/acs\" index=\"0\"", "https://sp.example.nhs.uk/saml/acs#x\" index=\"0\""), "fragment"},
		{"ACS not https", replace("https://sp.example.nhs.uk/saml/acs\" index=\"0\"", "javascript:alert(1)\" index=\"0\""), "invalid url scheme"},
		{"same ACS index", replace(`index="2"`, `index="0"`), "two AssertionConsumerService elements have index 0"},
		{"weak encryption key", replace(certOf(encKD), weakCert), "1024 bits"},
		{"weak signing key", replace(certOf(signKD), weakCert), "1024 bits"},
		{"EC encryption key", replace(certOf(encKD), ecCert), "want RSA"},
		{"bad certificate", replace(certOf(signKD), "AAAA"+certOf(signKD)[4:]), "certificate"},
		{"mgf1p only", replace(encMeth, `<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>`), "rsa-oaep-mgf1p but not http://www.w3.org/2009/xmlenc11#rsa-oaep"},
		{"CBC only", replace(encMeth, `<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>`), "aes256-cbc but not http://www.w3.org/2009/xmlenc11#aes256-gcm"},
		{"use both", replace(signKD, `<md:KeyDescriptor use="both">`), `use "both"`},
		{"signed requests, no signing key", func(s string) string {
			i, j := strings.Index(s, signKD), strings.Index(s, encKD)
			return s[:i] + s[j:]
		}, `AuthnRequestsSigned="true" but no signing key`},
		{"two SPSSODescriptors", replace(orgOpen, spsso+acsPost+`</md:SPSSODescriptor>`+orgOpen), "2 SPSSODescriptor elements"},
		{"no SPSSODescriptor", func(s string) string {
			return strings.ReplaceAll(s, "SPSSODescriptor", "IDPSSODescriptor")
		}, "0 SPSSODescriptor elements"},
		{"not SAML 2.0", replace(`protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned`, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol" AuthnRequestsSigned`), "does not list SAML 2.0"},
		{"no entityID", replace(`entityID="https://sp.example.nhs.uk/saml/metadata"`, ``), "no entityID"},
		{"entityID with space", replace(`entityID="https://sp.example.nhs.uk/saml/metadata"`, `entityID="https://sp.example.nhs.uk/saml/ metadata"`), "white space"},
		{"entityID too long", replace(`entityID="https://sp.example.nhs.uk/saml/metadata"`, `entityID="https://sp.example.nhs.uk/`+strings.Repeat("a", 1100)+`"`), "longer than 1024"},
		{"too large", replace("</md:EntityDescriptor>", "<!--"+strings.Repeat("x", MaxMetadataSize)+"--></md:EntityDescriptor>"), "larger than"},
		{"not XML", func(string) string { return "{\"entityID\": \"x\"}" }, "text outside"},
		{"empty", func(string) string { return "" }, "no root element"},
		{"truncated", func(s string) string { return s[:len(s)/2] }, "unexpected EOF"},
	} {
		doc := tc.edit(base)
		sp, err := ParseServiceProvider([]byte(doc))
		switch {
		case err == nil:
			t.Errorf("%s: accepted", tc.name)
		case sp != nil:
			t.Errorf("%s: a ServiceProvider with an error", tc.name)
		case !errors.Is(err, ErrBadMetadata):
			t.Errorf("%s: %v does not match ErrBadMetadata", tc.name, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %q does not say %q", tc.name, err, tc.want)
		}
	}
}
