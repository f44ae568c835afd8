package vcard

import (
	"bytes"
	"testing"
)

// freshCopy is a new card with base's key, certificate and PIN, skipping
// New's key validation (which would dominate a fuzz run).
func freshCopy(base *Card) *Card {
	return &Card{
		key: base.key, cert: base.cert, atr: base.atr, log: base.log,
		dialTimeout: base.dialTimeout, quickAck: base.quickAck,
		maxRetries: base.maxRetries, algorithm: base.algorithm,
		pin: base.pin, retries: base.maxRetries,
	}
}

// FuzzAPDU feeds the applet a sequence of APDUs (each prefixed with a
// one-byte length), optionally after a correct VERIFY so that GENERAL
// AUTHENTICATE is reachable. Every reply must carry a status word and fit a
// vpcd frame; the retry counter must stay in range.
func FuzzAPDU(f *testing.F) {
	f.Add([]byte{0x05, 0x00, 0xA4, 0x04, 0x00, 0x00}, false)
	f.Add(append([]byte{0x0A}, getDataAPDU([]byte{0x5F, 0xC1, 0x05}, 0x08)...), false)
	f.Add(append([]byte{byte(len(verifyAPDU("0000")))}, verifyAPDU("0000")...), false)
	base, _ := newTestCard(f)
	f.Fuzz(func(t *testing.T, seq []byte, verified bool) {
		c := freshCopy(base)
		if verified {
			c.Transmit(verifyAPDU("1234"))
		}
		for len(seq) > 0 {
			n := min(int(seq[0]), len(seq)-1)
			resp := c.Transmit(seq[1 : 1+n])
			if len(resp) < 2 || len(resp) > 0xFFFF {
				t.Fatalf("reply of %d bytes to %X", len(resp), seq[1:1+n])
			}
			seq = seq[1+n:]
		}
		if r := c.RetriesLeft(); r < 0 || r > DefaultRetries {
			t.Fatalf("retries left %d", r)
		}
	})
}

// FuzzFrame feeds the vpcd frame reader and the card's frame handling
// arbitrary bytes, as a hostile or broken vpcd could send them.
func FuzzFrame(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x04, 0x00, 0x01, 0x01, 0x00, 0x05, 0x00, 0xA4, 0x04, 0x00, 0x00})
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x01, 0x07})
	f.Add([]byte{0xFF, 0xFF, 0x00})
	base, _ := newTestCard(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := freshCopy(base)
		fr := frameReader{r: bytes.NewReader(data)}
		var out []byte
		for {
			msg, err := fr.next()
			if err != nil {
				return
			}
			if len(msg) == 0 || len(msg) > 0xFFFF {
				t.Fatalf("frame of %d bytes", len(msg))
			}
			if resp := c.reply(msg); resp != nil {
				if out, err = appendFrame(out[:0], resp); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// FuzzCardFile checks that ParseCardFile rejects or accepts any input
// without panicking, and that what it accepts makes a card.
func FuzzCardFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"uid":"555000000001","key":"","cert":"","pin":"1234"}`))
	f.Add([]byte(`{"version":1,"atr":"zz"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := ParseCardFile(data)
		if err != nil {
			return
		}
		if _, err := New(cf.Config()); err != nil {
			t.Fatalf("accepted card file makes no card: %v", err)
		}
	})
}
