package samlidp

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/internal/samltest"
)

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pkcs8(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestLoadKeyPair: PKCS#1 and PKCS#8 RSA keys of 2048 bits load; a shorter
// key, an EC key, a key that is not the certificate's, a missing file do
// not.
func TestLoadKeyPair(t *testing.T) {
	dir := t.TempDir()
	key := rsaKeyA()
	cert := writePEM(t, dir, "idp.crt", "CERTIFICATE", samltest.SelfSigned(t, key, "idp").Raw)
	pkcs1Path := writePEM(t, dir, "pkcs1.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	pkcs8Path := writePEM(t, dir, "pkcs8.key", "PRIVATE KEY", pkcs8(t, key))
	for _, p := range []string{pkcs1Path, pkcs8Path} {
		k, c, err := LoadKeyPair(p, cert)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if !c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Errorf("%s: key and certificate differ", filepath.Base(p))
		}
	}

	weak := rsaWeak()
	weakCert := writePEM(t, dir, "weak.crt", "CERTIFICATE", samltest.SelfSigned(t, weak, "weak").Raw)
	weakKey := writePEM(t, dir, "weak.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weak))
	if _, _, err := LoadKeyPair(weakKey, weakCert); !errors.Is(err, ErrWeakKey) || !strings.Contains(err.Error(), "1024 bits") {
		t.Errorf("1024-bit key: %v, want ErrWeakKey", err)
	}
	ecCert := writePEM(t, dir, "ec.crt", "CERTIFICATE", samltest.SelfSigned(t, ecKey(), "ec").Raw)
	ecPath := writePEM(t, dir, "ec.key", "PRIVATE KEY", pkcs8(t, ecKey()))
	if _, _, err := LoadKeyPair(ecPath, ecCert); !errors.Is(err, ErrWeakKey) {
		t.Errorf("EC key: %v, want ErrWeakKey", err)
	}
	if _, _, err := LoadKeyPair(pkcs1Path, weakCert); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("key of another certificate: %v", err)
	}
	if _, _, err := LoadKeyPair(filepath.Join(dir, "none.key"), cert); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
}

// TestNewRefuses: New refuses every Config it cannot run safely, with an
// error that says why; it never makes a key.
func TestNewRefuses(t *testing.T) {
	sp := samltest.NewSP(t, samltest.SPOptions{})
	ti := newTestIdP(t, nil, nil, sp)
	good := ti.cfg
	if _, err := New(good); err != nil {
		t.Fatalf("the good Config: %v", err)
	}
	weak := rsaWeak()
	md := sp.Middleware.ServiceProvider.Metadata()
	md.ValidUntil = testEpoch.Add(-time.Minute)
	expiredMD, err := xml.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := ParseServiceProvider(expiredMD) // parsing does not look at the time
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		target error
		text   string
	}{
		{"no key", func(c *Config) { c.Key = nil }, ErrNoSigningKey, "bridge is off"},
		{"no certificate", func(c *Config) { c.Certificate = nil }, ErrNoSigningKey, ""},
		{"1024-bit key", func(c *Config) { c.Key, c.Certificate = weak, samltest.SelfSigned(t, weak, "weak") }, ErrWeakKey, "1024 bits"},
		{"EC key", func(c *Config) { c.Key, c.Certificate = ecKey(), samltest.SelfSigned(t, ecKey(), "ec") }, ErrWeakKey, ""},
		{"certificate of another key", func(c *Config) { c.Certificate = samltest.SelfSigned(t, rsaKeyC(), "c") }, nil, "does not match"},
		{"expired certificate", func(c *Config) { c.Now = func() time.Time { return testEpoch.Add(48 * time.Hour) } }, nil, "not now"},
		{"no SP", func(c *Config) { c.ServiceProviders = nil }, ErrNoServiceProviders, "bridge is off"},
		{"same SP twice", func(c *Config) { c.ServiceProviders = append(c.ServiceProviders, c.ServiceProviders[0]) }, ErrDuplicateEntityID, sp.Server.URL},
		{"nil SP", func(c *Config) { c.ServiceProviders = append(c.ServiceProviders, nil) }, nil, "nil"},
		{"expired SP metadata", func(c *Config) { c.ServiceProviders = []*ServiceProvider{expiring} }, ErrBadMetadata, "expired"},
		{"no external URL", func(c *Config) { c.ExternalURL = "" }, nil, "external URL"},
		{"external URL plain http", func(c *Config) { c.ExternalURL = "http://proxy.example.nhs.uk" }, nil, "loopback"},
		{"external URL with query", func(c *Config) { c.ExternalURL = "https://proxy.example/?a=b" }, nil, "nothing more"},
		{"external URL not clean", func(c *Config) { c.ExternalURL = "https://proxy.example//evil.example" }, nil, "not clean"},
		{"external URL ftp", func(c *Config) { c.ExternalURL = "ftp://proxy.example" }, nil, "scheme"},
		{"no Identity", func(c *Config) { c.Identity = nil }, nil, "Identity"},
		{"no Login", func(c *Config) { c.Login = nil }, nil, "Login"},
		{"negative lifetime", func(c *Config) { c.AssertionLifetime = -time.Second }, nil, "lifetime"},
		{"skew too large", func(c *Config) { c.AssertionLifetime, c.ClockSkew = 10*time.Second, 5*time.Second }, nil, "skew"},
		{"negative SP session", func(c *Config) { c.SPSessionLifetime = -time.Second }, nil, "lifetime"},
	} {
		c := good
		c.ServiceProviders = append([]*ServiceProvider(nil), good.ServiceProviders...)
		tc.edit(&c)
		idp, err := New(c)
		switch {
		case err == nil:
			t.Errorf("%s: New accepts it", tc.name)
		case idp != nil:
			t.Errorf("%s: New returns an IdP with an error", tc.name)
		case tc.target != nil && !errors.Is(err, tc.target):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.target)
		case !strings.Contains(err.Error(), tc.text):
			t.Errorf("%s: %q does not say %q", tc.name, err, tc.text)
		}
	}
}

// TestExpiredMetadataAtRequest: metadata whose validUntil passes while the
// bridge runs stops being served.
func TestExpiredMetadataAtRequest(t *testing.T) {
	clock := newTestClock()
	sp := samltest.NewSP(t, samltest.SPOptions{Clock: dsigClock(clock.Now)})
	ti := newTestIdP(t, clock, nil, sp)
	clock.Advance(sp.Middleware.ServiceProvider.Metadata().ValidUntil.Sub(clock.Now()) + time.Minute)
	resp, body := sso(t, ti, sp, authnRequest(t, ti, sp), drSmith.UID)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("%s: %s, want 400", resp.Status, body)
	}
	if !ti.logged(ErrBadMetadata) {
		t.Errorf("logged %v", ti.logs.errors())
	}
}
