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
	// ErrNoToken means no initialised token matches (none in the reader's
	// slot, or none with the label asked for).
	ErrNoToken = errors.New("pcsc: no token")
	// ErrNoKey means the token holds no usable authentication key with a
	// matching X.509 certificate (or its private keys are hidden until
	// login).
	ErrNoKey = errors.New("pcsc: no authentication key and certificate")
	// ErrNoUID means the authentication certificate's CN is not a 12-digit
	// user id.
	ErrNoUID = errors.New("pcsc: certificate CN is not a 12-digit user id")
	// ErrPINIncorrect means the token rejected the PIN.
	ErrPINIncorrect = errors.New("pcsc: PIN incorrect")
	// ErrPINLocked means the PIN is blocked: no further tries are possible.
	ErrPINLocked = errors.New("pcsc: PIN locked")
	// ErrFinalTry means the next wrong PIN locks the card. Login returns it
	// without sending the PIN unless LoginOptions.AllowFinalTry is set.
	ErrFinalTry = errors.New("pcsc: final PIN try")
	// ErrPINInvalid means the PIN was refused before any try was spent:
	// empty, or of a length or characters the token does not accept.
	ErrPINInvalid = errors.New("pcsc: PIN has an invalid length or characters")
	// ErrNotLoggedIn means the operation needs Login first.
	ErrNotLoggedIn = errors.New("pcsc: not logged in")
	// ErrModule means the PKCS#11 module could not be loaded or initialised.
	ErrModule = errors.New("pcsc: PKCS#11 module failed")
	// ErrMechanism means the token lacks the signing mechanism needed.
	ErrMechanism = errors.New("pcsc: signing mechanism not supported by the token")
	// ErrClosed means the Token or Card was closed.
	ErrClosed = errors.New("pcsc: closed")
)

// PINError reports a refused or failed login with the PIN state the token
// showed afterwards (or, for a refusal, before). errors.Is matches
// ErrPINIncorrect when the PIN was wrong, ErrFinalTry when the next try is
// the last, and ErrPINLocked when the PIN is blocked; errors.As gives the
// details to show the person.
type PINError struct {
	// Retries is the number of tries left, or -1 when the token does not
	// say (PKCS#11 only tells final try and locked; SoftHSM2 never locks).
	Retries int
	// CountLow, FinalTry and Locked are the token's
	// CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY and CKF_USER_PIN_LOCKED.
	CountLow, FinalTry, Locked bool
	// Err is the cause: ErrPINIncorrect, ErrFinalTry (refused, not sent) or
	// ErrPINLocked.
	Err error
}

// Error says what happened and what is left, never the PIN.
func (e *PINError) Error() string {
	msg := e.Err.Error()
	switch {
	case e.Locked && e.Err != ErrPINLocked:
		return msg + " (the PIN is now locked)"
	case e.Locked:
		return msg
	case e.FinalTry && e.Err == ErrFinalTry:
		return msg + " (a wrong PIN locks the card)"
	case e.FinalTry:
		return msg + " (one try left: a wrong PIN locks the card)"
	case e.Retries >= 0:
		return fmt.Sprintf("%s (%d tries left)", msg, e.Retries)
	case e.CountLow:
		return msg + " (few tries left)"
	}
	return msg
}

// Unwrap returns Err.
func (e *PINError) Unwrap() error { return e.Err }

// Is reports the state flags as sentinels: a wrong PIN that leaves one try
// matches both ErrPINIncorrect and ErrFinalTry.
func (e *PINError) Is(target error) bool {
	switch target {
	case ErrFinalTry:
		return e.FinalTry && !e.Locked
	case ErrPINLocked:
		return e.Locked
	}
	return false
}

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
