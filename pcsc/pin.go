package pcsc

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"github.com/miekg/pkcs11"
)

// PINStatus is the user PIN's state as the token's flags tell it.
type PINStatus struct {
	// Retries is the number of tries left: 0 when locked, 1 on the final
	// try, -1 when the token does not say (the usual case: PKCS#11 has no
	// counter, and OpenSC's PIV driver never sets COUNT_LOW).
	Retries int
	// CountLow: a wrong PIN was entered since the last good one
	// (CKF_USER_PIN_COUNT_LOW; SoftHSM2 sets it, and never locks).
	CountLow bool
	// FinalTry: the next wrong PIN locks the card (CKF_USER_PIN_FINAL_TRY).
	FinalTry bool
	// Locked: the PIN is blocked (CKF_USER_PIN_LOCKED).
	Locked bool
}

func pinStatusFromFlags(flags uint) PINStatus {
	s := PINStatus{
		Retries:  -1,
		CountLow: flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0,
		FinalTry: flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		Locked:   flags&pkcs11.CKF_USER_PIN_LOCKED != 0,
	}
	switch {
	case s.Locked:
		s.Retries = 0
	case s.FinalTry:
		s.Retries = 1
	}
	return s
}

func (s PINStatus) pinError(cause error) *PINError {
	return &PINError{Retries: s.Retries, CountLow: s.CountLow, FinalTry: s.FinalTry, Locked: s.Locked, Err: cause}
}

// PINStatus reads the PIN state from the token's flags. It spends no try.
func (t *Token) PINStatus(ctx context.Context) (PINStatus, error) {
	if err := t.lock(ctx); err != nil {
		return PINStatus{}, err
	}
	defer t.mu.Unlock()
	return t.pinStatus(ctx)
}

func (t *Token) pinStatus(ctx context.Context) (PINStatus, error) {
	ti, err := t.p.GetTokenInfo(t.slot)
	if err != nil {
		return PINStatus{}, t.fail(ctx, "read token flags", err)
	}
	return pinStatusFromFlags(ti.Flags), nil
}

// LoginOptions change how Login treats the PIN state.
type LoginOptions struct {
	// AllowFinalTry lets Login send the PIN when the token reports that
	// the next wrong PIN locks it. Set it only after the person confirmed
	// this one attempt.
	AllowFinalTry bool
}

// Login logs the user in with pin, and clears pin (the caller's slice) in
// every case, refusal and error included.
//
// It reads the token's flags first and does not send the PIN when the PIN
// is locked (a *PINError matching ErrPINLocked) or on the final try without
// opts.AllowFinalTry (a *PINError matching ErrFinalTry). A wrong PIN gives a
// *PINError matching ErrPINIncorrect with the flags read after the attempt,
// so it also matches ErrFinalTry or ErrPINLocked when that attempt brought
// the card there.
//
// The PIN is always verified, also when the token is logged in already
// (by this Token or another one of this program: PKCS#11 keeps one login
// per program and token), so a caller may take success as "the person
// knows the PIN", to unlock a locked session say. The module would answer
// CKR_USER_ALREADY_LOGGED_IN without checking the PIN; Login then logs out
// and logs in again, so a wrong PIN leaves the token logged out, for every
// Token of this program on it.
//
// The PIN reaches the module without a Go string copy; miekg/pkcs11 copies
// it into C memory for the call and frees that without clearing it.
func (t *Token) Login(ctx context.Context, pin []byte, opts LoginOptions) error {
	defer clear(pin)
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.mu.Unlock()
	if len(pin) == 0 {
		return fmt.Errorf("pcsc: login: %w: empty", ErrPINInvalid)
	}
	before, err := t.pinStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case before.Locked:
		return before.pinError(ErrPINLocked)
	case before.FinalTry && !opts.AllowFinalTry:
		return before.pinError(ErrFinalTry)
	}
	pinText := unsafe.String(unsafe.SliceData(pin), len(pin))
	err = t.p.Login(t.session, pkcs11.CKU_USER, pinText)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		// The module did not look at the PIN (OpenSC does not even send it
		// to the card). Have it checked: log out - which ends the login of
		// every session of this program with the token - and log in again.
		t.loggedIn = false
		t.loginGen++
		if lerr := t.p.Logout(t.session); lerr != nil && !errors.Is(lerr, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)) {
			return t.fail(ctx, "logout before login", lerr)
		}
		err = t.p.Login(t.session, pkcs11.CKU_USER, pinText)
	}
	if err == nil {
		t.loggedIn = true
		t.loginGen++
		t.logger.Debug("pcsc login", "reader", t.reader)
		return nil
	}
	mapped := t.fail(ctx, "login", err)
	var cause error
	switch {
	case errors.Is(mapped, ErrPINIncorrect):
		cause = ErrPINIncorrect
	case errors.Is(mapped, ErrPINLocked):
		cause = ErrPINLocked
	default:
		return mapped
	}
	after, ferr := t.pinStatus(ctx)
	if ferr != nil {
		after = PINStatus{Retries: -1}
	}
	if cause == ErrPINLocked {
		after.Locked, after.Retries = true, 0
	}
	t.logger.Debug("pcsc login refused", "reader", t.reader, "final_try", after.FinalTry, "locked", after.Locked)
	return after.pinError(cause)
}

// Logout ends the logged-in state. Not being logged in is success.
func (t *Token) Logout(ctx context.Context) error {
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.mu.Unlock()
	err := t.p.Logout(t.session)
	t.loggedIn = false
	t.loginGen++
	if err == nil || errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)) {
		return nil
	}
	return t.fail(ctx, "logout", err)
}
