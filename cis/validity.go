package cis

import (
	"fmt"
	"time"
)

// DefaultSkew is the clock skew CheckTime allows by default on either side
// of an assertion's validity window. The SSB's window is a few minutes wide
// and one public sample is off by an hour, so the skew is configurable.
const DefaultSkew = 5 * time.Minute

// MaxAssertionWindow is the longest validity window (NotBefore to
// NotOnOrAfter) ParseRoleAssertion accepts. The SSB's is about four minutes
// (three before the issue instant, one after).
const MaxAssertionWindow = time.Hour

// CheckTime reports whether the assertion is valid at now, allowing skew on
// both sides: NotBefore-skew <= now < NotOnOrAfter+skew, and it was issued
// in its window: NotBefore-skew <= IssueInstant < NotOnOrAfter+skew (the
// SSB issues it inside; an issue instant outside is a clock or time zone
// fault of the SSB, like the public sample an hour off, which passes only
// with an hour's skew). Otherwise it returns an error wrapping ErrExpired
// that says which bound was missed. A negative skew counts as zero.
func (a *Assertion) CheckTime(now time.Time, skew time.Duration) error {
	if skew < 0 {
		skew = 0
	}
	if a == nil {
		return fmt.Errorf("cis: no assertion: %w", ErrExpired)
	}
	if a.IssueInstant.Before(a.NotBefore.Add(-skew)) || !a.IssueInstant.Before(a.NotOnOrAfter.Add(skew)) {
		return fmt.Errorf("cis: RoleAssertion IssueInstant %s outside its validity window %s – %s, allowed skew %s: %w",
			a.IssueInstant.UTC().Format(time.RFC3339), a.NotBefore.UTC().Format(time.RFC3339),
			a.NotOnOrAfter.UTC().Format(time.RFC3339), skew, ErrExpired)
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
