package cissim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// signLeaf makes a TLS server certificate for names, signed by ca with
// caKey, bypassing IssueServerCert's own checks: what someone holding a
// copy of the CA key could make.
func signLeaf(t *testing.T, ca *x509.Certificate, caKey any, isCA bool, names ...string) (*x509.Certificate, any) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if isCA {
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	return mustCreate(t, tmpl, ca, key.Public(), caKey), key
}

// mustCreate signs tmpl over pub with parent's key and parses the result.
func mustCreate(t *testing.T, tmpl, parent *x509.Certificate, pub, parentKey any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func verifyUnder(ca *x509.Certificate, leaf *x509.Certificate, name string, inter ...*x509.Certificate) error {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	for _, c := range inter {
		inters.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: name})
	return err
}

// TestTLSCAConstrained: the simulator's TLS CA vouches only for the names
// it issues for, issues no intermediate CA, and lives less than ten years;
// the server certificate still verifies for each of its names.
func TestTLSCAConstrained(t *testing.T) {
	dir := t.TempDir()
	hostnames := []string{"cis-sim.example.test", "192.0.2.10"}
	ca, caKey, err := LoadOrCreateTLSCA(dir, hostnames, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.MaxPathLenZero || ca.MaxPathLen != 0 {
		t.Errorf("MaxPathLen %d, MaxPathLenZero %v; want 0, true", ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life >= 10*365*24*time.Hour {
		t.Errorf("CA lives %v", life)
	}
	hosts := append([]string{"127.0.0.1", "::1", "localhost"}, hostnames...)
	srv, err := IssueServerCert(ca, caKey, hosts, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range hosts {
		if err := verifyUnder(ca, srv.Leaf, name); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	for _, name := range []string{"www.nhs.uk", "10.0.0.1", "localhost.example", "example.test", "192.0.2.11"} {
		leaf, _ := signLeaf(t, ca, caKey, false, name)
		var ie x509.CertificateInvalidError
		if err := verifyUnder(ca, leaf, ""); !errors.As(err, &ie) || ie.Reason != x509.CANotAuthorizedForThisName {
			t.Errorf("certificate for %s signed by the CA: %v, want CANotAuthorizedForThisName", name, err)
		}
	}
	inter, interKey := signLeaf(t, ca, caKey, true, "localhost")
	leaf, _ := signLeaf(t, inter, interKey, false, "localhost")
	if err := verifyUnder(ca, leaf, "localhost", inter); err == nil {
		t.Error("a certificate under an intermediate CA verifies")
	}
}

// TestIssueServerCertOutsideConstraints: IssueServerCert refuses a host the
// CA may not vouch for.
func TestIssueServerCertOutsideConstraints(t *testing.T) {
	ca, key, err := NewTLSCA(nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := IssueServerCert(ca, key, []string{"localhost", "cis-sim.example.test"}, time.Now(), nil); err == nil {
		t.Fatal("server certificate for a name outside the constraints issued")
	}
}

// TestLoadOrCreateTLSCAReplaces: a TLS CA in the state directory that
// NewTLSCA would not make for the current host names now (an older
// cis-sim's unconstrained ten-year CA, other names, close to its end) is
// replaced, with a warning; a fitting one is kept.
func TestLoadOrCreateTLSCAReplaces(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := TLSCAFiles(dir)
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	load := func(hostnames ...string) *x509.Certificate {
		t.Helper()
		ca, _, err := LoadOrCreateTLSCA(dir, hostnames, log)
		if err != nil {
			t.Fatal(err)
		}
		if tlsCAMismatch(ca, hostnames, time.Now()) != "" {
			t.Fatalf("loaded CA does not fit: %s", tlsCAMismatch(ca, hostnames, time.Now()))
		}
		return ca
	}
	oldKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	unconstrained := signSelf(t, oldKey)
	if err := writeCA(certPath, keyPath, unconstrained, oldKey); err != nil {
		t.Fatal(err)
	}
	first := load()
	if first.Equal(unconstrained) || !strings.Contains(logs.String(), "older cis-sim") {
		t.Fatalf("unconstrained CA kept; log: %s", logs.String())
	}
	if again := load(); !again.Equal(first) {
		t.Fatal("a fitting CA was replaced")
	}
	other := load("cis-sim.example.test")
	if other.Equal(first) || !strings.Contains(logs.String(), "other names") {
		t.Fatalf("CA for other names kept; log: %s", logs.String())
	}
	ending, endingKey, err := NewTLSCA([]string{"cis-sim.example.test"}, nil, time.Now().Add(-TLSCAValidity+serverValidity/2))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCA(certPath, keyPath, ending, endingKey); err != nil {
		t.Fatal(err)
	}
	if renewed := load("cis-sim.example.test"); renewed.Equal(ending) || !strings.Contains(logs.String(), "before a new server certificate would") {
		t.Fatalf("CA close to its end kept; log: %s", logs.String())
	}
}

// signSelf makes a self-signed CA over key the way cis-sim did before its
// CA was constrained: ten years, no path length, no name constraints.
func signSelf(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"cis-sim"}, CommonName: "cis-sim local TLS CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	return mustCreate(t, tmpl, tmpl, key.Public(), key)
}
