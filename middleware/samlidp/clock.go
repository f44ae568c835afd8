package samlidp

import (
	"time"

	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"
)

// funcClock is a clockwork.Clock whose Now is Config.Now, so that crewjam's
// IdentityProvider reads the same clock as the rest of the bridge instead of
// its package-level TimeNow. Timers and sleeps stay real: the IdP does not
// use them on the paths the bridge serves.
type funcClock struct {
	clockwork.Clock
	now func() time.Time
}

func (c funcClock) Now() time.Time                  { return c.now() }
func (c funcClock) Since(t time.Time) time.Duration { return c.now().Sub(t) }
func (c funcClock) Until(t time.Time) time.Duration { return t.Sub(c.now()) }

// dsigClock wraps now for crewjam and goxmldsig.
func dsigClock(now func() time.Time) *dsig.Clock {
	return dsig.NewFakeClock(funcClock{Clock: clockwork.NewRealClock(), now: now})
}
