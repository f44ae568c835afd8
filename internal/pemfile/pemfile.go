// Package pemfile reads the PEM files this project's commands are given:
// certificates (trust anchors, card CAs) and private keys (a CA's key, an
// identity provider's signing key), with a size bound, errors that name the
// file and the line of a bad block, and a check that a CA's key belongs to
// its certificate.
//
// It is one leaf shared by cis, cis/cissim, pcsc/vcard and the commands, so
// that the rules for such files are written once. It does not fetch, cache
// or write anything.
package pemfile

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxSize bounds the size of a PEM file ReadFile accepts.
const MaxSize = 1 << 20

// ErrTooLarge means a file is larger than MaxSize.
var ErrTooLarge = errors.New("pemfile: file too large")

// ReadFile reads a file of at most MaxSize bytes. A missing file gives an
// error matching fs.ErrNotExist.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, MaxSize, ErrTooLarge)
	}
	return b, nil
}

// BlockError is a PEM block that does not decode or parse.
type BlockError struct {
	Line int // 1-based line where the block starts
	Err  error
}

func (e *BlockError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause.
func (e *BlockError) Unwrap() error { return e.Err }

// ParseCertificates parses every CERTIFICATE block of b, skipping blocks of
// other types. It fails if a block does not decode or parse (a *BlockError
// saying on which line the block starts) or if there is no certificate.
func ParseCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		start := bytes.Index(rest, []byte("-----BEGIN "))
		if start < 0 {
			break
		}
		line := 1 + bytes.Count(b[:len(b)-len(rest)+start], []byte("\n"))
		blk, after := pem.Decode(rest[start:])
		if blk == nil {
			return nil, &BlockError{Line: line, Err: errors.New("PEM block does not decode")}
		}
		rest = after
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, &BlockError{Line: line, Err: fmt.Errorf("certificate: %w", err)}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// ParsePrivateKey parses the first PEM block of b as a private key: PKCS#8
// ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
// The key must be able to sign.
func ParsePrivateKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM private key")
	}
	var key any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	clear(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return s, nil
}

// LoadCertificates reads the certificates of a PEM file (see
// ParseCertificates). Errors start with the file name, and with its line
// as "path:line:" for a bad block.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	b, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(b)
	var be *BlockError
	switch {
	case errors.As(err, &be):
		return nil, fmt.Errorf("%s:%d: %w", path, be.Line, be.Err)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// KeyMatches reports whether key is the private key of cert.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && cert != nil && pub.Equal(cert.PublicKey)
}

// LoadCA reads a CA certificate (the first certificate of certPath) and its
// private key (keyPath, see ParsePrivateKey), and checks that the key is the
// certificate's. Errors name the file; a missing file matches fs.ErrNotExist.
func LoadCA(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certs, err := LoadCertificates(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	key, err := ParsePrivateKey(kb)
	clear(kb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !KeyMatches(certs[0], key) {
		return nil, nil, fmt.Errorf("%s does not match the certificate in %s", keyPath, certPath)
	}
	return certs[0], key, nil
}
