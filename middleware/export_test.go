package middleware

import (
	"context"

	"github.com/opencis/cisauth/cis"
)

// Internals for the external tests.

// Trusted reports whether a store's local cache is trusted (a Redis store
// whose event subscription is up).
func Trusted(s Store) bool { return s.core().be.trusted() }

// CachedSessions is the number of sessions in a store's local cache.
func CachedSessions(s Store) int { return s.core().cache.count() }

// RecheckTicket runs the internal "check this ticket's sessions now" path.
func (m *Middleware) RecheckTicket(ctx context.Context, t cis.Ticket) error {
	_, err := m.recheckTicket(ctx, hashTicket(t))
	return err
}

// MaxBody is the cap on a POST endpoint's body.
const MaxBody = maxBody

// SafeReturn exposes safeReturn to the fuzz target.
func SafeReturn(s string) string { return safeReturn(s) }
