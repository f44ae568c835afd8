package vcard

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/opencis/cisauth/internal/cisid"
	"github.com/opencis/cisauth/internal/pemfile"
)

// DefaultValidity is the certificate lifetime when ProvisionConfig.Validity
// is 0.
const DefaultValidity = 365 * 24 * time.Hour

// ProvisionConfig describes a card to mint.
type ProvisionConfig struct {
	// UID is the user id, 12 digits: the certificate CN.
	UID string
	// Name is the holder's display name, kept in the card file.
	Name string
	// CACert and CAKey sign the authentication certificate.
	CACert *x509.Certificate
	CAKey  crypto.Signer
	// PIN is the card PIN: 4 to 8 digits. Provision copies it.
	PIN []byte
	// Retries is the PIN retry limit (1 to 15); 0 means DefaultRetries.
	Retries int
	// Validity is the certificate lifetime, cut to the CA's; 0 means
	// DefaultValidity.
	Validity time.Duration
	// Rand is the source for the serial number and key; nil means
	// crypto/rand. (Go 1.26 ignores it for RSA key generation.)
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var (
	oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}
	// keyUsageDigitalSignature is the DER of KeyUsage with only
	// digitalSignature (bit 0) set.
	keyUsageDigitalSignature = []byte{0x03, 0x02, 0x07, 0x80}
)

// Provision mints a card like an NHS smartcard: an RSA-2048 key and an
// authentication certificate with subject O=nhs, OU=people, CN=<UID>,
// keyUsage digitalSignature, signed by the CA. No extension is marked
// critical: some clients re-encode the certificate they embed in a CMS
// (writing BOOLEAN TRUE as 0x01), which breaks the signature of any
// certificate carrying a critical flag, and field cards mark none.
func Provision(cfg ProvisionConfig) (*CardFile, error) {
	if !cisid.Valid(cfg.UID) {
		return nil, fmt.Errorf("%w: user id %q is not 12 digits", ErrConfig, cfg.UID)
	}
	if cfg.CACert == nil || cfg.CAKey == nil {
		return nil, fmt.Errorf("%w: a CA certificate and key are required", ErrConfig)
	}
	if err := checkCAPair(cfg.CACert, cfg.CAKey); err != nil {
		return nil, err
	}
	if err := checkPIN(cfg.PIN); err != nil {
		return nil, err
	}
	for _, b := range cfg.PIN {
		if b < '0' || b > '9' {
			return nil, fmt.Errorf("%w: PIN must be digits", ErrConfig)
		}
	}
	if cfg.Retries < 0 || cfg.Retries > 15 {
		return nil, fmt.Errorf("%w: retries %d outside 1..15", ErrConfig, cfg.Retries)
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	validity := cfg.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("%w: negative validity", ErrConfig)
	}
	t := now().UTC().Truncate(time.Second)
	notBefore := t.Add(-time.Hour)
	notAfter := t.Add(validity)
	if notAfter.After(cfg.CACert.NotAfter) {
		notAfter = cfg.CACert.NotAfter
	}
	if !notAfter.After(t) {
		return nil, fmt.Errorf("%w: CA certificate expired on %s", ErrConfig, cfg.CACert.NotAfter.Format(time.DateOnly))
	}

	key, err := rsa.GenerateKey(rnd, 2048)
	if err != nil {
		return nil, fmt.Errorf("vcard: generate key: %w", err)
	}
	serial, err := rand.Int(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("vcard: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject: pkix.Name{
			Organization:       []string{"nhs"},
			OrganizationalUnit: []string{"people"},
			CommonName:         cfg.UID,
		},
		NotBefore: notBefore,
		NotAfter:  notAfter,
		// KeyUsage stays 0: Go would mark its extension critical.
		ExtraExtensions: []pkix.Extension{{Id: oidKeyUsage, Value: keyUsageDigitalSignature}},
	}
	der, err := x509.CreateCertificate(rnd, tmpl, cfg.CACert, &key.PublicKey, cfg.CAKey)
	if err != nil {
		return nil, fmt.Errorf("vcard: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("vcard: parse new certificate: %w", err)
	}
	return &CardFile{
		UID:     cfg.UID,
		Name:    cfg.Name,
		Key:     key,
		Cert:    cert,
		PIN:     append([]byte(nil), cfg.PIN...),
		Retries: cfg.Retries,
	}, nil
}

// checkCAPair checks that key is the private key of cert.
func checkCAPair(cert *x509.Certificate, key crypto.Signer) error {
	if !pemfile.KeyMatches(cert, key) {
		return fmt.Errorf("%w: CA key does not match the CA certificate", ErrConfig)
	}
	return nil
}

// LoadCA reads a CA certificate and its private key (PKCS#8, PKCS#1 or SEC 1
// PEM) for Provision, and checks that they belong together. Errors match
// ErrConfig; a missing file's also matches fs.ErrNotExist.
func LoadCA(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	cert, key, err := pemfile.LoadCA(certPath, keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: CA: %w", ErrConfig, err)
	}
	return cert, key, nil
}
