package cissim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencis/cisauth/internal/pemfile"
)

// Validity of what the simulator issues.
const (
	caValidity = 10 * 365 * 24 * time.Hour
	// TLSCAValidity is how long NewTLSCA's CA is valid. LoadOrCreateTLSCA
	// replaces one with less than the server certificate's life left.
	TLSCAValidity  = 365 * 24 * time.Hour
	serverValidity = 90 * 24 * time.Hour
	// CardCertValidity is how long IssueCardCert's certificates are valid
	// when the caller gives no end.
	CardCertValidity = 2 * 365 * 24 * time.Hour
)

var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

// NewCA makes a self-signed certificate authority with a fresh ECDSA P-256
// key, valid ten years, that signs end-entity certificates only (path
// length 0). rnd nil means crypto/rand.
func NewCA(subject pkix.Name, rnd io.Reader, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	return newCA(&x509.Certificate{Subject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caValidity)}, rnd)
}

// NewTLSCA makes the simulator's TLS CA: like NewCA, but valid
// TLSCAValidity, for TLS server certificates only (extended key usage
// serverAuth), and with critical name constraints that permit only the
// loopback addresses (127.0.0.0/8, ::1), localhost and hostnames (DNS
// names, each with its subdomains, or IP addresses): a copy imported into a
// trust store cannot vouch for any other site.
func NewTLSCA(hostnames []string, rnd io.Reader, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	dns, ips := tlsCANames(hostnames)
	return newCA(&x509.Certificate{
		Subject:                     pkix.Name{Organization: []string{"cis-sim"}, CommonName: "cis-sim local TLS CA"},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(TLSCAValidity),
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         dns,
		PermittedIPRanges:           ips,
	}, rnd)
}

// tlsCANames returns the name constraints of the TLS CA for hostnames:
// localhost and the DNS names (lower case, no trailing dot), and
// 127.0.0.0/8, ::1 and the IP addresses, each sorted, without repeats.
func tlsCANames(hostnames []string) (dns []string, ips []*net.IPNet) {
	dns = []string{"localhost"}
	ipSet := map[string]*net.IPNet{}
	for _, r := range []string{"127.0.0.0/8", "::1/128"} {
		_, n, _ := net.ParseCIDR(r)
		ipSet[n.String()] = n
	}
	for _, h := range hostnames {
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			bits := 128
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			n := &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
			ipSet[n.String()] = n
		} else if d := strings.TrimSuffix(strings.ToLower(h), "."); d != "" && !slices.Contains(dns, d) {
			dns = append(dns, d)
		}
	}
	slices.Sort(dns)
	for _, k := range slices.Sorted(maps.Keys(ipSet)) {
		ips = append(ips, ipSet[k])
	}
	return dns, ips
}

// newCA completes tmpl (validity and subject set, and any constraints) as a
// self-signed CA with path length 0 and a fresh ECDSA P-256 key, and signs
// it.
func newCA(tmpl *x509.Certificate, rnd io.Reader) (*x509.Certificate, crypto.Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("cissim: CA key: %w", err)
	}
	if tmpl.SerialNumber, err = randSerial(rnd); err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("cissim: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("cissim: CA certificate: %w", err)
	}
	return cert, key, nil
}

// NewCardCA makes a card CA shaped like the NHS sub CAs
// (O=nhs, OU=CA, CN=<cn>).
func NewCardCA(cn string, rnd io.Reader, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	return NewCA(pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"CA"}, CommonName: cn}, rnd, now)
}

// IssueCardCert issues a smartcard authentication certificate for uid
// (subject O=nhs, OU=people, CN=<uid>) over pub, signed by the card CA. Its
// only extension marked anything is keyUsage digitalSignature, and it is
// not critical, as on field cards (a client that re-encodes the certificate
// would otherwise break its signature). A zero notAfter means notBefore +
// CardCertValidity; a zero notBefore means now − 1h. rnd nil means
// crypto/rand.
func IssueCardCert(ca *x509.Certificate, caKey crypto.Signer, uid string, pub crypto.PublicKey, notBefore, notAfter time.Time, rnd io.Reader) (*x509.Certificate, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = notBefore.Add(CardCertValidity)
	}
	serial, err := randSerial(rnd)
	if err != nil {
		return nil, err
	}
	ku, err := asn1.Marshal(asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}) // digitalSignature
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization:       []string{"nhs"},
			OrganizationalUnit: []string{"people"},
			CommonName:         uid,
		},
		NotBefore:       notBefore,
		NotAfter:        notAfter,
		ExtraExtensions: []pkix.Extension{{Id: oidKeyUsage, Critical: false, Value: ku}},
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("cissim: card certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// IssueServerCert issues a TLS server certificate for hosts (DNS names or
// IP addresses) with a fresh ECDSA key, signed by the TLS CA. A host the
// CA's name constraints do not permit is an error.
func IssueServerCert(ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time, rnd io.Reader) (tls.Certificate, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cissim: server key: %w", err)
	}
	serial, err := randSerial(rnd)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"cis-sim"}, CommonName: "cis-sim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cissim: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now}); err != nil {
		return tls.Certificate{}, fmt.Errorf("cissim: server certificate for %s does not verify under the TLS CA: %w", strings.Join(hosts, ", "), err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func randSerial(rnd io.Reader) (*big.Int, error) {
	s, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("cissim: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// LoadOrCreateCA loads a CA certificate and its PKCS#8 key from certPath and
// keyPath, or, if neither file exists, creates a CA with the given subject
// and writes them (key 0600). One file without the other is an error.
func LoadOrCreateCA(certPath, keyPath string, subject pkix.Name) (*x509.Certificate, crypto.Signer, error) {
	exists, err := caFilesExist(certPath, keyPath)
	if err != nil {
		return nil, nil, err
	}
	if exists {
		return LoadCA(certPath, keyPath)
	}
	cert, key, err := NewCA(subject, nil, time.Now())
	if err != nil {
		return nil, nil, err
	}
	return cert, key, writeCA(certPath, keyPath, cert, key)
}

// caFilesExist reports whether both files exist; one without the other is
// an error.
func caFilesExist(certPath, keyPath string) (bool, error) {
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	switch {
	case cerr == nil && kerr == nil:
		return true, nil
	case errors.Is(cerr, os.ErrNotExist) && errors.Is(kerr, os.ErrNotExist):
		return false, nil
	case cerr != nil && !errors.Is(cerr, os.ErrNotExist):
		return false, fmt.Errorf("cissim: %w", cerr)
	case kerr != nil && !errors.Is(kerr, os.ErrNotExist):
		return false, fmt.Errorf("cissim: %w", kerr)
	}
	return false, fmt.Errorf("cissim: %s and %s: one exists without the other; remove it or restore both", certPath, keyPath)
}

// writeCA writes a CA's key (PKCS#8, 0600) and certificate (0644), each
// replaced atomically.
func writeCA(certPath, keyPath string, cert *x509.Certificate, key crypto.Signer) error {
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

// writeKey writes key as PKCS#8 PEM, mode 0600, atomically.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("cissim: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// LoadCA reads a CA certificate (PEM) and its private key (PKCS#8, PKCS#1
// or SEC 1 PEM). The key must match the certificate.
func LoadCA(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	cert, key, err := pemfile.LoadCA(certPath, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("cissim: %w", err)
	}
	return cert, key, nil
}

// LoadCertificates reads the PEM certificates in a file (a --card-ca
// file). Errors name the file and the line of the offending block.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	certs, err := pemfile.LoadCertificates(path)
	if err != nil {
		return nil, fmt.Errorf("cissim: %w", err)
	}
	return certs, nil
}
