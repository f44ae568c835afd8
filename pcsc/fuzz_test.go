package pcsc

import (
	"bytes"
	"context"
	"crypto/rsa"
	"testing"

	"github.com/ebfe/scard"
)

// FuzzParseTokenCert feeds certificate object values, as a token returns
// them, to the parser: it must never panic, and what it accepts is an RSA
// certificate within the size cap.
func FuzzParseTokenCert(f *testing.F) {
	f.Add([]byte{1}, makeCert(f, testKeys()[0], testUID, 0))
	f.Add([]byte{}, []byte{0x30, 0x82, 0x01, 0x00})
	f.Add([]byte{2}, []byte("not a certificate"))
	f.Fuzz(func(t *testing.T, id, der []byte) {
		c := parseTokenCert(id, der)
		if c == nil {
			return
		}
		if len(der) > maxCertBytes {
			t.Fatal("accepted a certificate over the size cap")
		}
		if _, ok := c.cert.PublicKey.(*rsa.PublicKey); !ok {
			t.Fatal("accepted a certificate without an RSA key")
		}
		if !bytes.Equal(c.id, id) {
			t.Fatal("id not kept")
		}
		_ = candidate{id: c.id, cert: c.cert}.score()
	})
}

// FuzzTrackerUpdate feeds arbitrary reader state words (as pcscd reports
// them) to the event tracker: it must never panic, report only known
// readers, and alternate inserted/removed per reader.
func FuzzTrackerUpdate(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x00, 0x22, 0x00, 0x01, 0x00, 0x12})
	f.Add([]byte{0x00, 0x00, 0x00, 0x12, 0x00, 0x03, 0x00, 0x12, 0x00, 0x04, 0x00, 0x22})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x06})
	f.Fuzz(func(t *testing.T, words []byte) {
		tr := &tracker{}
		tr.sync([]string{"A", "B"})
		present := map[string]bool{}
		for i := 0; i+8 <= len(words); i += 8 {
			st := tr.states()
			for j := range st {
				w := words[i+4*j : i+4*j+4]
				st[j].EventState = scard.StateFlag(uint32(w[0])<<24 | uint32(w[1])<<16 | uint32(w[2])<<8 | uint32(w[3]))
			}
			evs, _ := tr.update(st)
			for _, ev := range evs {
				if ev.Reader != "A" && ev.Reader != "B" {
					t.Fatalf("event for unknown reader %q", ev.Reader)
				}
				switch ev.Kind {
				case CardInserted:
					if present[ev.Reader] {
						t.Fatalf("inserted twice in %s", ev.Reader)
					}
					present[ev.Reader] = true
				case CardRemoved:
					if !present[ev.Reader] {
						t.Fatalf("removed without insert in %s", ev.Reader)
					}
					present[ev.Reader] = false
				}
			}
		}
	})
}

// FuzzCardTransmit feeds arbitrary card responses (split into parts at
// 0xFE bytes, one part per GET RESPONSE round) to Card.Transmit: it must
// never panic, and stay within its response cap.
func FuzzCardTransmit(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x61, 0x02, 0xFE, 0x03, 0x04, 0x90, 0x00})
	f.Add([]byte{0x90})
	f.Add([]byte{0x61, 0x00, 0xFE, 0x61, 0x00})
	f.Fuzz(func(t *testing.T, script []byte) {
		fc := &fakeCard{}
		for part := range bytes.SplitSeq(script, []byte{0xFE}) {
			fc.replies = append(fc.replies, part)
		}
		fp := newFakePCSC("A")
		fp.insert("A", testATR)
		fp.card = fc
		c, err := connect(context.Background(), fp.establish, "A")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Transmit(context.Background(), []byte{0x00, 0xCB, 0x3F, 0xFF, 0x00})
		if err == nil && (len(resp) < 2 || len(resp) > maxResponse+2) {
			t.Fatalf("response of %d bytes", len(resp))
		}
		if fc.begins != fc.ends {
			t.Fatal("transaction left open")
		}
	})
}
