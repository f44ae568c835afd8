package samlidp

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/opencis/cisauth/internal/pemfile"
)

// MinRSABits is the smallest RSA modulus, in bits, accepted for the IdP's
// signing key and for the keys in a service provider's metadata.
const MinRSABits = 2048

var (
	// ErrNoSigningKey means the Config has no signing key or no
	// certificate. The bridge never makes a key of its own, so without one
	// it is off.
	ErrNoSigningKey = errors.New("samlidp: no IdP signing key and certificate: the SAML bridge is off")

	// ErrWeakKey means an RSA key is shorter than MinRSABits, or a key is
	// of a type or curve the bridge does not accept.
	ErrWeakKey = errors.New("samlidp: key too weak")
)

// LoadKeyPair reads the IdP's signing key and its certificate from PEM
// files: the key as PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"),
// the certificate as the first CERTIFICATE block of certPath. It checks that
// the key is the certificate's; New checks the rest (see Config.Key). Errors
// name the file; a missing file matches fs.ErrNotExist.
func LoadKeyPair(keyPath, certPath string) (crypto.Signer, *x509.Certificate, error) {
	// pemfile.LoadCA is the project's one reader of a certificate and the
	// key that belongs to it; nothing in it is specific to CAs.
	cert, key, err := pemfile.LoadCA(certPath, keyPath)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRSAKey(key.Public()); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return key, cert, nil
}

// checkRSAKey accepts an RSA public key of at least MinRSABits.
func checkRSAKey(pub crypto.PublicKey) error {
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: a %T key, want RSA", ErrWeakKey, pub)
	}
	if n := rsaPub.N.BitLen(); n < MinRSABits {
		return fmt.Errorf("%w: RSA key of %d bits, want at least %d", ErrWeakKey, n, MinRSABits)
	}
	return nil
}

// checkSigningPair checks what New needs of the IdP's key and certificate:
// both present, an RSA key of at least MinRSABits, the certificate's own,
// the certificate valid at now and not signed with SHA-1 or MD5.
func checkSigningPair(key crypto.Signer, cert *x509.Certificate, now time.Time) error {
	if key == nil || cert == nil {
		return ErrNoSigningKey
	}
	if err := checkRSAKey(key.Public()); err != nil {
		return err
	}
	if !pemfile.KeyMatches(cert, key) {
		return errors.New("samlidp: the IdP certificate does not match its signing key")
	}
	if weakCertSignature(cert.SignatureAlgorithm) {
		return fmt.Errorf("samlidp: the IdP certificate is signed with %s; use SHA-256 or better", cert.SignatureAlgorithm)
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("samlidp: the IdP certificate is valid from %s to %s, not now (%s)",
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func weakCertSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}
