package cis

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	testCardOnce sync.Once
	testCardKey  *rsa.PrivateKey
	testCardCert *x509.Certificate
)

// testCard returns an RSA-2048 key and a card-like certificate for it:
// subject O=nhs, OU=people, CN=555000000001, issued by a test sub CA, no
// critical extension. Made once per test binary.
func testCard(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	testCardOnce.Do(func() {
		caKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testCardKey = key
		testCardCert = makeCert(caKey, key, "555000000001", 0x1234567)
	})
	return testCardKey, testCardCert
}

// makeCert issues a card certificate for key's public half, signed by caKey.
func makeCert(caKey, key *rsa.PrivateKey, cn string, serial int64) *x509.Certificate {
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"CA"}, CommonName: "SubCA Test"},
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"people"}, CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		// keyUsage digitalSignature, not critical (Go marks its own critical).
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 15},
			Value: wireMust(asn1.Marshal(asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}))}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	for _, e := range c.Extensions {
		if e.Critical {
			panic("test card certificate has a critical extension")
		}
	}
	return c
}

// needOpenSSL returns the openssl path, skipping the test without it
// (failing under CISAUTH_MAKE_TEST=1).
func needOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CISAUTH_MAKE_TEST") == "1" {
			t.Fatal("openssl missing under make test")
		}
		t.Skip("openssl not installed")
	}
	return p
}

func runOpenSSL(t *testing.T, openssl string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(openssl, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

func TestSignChallengeStructure(t *testing.T) {
	key, cert := testCard(t)
	content := bytes.Repeat([]byte{0xA5}, 48)
	der, err := SignChallenge(context.Background(), key, cert, content, crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content struct {
			Version int
			Digests []pkix.AlgorithmIdentifier `asn1:"set"`
			Encap   struct {
				Type    asn1.ObjectIdentifier
				Content []byte `asn1:"explicit,tag:0"`
			}
			Certs asn1.RawValue `asn1:"tag:0"`
			SIs   []struct {
				Version int
				SID     struct {
					Issuer asn1.RawValue
					Serial *big.Int
				}
				DigestAlg pkix.AlgorithmIdentifier
				SigAlg    pkix.AlgorithmIdentifier
				Sig       []byte
			} `asn1:"set"`
		} `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 {
		t.Fatalf("not DER ContentInfo: %v", err)
	}
	sd := ci.Content
	null := []byte{5, 0}
	switch {
	case !ci.Type.Equal(oidSignedData), sd.Version != 1, len(sd.Digests) != 1, !sd.Digests[0].Algorithm.Equal(oidSHA1),
		!bytes.Equal(sd.Digests[0].Parameters.FullBytes, null), !sd.Encap.Type.Equal(oidData), !bytes.Equal(sd.Encap.Content, content),
		!bytes.Equal(sd.Certs.Bytes, cert.Raw), len(sd.SIs) != 1:
		t.Fatalf("SignedData fields wrong: %+v", sd)
	}
	si := sd.SIs[0]
	switch {
	case si.Version != 1, !bytes.Equal(si.SID.Issuer.FullBytes, cert.RawIssuer), si.SID.Serial.Cmp(cert.SerialNumber) != 0,
		!si.DigestAlg.Algorithm.Equal(oidSHA1), !bytes.Equal(si.DigestAlg.Parameters.FullBytes, null),
		!si.SigAlg.Algorithm.Equal(oidRSA), !bytes.Equal(si.SigAlg.Parameters.FullBytes, null):
		t.Fatalf("SignerInfo fields wrong: %+v", si)
	}
	digest := crypto.SHA1.New()
	digest.Write(content)
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA1, digest.Sum(nil), si.Sig); err != nil {
		t.Fatalf("signature is not PKCS#1 v1.5 over sha1(content): %v", err)
	}
}

func TestSignChallengeRefuses(t *testing.T) {
	key, cert := testCard(t)
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := SignChallenge(context.Background(), other, cert, []byte("x"), crypto.SHA1); err == nil {
		t.Error("signed with a key that is not the certificate's")
	}
	if _, err := SignChallenge(context.Background(), key, cert, []byte("x"), crypto.MD5); err == nil {
		t.Error("signed with MD5")
	}
	if _, err := SignChallenge(context.Background(), nil, cert, []byte("x"), crypto.SHA1); err == nil {
		t.Error("signed without a signer")
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key, cert := testCard(t)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		content := []byte("challenge bytes " + h.String())
		der, err := SignChallenge(context.Background(), key, cert, content, h)
		if err != nil {
			t.Fatal(err)
		}
		got, signer, err := VerifyChallenge(der)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if !bytes.Equal(got, content) || !signer.Equal(cert) {
			t.Errorf("%v: content %q signer %v", h, got, signer.Subject)
		}
		// A flipped signature bit is a validation failure, not garbage.
		bad := bytes.Clone(der)
		bad[len(bad)-5] ^= 1
		if _, _, err := VerifyChallenge(bad); !errors.Is(err, ErrValidationFailed) {
			t.Errorf("%v: tampered signature: %v", h, err)
		}
		// And a signer identifier naming no embedded certificate.
		serial := []byte{0x02, 0x04, 0x01, 0x23, 0x45, 0x67} // makeCert's serial 0x1234567
		bad = bytes.Clone(der)
		bad[bytes.LastIndex(bad, serial)+5] ^= 1
		if _, _, err := VerifyChallenge(bad); !errors.Is(err, ErrValidationFailed) {
			t.Errorf("%v: sid matching no certificate: %v", h, err)
		}
		// So is content that is not what was signed.
		i := bytes.Index(der, content)
		bad = bytes.Clone(der)
		bad[i] ^= 1
		if _, _, err := VerifyChallenge(bad); !errors.Is(err, ErrValidationFailed) {
			t.Errorf("%v: tampered content: %v", h, err)
		}
	}
}

func TestVerifyChallengeGarbage(t *testing.T) {
	key, cert := testCard(t)
	der, err := SignChallenge(context.Background(), key, cert, []byte("abc"), crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("hello"),
		"truncated": der[:len(der)-10],
		"trailing":  append(bytes.Clone(der), 0),
		"deep":      bytes.Repeat([]byte{0x30, 0x80}, 100),
		"huge len":  {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff},
		"sequence":  {0x30, 0x00},
	} {
		if _, _, err := VerifyChallenge(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, _, err := VerifyChallenge(make([]byte, MaxCMSSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

// TestSignChallengeOpenSSLVerifies has openssl, an independent CMS
// implementation, check what SignChallenge builds.
func TestSignChallengeOpenSSLVerifies(t *testing.T) {
	openssl := needOpenSSL(t)
	key, cert := testCard(t)
	dir := t.TempDir()
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		content := []byte("0123456789abcdef0123456789abcdef0123456789abcdef")
		der, err := SignChallenge(context.Background(), key, cert, content, h)
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(dir, "sig.der")
		if err := os.WriteFile(in, der, 0o600); err != nil {
			t.Fatal(err)
		}
		out := runOpenSSL(t, openssl, "cms", "-verify", "-noverify", "-inform", "DER", "-binary", "-in", in)
		if !bytes.Equal(out, content) {
			t.Errorf("%v: openssl content = %q", h, out)
		}
	}
	_ = key
}

// TestVerifyChallengeOpenSSLMade checks VerifyChallenge against CMS that
// openssl made: DER and streamed BER, with and without signed attributes.
func TestVerifyChallengeOpenSSLMade(t *testing.T) {
	openssl := needOpenSSL(t)
	key, cert := testCard(t)
	dir := t.TempDir()
	certPEM := filepath.Join(dir, "cert.pem")
	keyPEM := filepath.Join(dir, "key.pem")
	contentFile := filepath.Join(dir, "challenge.bin")
	content := make([]byte, 48)
	rand.Read(content)
	writePEMFile(t, certPEM, "CERTIFICATE", cert.Raw)
	writePEMFile(t, keyPEM, "PRIVATE KEY", wireMust(x509.MarshalPKCS8PrivateKey(key)))
	if err := os.WriteFile(contentFile, content, 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"cms", "-sign", "-nodetach", "-binary", "-signer", certPEM, "-inkey", keyPEM, "-in", contentFile}
	for name, extra := range map[string][]string{
		"sha1 noattr DER":       {"-noattr", "-md", "sha1", "-outform", "DER"},
		"sha256 noattr DER":     {"-noattr", "-md", "sha256", "-outform", "DER"},
		"sha1 noattr stream":    {"-noattr", "-md", "sha1", "-outform", "DER", "-stream"},
		"sha1 signed attrs":     {"-md", "sha1", "-outform", "DER"},
		"sha256 attrs streamed": {"-md", "sha256", "-outform", "DER", "-stream"},
		"sha1 noattr PEM":       {"-noattr", "-md", "sha1", "-outform", "PEM"},
	} {
		out := runOpenSSL(t, openssl, append(base, extra...)...)
		if blk, _ := pem.Decode(out); blk != nil {
			out = blk.Bytes
		}
		got, signer, err := VerifyChallenge(out)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, content) || !signer.Equal(cert) {
			t.Errorf("%s: wrong content or signer", name)
		}
		// Changed content fails: the signature, or the messageDigest
		// attribute, no longer matches.
		if i := bytes.Index(out, content); i >= 0 {
			out[i] ^= 0x80
			if _, _, err := VerifyChallenge(out); !errors.Is(err, ErrValidationFailed) {
				t.Errorf("%s: tampered content: %v", name, err)
			}
		} else {
			t.Errorf("%s: content not found in the message", name)
		}
	}
	// And a signature by another key under the same certificate fails.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherPEM := filepath.Join(dir, "other.pem")
	writePEMFile(t, otherPEM, "PRIVATE KEY", wireMust(x509.MarshalPKCS8PrivateKey(other)))
	cmd := exec.Command(openssl, "cms", "-sign", "-nodetach", "-binary", "-noattr", "-md", "sha1", "-outform", "DER",
		"-signer", certPEM, "-inkey", otherPEM, "-in", contentFile)
	if out, err := cmd.Output(); err == nil { // openssl may refuse a mismatched key itself
		if _, _, err := VerifyChallenge(out); !errors.Is(err, ErrValidationFailed) {
			t.Errorf("wrong key: %v", err)
		}
	}
}

func writePEMFile(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wireMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
