package cis

import (
	"fmt"
	"time"
)

// DefaultSkew is the clock skew CheckTime allows by default on either side
// of an assertion's validity window. The SSB's window is a few minutes wide
// and one public sample is off by an hour, so the skew is configurable.
const DefaultSkew = 5 * time.Minute

// CheckTime reports whether the assertion is valid at now, allowing skew on
// both sides: NotBefore-skew <= now < NotOnOrAfter+skew. Outside that
// window it returns an error wrapping ErrExpired that says which bound was
// missed. A negative skew counts as zero.
func (a *Assertion) CheckTime(now time.Time, skew time.Duration) error {
	if skew < 0 {
		skew = 0
	}
	if a == nil {
		return fmt.Errorf("cis: no assertion: %w", ErrExpired)
	}
	if now.Before(a.NotBefore.Add(-skew)) {
		return fmt.Errorf("cis: RoleAssertion not yet valid: NotBefore %s, now %s, allowed skew %s: %w",
			a.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew, ErrExpired)
	}
	if !now.Before(a.NotOnOrAfter.Add(skew)) {
		return fmt.Errorf("cis: RoleAssertion expired: NotOnOrAfter %s, now %s, allowed skew %s: %w",
			a.NotOnOrAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew, ErrExpired)
	}
	return nil
}
