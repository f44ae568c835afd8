// Package xmlsectest runs xmlsec1 (Debian package xmlsec1), an XML
// Signature implementation independent of goxmldsig, as the referee of the
// SAML signatures the tests make. Require finds it: outside `make test` a
// test without it is skipped, under `make test` (CISAUTH_MAKE_TEST=1), which
// installs it, the test fails. Verify checks one signature with one
// certificate's key.
//
// It is for tests only.
package xmlsectest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EnvMakeTest is "1" under make test: no skipping.
const EnvMakeTest = "CISAUTH_MAKE_TEST"

// XPath expressions for Verify: which signature of a SAML 2.0 document.
const (
	// RootSignature is the root element's own: a Response's, or a lone
	// (decrypted) Assertion's.
	RootSignature = "/*/*[local-name()='Signature']"
	// AssertionSignature is that of the Assertion in a Response.
	AssertionSignature = "/*/*[local-name()='Assertion']/*[local-name()='Signature']"
)

// XMLSec1 is the xmlsec1 command.
type XMLSec1 struct{ path string }

// Require returns xmlsec1; without it the test is skipped, or fails under
// make test.
func Require(t testing.TB) *XMLSec1 {
	t.Helper()
	p, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv(EnvMakeTest) == "1" {
			t.Fatal("xmlsec1 missing under make test (Debian package xmlsec1)")
		}
		t.Skip("xmlsec1 not installed (Debian package xmlsec1); make test installs it")
	}
	return &XMLSec1{path: p}
}

// Verify has xmlsec1 verify the signature at xpath in doc with the RSA key
// of cert and nothing else: a certificate or key in the document's KeyInfo
// is not used, references must point into the document, and the ID
// attributes are those of SAML 2.0 Responses and Assertions. It returns
// xmlsec1's complaint if the signature does not verify.
func (x *XMLSec1) Verify(t testing.TB, doc []byte, cert *x509.Certificate, xpath string) error {
	t.Helper()
	dir := t.TempDir()
	docPath, certPath := filepath.Join(dir, "doc.xml"), filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(docPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), x.path, "--verify",
		"--enabled-key-data", "rsa", "--pubkey-cert-pem", certPath,
		"--enabled-reference-uris", "same-doc",
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
		"--node-xpath", xpath, docPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("xmlsec1: %v: %s", err, out)
	}
	return nil
}
