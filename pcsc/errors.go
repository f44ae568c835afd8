package pcsc

import (
	"errors"
	"fmt"

	"github.com/ebfe/scard"
)

// Errors a caller can act on. Every error returned by this package that means
// one of these wraps it: test with errors.Is.
var (
	// ErrCardRemoved means the card (or token) was pulled, before or during
	// the operation. PC/SC reports this as SCARD_W_REMOVED_CARD (pulled
	// while idle), SCARD_E_NOT_TRANSACTED (pulled during a command) or
	// SCARD_E_NO_SMARTCARD; PKCS#11 as CKR_TOKEN_NOT_PRESENT,
	// CKR_DEVICE_REMOVED, or CKR_SESSION_HANDLE_INVALID once the token is
	// gone. A Token whose card was removed stays unusable: open a new one.
	ErrCardRemoved = errors.New("pcsc: card removed")
	// ErrNoReader means the named reader (or PKCS#11 slot) does not exist.
	ErrNoReader = errors.New("pcsc: no such reader")
	// ErrNoService means pcscd is not running or stopped.
	ErrNoService = errors.New("pcsc: PC/SC service not available")
)

// scardError maps a PC/SC error onto the package's sentinels and keeps the
// original in the chain.
func scardError(op string, err error) error {
	if err == nil {
		return nil
	}
	var se scard.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	switch se {
	case scard.ErrRemovedCard, scard.ErrNotTransacted, scard.ErrNoSmartcard:
		return fmt.Errorf("pcsc: %s: %w (%w)", op, ErrCardRemoved, err)
	case scard.ErrUnknownReader, scard.ErrReaderUnavailable, scard.ErrNoReadersAvailable:
		return fmt.Errorf("pcsc: %s: %w (%w)", op, ErrNoReader, err)
	case scard.ErrNoService, scard.ErrServiceStopped:
		return fmt.Errorf("pcsc: %s: %w (%w)", op, ErrNoService, err)
	}
	return fmt.Errorf("pcsc: %s: %w", op, err)
}
