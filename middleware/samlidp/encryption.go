package samlidp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
)

// The one suite assertions are encrypted with, for every service provider
// whose metadata offers an encryption key: the content key wrapped with
// RSA-OAEP (XML Encryption 1.1) using SHA-256 as digest and in MGF1, the
// assertion under AES-256-GCM. crewjam's default would be rsa-oaep-mgf1p,
// whose mask generation is SHA-1 by definition, and AES-CBC, which lets a
// tampered ciphertext probe the service provider's decryption.
const (
	algKeyTransport = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	algBlockCipher  = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
)

// assertionEncrypter returns the encrypter of the suite above.
func assertionEncrypter() xmlenc.Encrypter {
	enc := xmlenc.OAEP_SHA256()
	enc.BlockCipher = xmlenc.AES256GCM
	return enc
}

// Algorithm URIs a service provider's EncryptionMethod may list, by kind.
var (
	keyTransportAlgs = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p": true,
		"http://www.w3.org/2009/xmlenc11#rsa-oaep":        true,
		"http://www.w3.org/2001/04/xmlenc#rsa-1_5":        true,
	}
	blockCipherAlgs = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#tripledes-cbc": true,
		"http://www.w3.org/2001/04/xmlenc#aes128-cbc":    true,
		"http://www.w3.org/2001/04/xmlenc#aes192-cbc":    true,
		"http://www.w3.org/2001/04/xmlenc#aes256-cbc":    true,
		"http://www.w3.org/2009/xmlenc11#aes128-gcm":     true,
		"http://www.w3.org/2009/xmlenc11#aes192-gcm":     true,
		"http://www.w3.org/2009/xmlenc11#aes256-gcm":     true,
	}
)

// checkEncryptionMethods refuses an encryption key whose metadata lists the
// algorithms the service provider can decrypt and leaves out the suite the
// bridge encrypts with. A key that lists no algorithm of a kind (most list
// none) is taken to support the XML Encryption 1.1 suite.
func checkEncryptionMethods(methods []saml.EncryptionMethod) error {
	var transports, ciphers []string
	for _, m := range methods {
		alg := strings.TrimSpace(m.Algorithm)
		switch {
		case keyTransportAlgs[alg]:
			transports = append(transports, alg)
		case blockCipherAlgs[alg]:
			ciphers = append(ciphers, alg)
		}
	}
	if len(transports) > 0 && !slices.Contains(transports, algKeyTransport) {
		return fmt.Errorf("its encryption key lists key transport %s but not %s (the bridge uses no SHA-1, so not rsa-oaep-mgf1p, nor rsa-1_5); list %s, or offer no encryption key to receive signed assertions in the clear over TLS",
			strings.Join(transports, ", "), algKeyTransport, algKeyTransport)
	}
	if len(ciphers) > 0 && !slices.Contains(ciphers, algBlockCipher) {
		return fmt.Errorf("its encryption key lists %s but not %s; list %s, or offer no encryption key",
			strings.Join(ciphers, ", "), algBlockCipher, algBlockCipher)
	}
	return nil
}
