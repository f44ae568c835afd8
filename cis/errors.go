package cis

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Sentinel errors returned (wrapped) by the clients and parsers in this
// package. Test for them with errors.Is.
var (
	// ErrInvalidRequest means GAS refused the request as malformed
	// ("Invalid input request").
	ErrInvalidRequest = errors.New("cis: invalid input request")
	// ErrValidationFailed means GAS did not accept the signed challenge
	// ("Failed To Validate"): bad signature, certificate or challenge.
	ErrValidationFailed = errors.New("cis: failed to validate")
	// ErrSessionInvalid means the SSO session behind a ticket is unknown,
	// expired or logged out.
	ErrSessionInvalid = errors.New("cis: SSO session invalid")
	// ErrMaintenance means the service is in a maintenance slot. The error
	// is a *MaintenanceError carrying the slot and its end.
	ErrMaintenance = errors.New("cis: service in maintenance")
	// ErrTimeout means a request to CIS did not complete in time.
	ErrTimeout = errors.New("cis: request timed out")
	// ErrTrust means the server's TLS certificate did not verify against
	// the environment's trust anchors.
	ErrTrust = errors.New("cis: TLS trust failure")
	// ErrUnavailable means CIS answered with a server error or could not
	// be reached.
	ErrUnavailable = errors.New("cis: service unavailable")
	// ErrMalformed means a message from outside could not be parsed.
	ErrMalformed = errors.New("cis: malformed message")
	// ErrTooLarge means a message exceeded the configured size limit.
	ErrTooLarge = errors.New("cis: message too large")
	// ErrExpired means an assertion is outside its validity window
	// (NotBefore/NotOnOrAfter, allowing for the configured clock skew).
	ErrExpired = errors.New("cis: assertion outside its validity window")
	// ErrUnknownRole means a role id is not one of the user's roles.
	ErrUnknownRole = errors.New("cis: role is not one of the user's")
)

// MaintenanceError reports that a CIS environment is in a maintenance slot.
// It matches ErrMaintenance with errors.Is.
type MaintenanceError struct {
	// Slot names the slot, e.g. "Spine CIS Mon 20:00-Tue 06:00".
	Slot string
	// Ends is when the slot ends; zero if unknown.
	Ends time.Time
	// Err is the underlying failure, if any.
	Err error
}

func (e *MaintenanceError) Error() string {
	s := "cis: service in its maintenance slot"
	if e.Slot != "" {
		s += " (" + e.Slot + ")"
	}
	if !e.Ends.IsZero() {
		s += " until " + e.Ends.Format("Mon 2 Jan 15:04 MST")
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrMaintenance.
func (e *MaintenanceError) Is(target error) bool { return target == ErrMaintenance }

// Unwrap returns the underlying failure.
func (e *MaintenanceError) Unwrap() error { return e.Err }

// ParseError locates a parse failure in an outside message. It wraps
// ErrMalformed (or ErrTooLarge) so callers can test with errors.Is.
type ParseError struct {
	// What names the message, e.g. "gpOBJECT" or "RoleAssertion".
	What string
	// Offset is the byte offset of the failure, or -1 if unknown.
	Offset int64
	// Msg says what is wrong.
	Msg string
	// Err is ErrMalformed, ErrTooLarge or a more specific cause.
	Err error
}

func (e *ParseError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("cis: %s: at byte %d: %s", e.What, e.Offset, e.Msg)
	}
	return fmt.Sprintf("cis: %s: %s", e.What, e.Msg)
}

// Unwrap returns the cause.
func (e *ParseError) Unwrap() error {
	if e.Err == nil {
		return ErrMalformed
	}
	return e.Err
}

// maxQuoted bounds a piece of outside input (a name, a namespace URI)
// quoted in an error message: a document may hold names of any length, and
// an error is logged.
const maxQuoted = 64

// clip returns s cut to at most maxQuoted bytes at a character boundary,
// with "…" where it was cut, for an error message.
func clip[T ~string | ~[]byte](s T) string {
	if len(s) <= maxQuoted {
		return string(s)
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return string(s[:n]) + "…"
}
