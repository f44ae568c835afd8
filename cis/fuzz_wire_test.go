package cis

import (
	"errors"
	"reflect"
	"testing"
)

func FuzzParseGPObject(f *testing.F) {
	for _, name := range []string{"activate-response.xml", "validate-response-crlf-indented.xml", "activate-request-indented.xml"} {
		f.Add(readGPFixture(f, name))
	}
	f.Add([]byte(`<gpOBJECT><gpPARAM name="a" id="1">A & B &amp; &#x41;</gpPARAM></gpOBJECT>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGPObject(data)
		if err != nil {
			checkErrorBounded(t, "ParseGPObject", err)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		enc := g.Encode(RequestDocType)
		back, err := ParseGPObject(enc)
		if err != nil {
			t.Fatalf("Encode output does not parse: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(back, g) {
			t.Fatalf("round trip changed the object:\n%+v\n%+v", g, back)
		}
		checkStdlibXML(t, enc, g)
		if gas, err := ParseGPObject(g.EncodeLikeGAS("")); err != nil || !reflect.DeepEqual(gas, g) {
			t.Fatalf("EncodeLikeGAS round trip: %v\n%+v\n%+v", err, g, gas)
		}
		_, _ = g.JobRoles()
	})
}

func FuzzDecodeSMIME(f *testing.F) {
	// Signed seeds are in testdata/fuzz (made once with openssl): generating
	// keys here would slow every fuzz worker's start.
	f.Add(EncodeSMIME([]byte{0x30, 0}))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		der, err := DecodeSMIME(s)
		if err != nil {
			checkErrorBounded(t, "DecodeSMIME", err)
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if got, err := DecodeSMIME(EncodeSMIME(der)); err != nil || string(got) != string(der) {
			t.Fatalf("re-encode round trip: %v", err)
		}
	})
}

func FuzzVerifyChallenge(f *testing.F) {
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		content, signer, err := VerifyChallenge(der)
		if err != nil {
			checkErrorBounded(t, "VerifyChallenge", err)
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrValidationFailed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if signer == nil || content == nil {
			t.Fatal("success without content or signer")
		}
	})
}
