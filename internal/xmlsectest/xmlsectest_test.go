package xmlsectest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// TestVerifyRefusesUnsigned: a document without the signature asked for
// does not verify (the positive cases are the SAML packages' tests).
func TestVerifyRefusesUnsigned(t *testing.T) {
	x := Require(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r1"/>`)
	for _, xpath := range []string{RootSignature, AssertionSignature} {
		if err := x.Verify(t, doc, cert, xpath); err == nil {
			t.Errorf("%s: an unsigned document verifies", xpath)
		}
	}
}
