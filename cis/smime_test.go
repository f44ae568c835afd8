package cis

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestEncodeSMIME(t *testing.T) {
	der := bytes.Repeat([]byte{0x30, 0x82, 0x01, 0x02}, 36) // 144 bytes: three full base64 lines
	outer, err := base64.StdEncoding.DecodeString(EncodeSMIME(der))
	if err != nil {
		t.Fatal(err)
	}
	body := base64.StdEncoding.EncodeToString(der)
	want := "MIME-Version: 1.0\n" +
		"Content-Disposition: attachment; filename=\"smime.p7m\"\n" +
		"Content-Type: application/x-pkcs7-mime; name=\"smime.p7m\"\n" +
		"Content-Transfer-Encoding: base64\n\n" +
		body[:64] + "\n" + body[64:128] + "\n" + body[128:] + "\n"
	if string(outer) != want {
		t.Errorf("inner text =\n%s\nwant\n%s", outer, want)
	}
	got, err := DecodeSMIME(EncodeSMIME(der))
	if err != nil || !bytes.Equal(got, der) {
		t.Errorf("round trip: %v", err)
	}
}

func TestDecodeSMIMETolerant(t *testing.T) {
	der := []byte("\x30\x03\x02\x01\x01 any bytes")
	b64 := base64.StdEncoding.EncodeToString(der)
	for name, inner := range map[string]string{
		"indented headers, spaces-only separator": "  MIME-Version: 1.0\n  Content-Type: application/x-pkcs7-mime\n   \n   " + b64 + "\n",
		"CRLF":               "MIME-Version: 1.0\r\nContent-Type: x\r\n\r\n" + b64[:8] + "\r\n" + b64[8:] + "\r\n",
		"body after breaks":  "MIME-Version: 1.0\n\n\n\n  " + b64,
		"tab separator line": "MIME-Version: 1.0\n\t\n" + b64,
	} {
		resp := base64.StdEncoding.EncodeToString([]byte(inner))
		resp = "\n " + resp[:10] + "\n" + resp[10:] + " \n" // outer layer wrapped too
		got, err := DecodeSMIME(resp)
		if err != nil || !bytes.Equal(got, der) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
}

func TestDecodeSMIMEGarbage(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for name, in := range map[string]string{
		"empty":        "",
		"not base64":   "!!!!",
		"no separator": enc("MIME-Version: 1.0\nQUJD"),
		"empty body":   enc("MIME-Version: 1.0\n\n  \n"),
		"bad body":     enc("MIME-Version: 1.0\n\n%%%%"),
	} {
		if _, err := DecodeSMIME(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := DecodeSMIME(strings.Repeat("A", MaxSMIMESize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}
