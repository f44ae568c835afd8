package vcard

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"sync"
	"testing"
	"time"
)

// testCA is a throwaway CA (ECDSA, quick to make).
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestCA(t testing.TB) testCA {
	t.Helper()
	cert, key, err := NewTestCA("SubCA vcard test", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key}
}

// provisioned is one minted card file shared by the tests of this package
// (RSA-2048 key generation takes a while); tests make fresh Cards from it.
var provisioned = sync.OnceValues(func() (*CardFile, error) {
	ca := newTestCA(&testing.T{})
	return Provision(ProvisionConfig{
		UID: "555000000001", Name: "Jones Alice Dr",
		CACert: ca.cert, CAKey: ca.key, PIN: []byte("1234"),
	})
})

// newTestCard returns a fresh card (full retries, not verified) with the
// shared key.
func newTestCard(t testing.TB) (*Card, *CardFile) {
	t.Helper()
	f, err := provisioned()
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(f.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

// sw returns the status word of a response.
func sw(t testing.TB, resp []byte) uint16 {
	t.Helper()
	if len(resp) < 2 {
		t.Fatalf("response %X shorter than a status word", resp)
	}
	return uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1])
}

// transmitAll sends cmd and follows 61 XX with GET RESPONSE; it returns the
// whole data and the final status word.
func transmitAll(t testing.TB, c *Card, cmd []byte) ([]byte, uint16) {
	t.Helper()
	var data []byte
	resp := c.Transmit(cmd)
	for i := 0; ; i++ {
		s := sw(t, resp)
		data = append(data, resp[:len(resp)-2]...)
		if s&0xFF00 != swBytesRemaining {
			return data, s
		}
		if i > 100 {
			t.Fatal("GET RESPONSE does not end")
		}
		resp = c.Transmit([]byte{0x00, insGetResponse, 0x00, 0x00, byte(s)})
	}
}

func verifyAPDU(pin string) []byte {
	p := padPIN([]byte(pin))
	return append([]byte{0x00, insVerify, 0x00, 0x80, pinLen}, p[:]...)
}

func getDataAPDU(tag []byte, le byte) []byte {
	cmd := []byte{0x00, insGetData, 0x3F, 0xFF, byte(2 + len(tag)), 0x5C, byte(len(tag))}
	cmd = append(cmd, tag...)
	return append(cmd, le)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
