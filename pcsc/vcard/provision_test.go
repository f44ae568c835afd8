package vcard

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProvisionNHSProfile(t *testing.T) {
	ca := newTestCA(t)
	f, err := Provision(ProvisionConfig{
		UID: "555000000002", Name: "Smith Bob Mr", CACert: ca.cert, CAKey: ca.key,
		PIN: []byte("87654321"), Retries: 5, Validity: 30 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := f.Cert
	if got, want := c.Subject.String(), "CN=555000000002,OU=people,O=nhs"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if f.Key.N.BitLen() != 2048 {
		t.Errorf("key of %d bits", f.Key.N.BitLen())
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("keyUsage %v, want digitalSignature only", c.KeyUsage)
	}
	for _, e := range c.Extensions {
		if e.Critical {
			t.Errorf("extension %v is critical", e.Id)
		}
	}
	if err := c.CheckSignatureFrom(ca.cert); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}
	if c.NotAfter.After(ca.cert.NotAfter) {
		t.Errorf("certificate outlives its CA: %v > %v", c.NotAfter, ca.cert.NotAfter)
	}
	if f.Name != "Smith Bob Mr" || f.Retries != 5 || string(f.PIN) != "87654321" {
		t.Errorf("card file %q %d %q", f.Name, f.Retries, f.PIN)
	}
}

func TestProvisionRejects(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	base := ProvisionConfig{UID: "555000000003", CACert: ca.cert, CAKey: ca.key, PIN: []byte("1234")}
	for _, tt := range []struct {
		name string
		edit func(*ProvisionConfig)
	}{
		{"short uid", func(c *ProvisionConfig) { c.UID = "55500000000" }},
		{"letters in uid", func(c *ProvisionConfig) { c.UID = "55500000000x" }},
		{"no CA", func(c *ProvisionConfig) { c.CACert = nil }},
		{"CA key of another CA", func(c *ProvisionConfig) { c.CAKey = other.key }},
		{"short PIN", func(c *ProvisionConfig) { c.PIN = []byte("123") }},
		{"long PIN", func(c *ProvisionConfig) { c.PIN = []byte("123456789") }},
		{"letters in PIN", func(c *ProvisionConfig) { c.PIN = []byte("12a4") }},
		{"retries", func(c *ProvisionConfig) { c.Retries = 16 }},
		{"expired CA", func(c *ProvisionConfig) { c.Now = func() time.Time { return time.Now().Add(72 * time.Hour) } }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			if _, err := Provision(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestCardFileRoundTrip(t *testing.T) {
	f, err := provisioned()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "card.json")
	g := *f
	g.ATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.UID != f.UID || back.Name != f.Name || !bytes.Equal(back.PIN, f.PIN) ||
		!back.Key.Equal(f.Key) || !back.Cert.Equal(f.Cert) || !bytes.Equal(back.ATR, g.ATR) {
		t.Fatalf("round trip changed the card file")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseCardFileRejects(t *testing.T) {
	f, err := provisioned()
	if err != nil {
		t.Fatal(err)
	}
	good, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	other := *f
	ca := newTestCA(t)
	o, err := Provision(ProvisionConfig{UID: "555000000004", CACert: ca.cert, CAKey: ca.key, PIN: []byte("1234")})
	if err != nil {
		t.Fatal(err)
	}
	other.Cert = o.Cert
	mismatched, err := other.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":                 nil,
		"not JSON":              []byte("pin=1234"),
		"unknown field":         bytes.Replace(good, []byte(`"uid"`), []byte(`"user"`), 1),
		"trailing data":         append(bytes.Clone(good), []byte("{}")...),
		"wrong version":         bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 2`), 1),
		"key and cert mismatch": mismatched,
		"too large":             bytes.Repeat([]byte(" "), MaxCardFileSize+1),
	} {
		if _, err := ParseCardFile(data); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certPath := filepath.Join(dir, "card-ca.pem")
	keyPath := filepath.Join(dir, "card-ca-key.pem")
	writePEM(t, certPath, "CERTIFICATE", ca.cert.Raw)
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyPath, "PRIVATE KEY", der)
	cert, key, err := LoadCA(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Equal(ca.cert) || checkCAPair(ca.cert, key) != nil {
		t.Fatal("LoadCA returned another CA")
	}
	if _, _, err := LoadCA(filepath.Join(dir, "nope.pem"), keyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing CA: %v", err)
	}
	other := newTestCA(t)
	der, _ = x509.MarshalPKCS8PrivateKey(other.key)
	writePEM(t, keyPath, "PRIVATE KEY", der)
	if _, _, err := LoadCA(certPath, keyPath); !errors.Is(err, ErrConfig) {
		t.Errorf("mismatched CA key: %v", err)
	}
}
