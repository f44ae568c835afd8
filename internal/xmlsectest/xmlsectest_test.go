package xmlsectest

import (
	"testing"

	"github.com/opencis/cisauth/internal/samltest"
)

// TestVerifyRefusesUnsigned: a document without the signature asked for
// does not verify (the positive cases are the SAML packages' tests).
func TestVerifyRefusesUnsigned(t *testing.T) {
	x := Require(t)
	cert := samltest.SelfSigned(t, samltest.NewRSAKey(2048), "t")
	doc := []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1"/>`)
	for _, xpath := range []string{RootSignature, AssertionSignature} {
		if err := x.Verify(t, doc, cert, xpath); err == nil {
			t.Errorf("%s: an unsigned document verifies", xpath)
		}
	}
}
