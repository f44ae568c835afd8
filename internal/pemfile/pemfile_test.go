package pemfile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T, key crypto.Signer, signer any) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaCert := write(t, dir, "rsa.pem", selfSigned(t, rk, rk))
	ecCert := write(t, dir, "ec.pem", selfSigned(t, ek, ek))
	p8, _ := x509.MarshalPKCS8PrivateKey(rk)
	ec1, _ := x509.MarshalECPrivateKey(ek)
	keys := map[string]string{
		"pkcs8": write(t, dir, "k8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
		"pkcs1": write(t, dir, "k1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})),
		"sec1":  write(t, dir, "ke.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ec1})),
	}
	for name, k := range map[string]string{"pkcs8": rsaCert, "pkcs1": rsaCert, "sec1": ecCert} {
		if _, _, err := LoadCA(k, keys[name]); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := LoadCA(ecCert, keys["pkcs1"]); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched pair: %v", err)
	}
	if _, _, err := LoadCA(filepath.Join(dir, "nope.pem"), keys["pkcs1"]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	notKey := write(t, dir, "cert-as-key.pem", selfSigned(t, rk, rk))
	if _, _, err := LoadCA(rsaCert, notKey); err == nil || !strings.Contains(err.Error(), "not a private key") {
		t.Errorf("certificate as key: %v", err)
	}
}

func TestLoadCertificatesErrors(t *testing.T) {
	dir := t.TempDir()
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := selfSigned(t, rk, rk)
	bad := write(t, dir, "bad.pem", append(append([]byte("# comment\n"), good...), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")...))
	_, err := LoadCertificates(bad)
	var be *BlockError
	wantLine := fmt.Sprintf("%s:%d: certificate:", bad, 2+strings.Count(string(good), "\n"))
	if err == nil || !strings.HasPrefix(err.Error(), wantLine) {
		t.Errorf("bad block: %v", err)
	}
	if _, err := ParseCertificates(good[:len(good)/2]); !errors.As(err, &be) || be.Line != 1 {
		t.Errorf("truncated block: %v", err)
	}
	if _, err := ParseCertificates([]byte("nothing here")); err == nil {
		t.Error("no certificate accepted")
	}
	big := write(t, dir, "big.pem", make([]byte, MaxSize+1))
	if _, err := ReadFile(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	certs, err := ParseCertificates(append(append([]byte{}, good...), good...))
	if err != nil || len(certs) != 2 {
		t.Errorf("two certificates: %d, %v", len(certs), err)
	}
}
