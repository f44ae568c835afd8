package pcsc

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ebfe/scard"
)

// fakeCard answers from a script and counts transactions.
type fakeCard struct {
	replies      [][]byte
	sent         [][]byte
	transmitErr  error
	beginErr     error
	begins, ends int
	inTx         bool
	outsideTx    bool
	disconnected bool
}

func (c *fakeCard) BeginTransaction() error {
	if c.beginErr != nil {
		return c.beginErr
	}
	c.begins++
	c.inTx = true
	return nil
}

func (c *fakeCard) EndTransaction(scard.Disposition) error {
	c.ends++
	c.inTx = false
	return nil
}

func (c *fakeCard) Transmit(cmd []byte) ([]byte, error) {
	if !c.inTx {
		c.outsideTx = true
	}
	c.sent = append(c.sent, bytes.Clone(cmd))
	if c.transmitErr != nil {
		return nil, c.transmitErr
	}
	if len(c.replies) == 0 {
		return []byte{0x61, 0xFF}, nil // endless "more data"
	}
	r := c.replies[0]
	c.replies = c.replies[1:]
	return r, nil
}

func (c *fakeCard) Status() (*scard.CardStatus, error) {
	return &scard.CardStatus{Reader: "A", State: scard.Present, Atr: testATR}, nil
}

func (c *fakeCard) Disconnect(scard.Disposition) error {
	c.disconnected = true
	return nil
}

func connectFake(t *testing.T, fc *fakeCard) (*Card, *fakePCSC) {
	t.Helper()
	f := newFakePCSC("A", "B")
	f.insert("A", testATR)
	f.card = fc
	c, err := connect(context.Background(), f.establish, "A")
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestCardTransmitFollowsGetResponseInOneTransaction(t *testing.T) {
	ctx := context.Background()
	fc := &fakeCard{replies: [][]byte{{1, 2, 0x61, 0x02}, {3, 4, 0x90, 0x00}}}
	c, f := connectFake(t, fc)
	if !bytes.Equal(c.ATR(), testATR) || c.Reader() != "A" {
		t.Fatalf("ATR % X, reader %q", c.ATR(), c.Reader())
	}
	r, err := c.Transmit(ctx, []byte{0x00, 0xCB, 0x3F, 0xFF, 0x00})
	if err != nil || !bytes.Equal(r, []byte{1, 2, 3, 4, 0x90, 0x00}) {
		t.Fatalf("Transmit = % X, %v", r, err)
	}
	if !bytes.Equal(fc.sent[1], []byte{0x00, 0xC0, 0x00, 0x00, 0x02}) {
		t.Errorf("GET RESPONSE sent as % X", fc.sent[1])
	}
	if fc.begins != 1 || fc.ends != 1 || fc.outsideTx {
		t.Errorf("transactions: %d begun, %d ended, outside: %v; want one around both commands", fc.begins, fc.ends, fc.outsideTx)
	}
	if err := c.Close(); err != nil || !fc.disconnected || f.released != 1 {
		t.Fatalf("Close = %v, disconnected %v, released %d", err, fc.disconnected, f.released)
	}
	if _, err := c.Transmit(ctx, []byte{0, 0xA4, 4, 0}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Transmit after Close = %v", err)
	}
}

func TestCardTransmitErrors(t *testing.T) {
	ctx := context.Background()
	for _, e := range []scard.Error{scard.ErrRemovedCard, scard.ErrNotTransacted, scard.ErrNoSmartcard} {
		fc := &fakeCard{transmitErr: e}
		c, _ := connectFake(t, fc)
		if _, err := c.Transmit(ctx, []byte{0, 0xA4, 4, 0}); !errors.Is(err, ErrCardRemoved) || !errors.Is(err, e) {
			t.Errorf("transmit error %v → %v, want ErrCardRemoved", e, err)
		}
		if fc.begins != fc.ends {
			t.Errorf("transaction left open after %v", e)
		}
	}
	fc := &fakeCard{beginErr: scard.ErrRemovedCard}
	c, _ := connectFake(t, fc)
	if _, err := c.Transmit(ctx, []byte{0, 0xA4, 4, 0}); !errors.Is(err, ErrCardRemoved) {
		t.Errorf("begin transaction on a pulled card → %v", err)
	}
	// A card that never stops saying "more data" is cut off.
	c, _ = connectFake(t, &fakeCard{})
	if _, err := c.Transmit(ctx, []byte{0, 0xCB, 0x3F, 0xFF}); err == nil {
		t.Error("endless 61 XX accepted")
	}
	c, _ = connectFake(t, &fakeCard{replies: [][]byte{{0x90}}})
	if _, err := c.Transmit(ctx, []byte{0, 0xCB, 0x3F, 0xFF}); err == nil {
		t.Error("a one-byte response accepted")
	}
	if _, err := c.Transmit(ctx, []byte{0, 1}); err == nil {
		t.Error("a two-byte APDU accepted")
	}
}

func TestConnectErrors(t *testing.T) {
	f := newFakePCSC("A")
	if _, err := connect(context.Background(), f.establish, "A"); !errors.Is(err, ErrCardRemoved) {
		t.Errorf("connect to an empty reader = %v, want ErrCardRemoved", err)
	}
	if _, err := connect(context.Background(), f.establish, "Z"); !errors.Is(err, ErrNoReader) {
		t.Errorf("connect to an unknown reader = %v, want ErrNoReader", err)
	}
	if f.released != 2 {
		t.Errorf("released %d contexts, want 2", f.released)
	}
}

func TestPIVPINRetries(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		replies [][]byte
		want    int
		err     error
	}{
		{"two tries left", [][]byte{{0x90, 0x00}, {0x63, 0xC2}}, 2, nil},
		{"verified", [][]byte{{0x90, 0x00}, {0x90, 0x00}}, -1, nil},
		{"locked", [][]byte{{0x90, 0x00}, {0x69, 0x83}}, 0, nil},
		{"no PIV application", [][]byte{{0x6A, 0x82}}, 0, ErrNotPIV},
		{"odd answer", [][]byte{{0x90, 0x00}, {0x6D, 0x00}}, 0, ErrNotPIV},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := &fakeCard{replies: c.replies}
			card, _ := connectFake(t, fc)
			n, err := card.PIVPINRetries(ctx)
			if n != c.want || !errors.Is(err, c.err) {
				t.Fatalf("PIVPINRetries = %d, %v; want %d, %v", n, err, c.want, c.err)
			}
			if fc.begins != 1 || fc.ends != 1 || fc.outsideTx {
				t.Errorf("transactions: %d begun, %d ended, outside %v; want both commands in one", fc.begins, fc.ends, fc.outsideTx)
			}
			if !bytes.Equal(fc.sent[0], pivSelect) || (len(fc.sent) > 1 && !bytes.Equal(fc.sent[1], pivPINStatus)) {
				t.Errorf("sent % X", fc.sent)
			}
		})
	}
}
