package cis2

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRefused matches every login this package refuses: a callback that is
// not for the login in progress, a provider error, an ID token or UserInfo
// that fails a check, an assurance below policy.
var ErrRefused = errors.New("cis2: login refused")

// refusal is a sentinel that also matches ErrRefused.
type refusal string

func (r refusal) Error() string { return string(r) }

// Is reports whether target is ErrRefused.
func (r refusal) Is(target error) bool { return target == ErrRefused }

// Sentinels for refused logins; each also matches ErrRefused.
var (
	// ErrCallback means the callback's query is malformed (a parameter
	// repeated, too long, or with characters OAuth does not allow).
	ErrCallback error = refusal("cis2: malformed callback")
	// ErrState means the callback's state is not the login in progress's
	// (a forged or stale callback, or another browser's).
	ErrState error = refusal("cis2: callback state does not match the login in progress")
	// ErrIssuerMismatch means the callback's iss (RFC 9207) names another
	// provider: a mix-up attack or a misrouted callback.
	ErrIssuerMismatch error = refusal("cis2: callback from another issuer")
	// ErrLoginExpired means the login in progress is older than
	// Config.LoginTimeout.
	ErrLoginExpired error = refusal("cis2: login in progress expired")
	// ErrGrant means the token endpoint refused the authorization code
	// (used already, expired, PKCE verifier wrong, another client's).
	ErrGrant error = refusal("cis2: authorization code refused by the provider")
	// ErrIDToken means the ID token failed a check: signature, algorithm,
	// key, issuer, audience, azp, expiry, issued-at, nonce, auth_time, sub.
	ErrIDToken error = refusal("cis2: ID token refused")
	// ErrAssurance means the ID token's acr or amr does not meet the
	// assurance policy (by default: AAL3 and a smartcard method).
	ErrAssurance error = refusal("cis2: authentication assurance below policy")
	// ErrSubject means UserInfo is about another subject than the ID token.
	ErrSubject error = refusal("cis2: UserInfo subject differs from the ID token's")
)

// ErrClient means the provider refused this application's client
// credentials (invalid_client): a configuration problem, not the user's.
var ErrClient = errors.New("cis2: provider refused the client credentials")

// ErrNoEndSession means the provider's discovery document has no
// end_session_endpoint, so there is no RP-initiated logout.
var ErrNoEndSession = errors.New("cis2: provider offers no end_session_endpoint")

// ProviderError is an OAuth error the provider sent back to the redirect
// URI (RFC 6749 §4.1.2.1), e.g. access_denied or login_required. It matches
// ErrRefused.
type ProviderError struct {
	Code        string // error
	Description string // error_description, sanitised
}

func (e *ProviderError) Error() string {
	s := "cis2: provider answered " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Is reports whether target is ErrRefused.
func (e *ProviderError) Is(target error) bool { return target == ErrRefused }

// maxShown bounds outside text put into error messages.
const maxShown = 200

// shown makes outside text safe for an error message or a log: printable
// ASCII only (others become '?'), at most maxShown bytes.
func shown(s string) string {
	long := len(s) > maxShown
	if long {
		s = s[:maxShown]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	if long {
		s += "..."
	}
	return s
}

func refused(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
