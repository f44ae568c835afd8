// Package samltest gives the SAML tests (middleware/samlidp, internal/proxy,
// cmd/cis-proxy) their common parts: a Browser that keeps cookies, follows
// redirects and posts the auto-posting forms of the HTTP-POST binding as a
// browser's script would; FindForm to read such a form from a page; NewSP,
// a supplier's web app behind crewjam's samlsp as the service provider; and
// keys and self-signed certificates for both sides.
//
// It does not import the bridge (middleware/samlidp), so the bridge's own
// in-package tests can use it.
//
// It is for tests only.
package samltest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"
)

// NewRSAKey makes an RSA key of bits. Keys are slow to make under -race:
// tests make each they need once (sync.OnceValue) and share it.
func NewRSAKey(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// NewECKey makes a P-256 ECDSA key.
func NewECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

var spKey = sync.OnceValue(func() *rsa.PrivateKey { return NewRSAKey(2048) })

// SPKey returns the RSA-2048 key of an SP made without SPOptions.Key, made
// once per test binary.
func SPKey() *rsa.PrivateKey { return spKey() }

// SelfSigned makes a self-signed SHA-256 certificate for key with common
// name cn, valid a day either side of now.
func SelfSigned(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
