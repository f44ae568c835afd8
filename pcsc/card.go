package pcsc

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/ebfe/scard"
)

// Caps on one exchange: an extended APDU is at most 65,544 bytes, and a
// response assembled from GET RESPONSE parts at most maxResponse.
const (
	maxCommand  = 65544
	maxResponse = 64 << 10
)

// Card is a shared PC/SC connection to the card in one reader, for sending
// APDUs directly (diagnostics, tests, card types without a PKCS#11 module).
// Each Transmit is one PC/SC transaction, so other programs sharing the
// reader (OpenSC included) never see half an exchange. A Card is safe for
// concurrent use; calls are serialised.
type Card struct {
	mu     sync.Mutex
	sc     scardContext
	card   scardCard
	reader string
	atr    []byte
	closed bool
}

// Connect opens a shared connection (T=0 or T=1) to the card in reader. No
// card gives ErrCardRemoved, an unknown reader ErrNoReader.
func Connect(ctx context.Context, reader string) (*Card, error) {
	return connect(ctx, establishPCSC, reader)
}

func connect(ctx context.Context, establish establishFunc, reader string) (*Card, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc, err := establish()
	if err != nil {
		return nil, err
	}
	card, err := sc.Connect(reader)
	if err != nil {
		sc.Release()
		return nil, scardError(fmt.Sprintf("connect to %q", reader), err)
	}
	st, err := card.Status()
	if err != nil {
		card.Disconnect(scard.LeaveCard)
		sc.Release()
		return nil, scardError(fmt.Sprintf("status of %q", reader), err)
	}
	return &Card{sc: sc, card: card, reader: reader, atr: bytes.Clone(st.Atr)}, nil
}

// Reader returns the reader's name.
func (c *Card) Reader() string { return c.reader }

// ATR returns the card's answer to reset as seen at Connect.
func (c *Card) ATR() []byte { return bytes.Clone(c.atr) }

// Transmit sends one command APDU and returns the response APDU (data and
// status word) within one PC/SC transaction. When the card answers 61 XX
// ("more data"), Transmit fetches the rest with GET RESPONSE in the same
// transaction and returns the joined data with the final status word. A
// card pulled before or during the exchange gives ErrCardRemoved
// (SCARD_W_REMOVED_CARD or SCARD_E_NOT_TRANSACTED). ctx is checked before
// the exchange; a command already sent is not interrupted.
func (c *Card) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if len(apdu) < 4 || len(apdu) > maxCommand {
		return nil, fmt.Errorf("pcsc: transmit: APDU of %d bytes", len(apdu))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if err := c.card.BeginTransaction(); err != nil {
		return nil, scardError("begin transaction", err)
	}
	resp, err := c.exchange(apdu)
	if endErr := c.card.EndTransaction(scard.LeaveCard); err == nil && endErr != nil {
		err = scardError("end transaction", endErr)
	}
	return resp, err
}

// exchange sends apdu and follows 61 XX with GET RESPONSE. Called inside a
// transaction.
func (c *Card) exchange(apdu []byte) ([]byte, error) {
	var data []byte
	cmd := apdu
	for range maxResponse / 256 {
		r, err := c.card.Transmit(cmd)
		if err != nil {
			return nil, scardError("transmit", err)
		}
		if len(r) < 2 {
			return nil, fmt.Errorf("pcsc: transmit: response of %d bytes has no status word", len(r))
		}
		sw1, sw2 := r[len(r)-2], r[len(r)-1]
		data = append(data, r[:len(r)-2]...)
		if len(data) > maxResponse {
			return nil, fmt.Errorf("pcsc: transmit: response longer than %d bytes", maxResponse)
		}
		if sw1 != 0x61 {
			return append(data, sw1, sw2), nil
		}
		cmd = []byte{apdu[0] & 0x03, 0xC0, 0x00, 0x00, sw2} // GET RESPONSE on the same logical channel
	}
	return nil, fmt.Errorf("pcsc: transmit: more than %d GET RESPONSE rounds", maxResponse/256)
}

// Close disconnects, leaving the card as it is, and releases the PC/SC
// context. Closing twice is harmless.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.card.Disconnect(scard.LeaveCard)
	c.sc.Release()
	if err != nil {
		return scardError("disconnect", err)
	}
	return nil
}
