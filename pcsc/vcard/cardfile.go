package vcard

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencis/cisauth/internal/pemfile"
)

// MaxCardFileSize caps what Load and ParseCardFile read.
const MaxCardFileSize = 64 << 10

// cardFileVersion is the format version written into card files.
const cardFileVersion = 1

// CardFile is what a card file holds: everything needed to make the same
// card again. The file is JSON with the key as PKCS#8 PEM and the
// certificate as PEM; it holds the PIN and private key in clear, so it is
// written with mode 0600.
type CardFile struct {
	// UID is the user id in the certificate's CN.
	UID string
	// Name is the holder's display name ("Jones Alice Dr"), for people.
	Name string
	// Key is the slot 9A key.
	Key *rsa.PrivateKey
	// Cert is the slot 9A certificate.
	Cert *x509.Certificate
	// PIN is the card PIN.
	PIN []byte
	// Retries is the PIN retry limit (0 means DefaultRetries).
	Retries int
	// ATR is the answer-to-reset (nil means the default).
	ATR []byte
}

// cardFileJSON is the on-disk form.
type cardFileJSON struct {
	Version int    `json:"version"`
	UID     string `json:"uid"`
	Name    string `json:"name,omitempty"`
	Key     string `json:"key"`
	Cert    string `json:"cert"`
	PIN     string `json:"pin"`
	Retries int    `json:"retries,omitempty"`
	ATR     string `json:"atr,omitempty"`
}

// Config returns the CardConfig for New; the caller adds a Logger if it
// wants one.
func (f *CardFile) Config() CardConfig {
	return CardConfig{Key: f.Key, Cert: f.Cert, PIN: f.PIN, Retries: f.Retries, ATR: f.ATR}
}

// Marshal encodes the card file.
func (f *CardFile) Marshal() ([]byte, error) {
	if f.Key == nil || f.Cert == nil {
		return nil, fmt.Errorf("%w: card file needs a key and a certificate", ErrConfig)
	}
	der, err := x509.MarshalPKCS8PrivateKey(f.Key)
	if err != nil {
		return nil, fmt.Errorf("vcard: encode key: %w", err)
	}
	j := cardFileJSON{
		Version: cardFileVersion,
		UID:     f.UID,
		Name:    f.Name,
		Key:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		Cert:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Cert.Raw})),
		PIN:     string(f.PIN),
		Retries: f.Retries,
		ATR:     hex.EncodeToString(f.ATR),
	}
	out, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("vcard: encode card file: %w", err)
	}
	return append(out, '\n'), nil
}

// Save writes the card file to path with mode 0600, replacing it
// atomically.
func (f *CardFile) Save(path string) error {
	data, err := f.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("vcard: save card file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("vcard: save card file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("vcard: save card file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("vcard: save card file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("vcard: save card file: %w", err)
	}
	return nil
}

// Load reads and checks a card file.
func Load(path string) (*CardFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vcard: load card file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxCardFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("vcard: load card file: %w", err)
	}
	f, err := ParseCardFile(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return f, nil
}

// ParseCardFile decodes and checks a card file: the key must match the
// certificate and the PIN, retry limit and ATR must be what New accepts.
// Errors wrap ErrConfig.
func ParseCardFile(data []byte) (*CardFile, error) {
	if len(data) > MaxCardFileSize {
		return nil, fmt.Errorf("%w: card file larger than %d bytes", ErrConfig, MaxCardFileSize)
	}
	var j cardFileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: card file: %w", ErrConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: card file: data after the JSON object", ErrConfig)
	}
	if j.Version != cardFileVersion {
		return nil, fmt.Errorf("%w: card file version %d; want %d", ErrConfig, j.Version, cardFileVersion)
	}
	key, err := pemfile.ParsePrivateKey([]byte(j.Key))
	if err != nil {
		return nil, fmt.Errorf("%w: card key: %w", ErrConfig, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: card key is %T; want RSA", ErrConfig, key)
	}
	certs, err := pemfile.ParseCertificates([]byte(j.Cert))
	if err != nil {
		return nil, fmt.Errorf("%w: card certificate: %w", ErrConfig, err)
	}
	cert := certs[0]
	var atr []byte
	if j.ATR != "" {
		if atr, err = hex.DecodeString(j.ATR); err != nil {
			return nil, fmt.Errorf("%w: card file atr: %w", ErrConfig, err)
		}
	}
	f := &CardFile{UID: j.UID, Name: j.Name, Key: rk, Cert: cert, PIN: []byte(j.PIN), Retries: j.Retries, ATR: atr}
	if _, err := New(f.Config()); err != nil {
		return nil, err
	}
	return f, nil
}
