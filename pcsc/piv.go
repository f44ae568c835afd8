package pcsc

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebfe/scard"
)

// PKCS#11 tells only "final try" and "locked" about a PIN. A PIV card (NHS
// smartcards are PIV-style) says how many tries are left when asked with
// an empty VERIFY, which spends none: PIVPINRetries asks it.

// pivSelect selects the PIV application by the partial AID OpenSC uses.
var pivSelect = []byte{0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00}

// pivPINStatus is VERIFY of the PIV application PIN (key reference 80)
// without data: the card reports the PIN state.
var pivPINStatus = []byte{0x00, 0x20, 0x00, 0x80}

// pivLogout is VERIFY with P1=FF (SP 800-73-4): the PIV application PIN's
// verified state ends.
var pivLogout = []byte{0x00, 0x20, 0xFF, 0x80}

// ErrNotPIV means the card has no PIV application (or does not report the
// PIN state the PIV way).
var ErrNotPIV = errors.New("pcsc: not a PIV card")

// PIVPINRetries selects the PIV application and asks the card, with a
// VERIFY without a PIN, how many PIN tries are left: 0 when the PIN is
// locked, -1 when it is verified already (the card does not count then).
// Both commands run in one PC/SC transaction, so no other program's
// commands come between them. A card without a PIV application gives
// ErrNotPIV. Use it before a login, not while one is in effect.
func (c *Card) PIVPINRetries(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	if err := c.card.BeginTransaction(); err != nil {
		return 0, scardError("begin transaction", err)
	}
	n, err := c.pivRetries()
	if endErr := c.card.EndTransaction(scard.LeaveCard); err == nil && endErr != nil {
		err = scardError("end transaction", endErr)
	}
	return n, err
}

func (c *Card) pivRetries() (int, error) {
	r, err := c.exchange(pivSelect)
	if err != nil {
		return 0, err
	}
	if sw := statusWord(r); sw != 0x9000 {
		return 0, fmt.Errorf("%w: SELECT answered %04X", ErrNotPIV, sw)
	}
	r, err = c.exchange(pivPINStatus)
	if err != nil {
		return 0, err
	}
	switch sw := statusWord(r); {
	case sw == 0x9000:
		return -1, nil
	case sw&0xFFF0 == 0x63C0:
		return int(sw & 0x0F), nil
	case sw == 0x6983:
		return 0, nil
	default:
		return 0, fmt.Errorf("%w: VERIFY without a PIN answered %04X", ErrNotPIV, sw)
	}
}

// statusWord returns the last two bytes of a response APDU.
func statusWord(r []byte) uint16 { return uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1]) }

// PIVPINRetries is Card.PIVPINRetries on a connection of its own to the card
// in reader.
func PIVPINRetries(ctx context.Context, reader string) (int, error) {
	c, err := Connect(ctx, reader)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.PIVPINRetries(ctx)
}

// PIVLogout ends the PIV PIN's verified state on the card in reader
// (VERIFY with P1=FF, SP 800-73-4), so that no program can use the card's
// key without the PIN again. OpenSC's C_Logout does not do this for PIV
// cards (it leaves the card verified until it is reset or pulled). A card
// that does not know the command gives ErrNotPIV.
func PIVLogout(ctx context.Context, reader string) error {
	c, err := Connect(ctx, reader)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Transmit(ctx, pivLogout)
	if err != nil {
		return err
	}
	if sw := statusWord(r); sw != 0x9000 {
		return fmt.Errorf("%w: VERIFY P1=FF answered %04X", ErrNotPIV, sw)
	}
	return nil
}
