package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/opencis/cisauth/cis"
)

// validated is a RoleAssertion the middleware fetched and checked, with
// the time of the fetch (on the middleware's clock).
type validated struct {
	a       *cis.Assertion
	fetched time.Time
}

// invalidTTL is how long a ticket the SSB called invalid is refused
// without asking again: a client posting a dead ticket in a loop costs one
// fetch per invalidTTL, not one per request.
const invalidTTL = 5 * time.Second

// maxInvalid bounds the remembered invalid tickets.
const maxInvalid = 100_000

// validation asks the Validator about tickets: through the store's cache
// (a fetch is good for the revalidation interval, on every instance that
// shares the store), with one fetch in flight per ticket, a timeout, and a
// backoff that stops all fetches for a while when the SSB fails.
type validation struct {
	v       Validator
	be      backend
	group   singleflight.Group
	ttl     time.Duration
	timeout time.Duration
	skew    time.Duration
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics
	brk     breaker

	mu      sync.Mutex
	invalid map[ticketHash]time.Time
}

// get returns a validation of t: from the cache unless force, else from a
// fetch shared with every other caller asking about t at the same time.
// The caller's ctx only bounds its own wait: the fetch runs on, bounded by
// the validation timeout, for the others.
func (v *validation) get(ctx context.Context, t cis.Ticket, th ticketHash, force bool) (*validated, error) {
	if !force {
		if c := v.cached(ctx, th); c != nil {
			v.metrics.cacheHits.Inc()
			return c, nil
		}
	}
	key := string(th[:])
	if force {
		key = "force:" + key
	}
	fctx := context.WithoutCancel(ctx)
	ch := v.group.DoChan(key, func() (any, error) { return v.fetch(fctx, t, th, force) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*validated), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// cached returns the store's validation of th if it is fresh.
func (v *validation) cached(ctx context.Context, th ticketHash) *validated {
	c, err := v.be.assertion(ctx, th)
	if err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "validation cache unreadable", slog.String("error", err.Error()))
		return nil
	}
	if c == nil {
		return nil
	}
	if age := v.now().Sub(c.fetched); age < 0 || age >= v.ttl {
		return nil
	}
	return c
}

func (v *validation) fetch(ctx context.Context, t cis.Ticket, th ticketHash, force bool) (*validated, error) {
	if !force {
		// A fetch that ended just before this flight began has filled the
		// cache: use it.
		if c := v.cached(ctx, th); c != nil {
			v.metrics.cacheHits.Inc()
			return c, nil
		}
	}
	v.metrics.cacheMisses.Inc()
	if v.v == nil {
		// No legacy source here (a CIS2-only service): a ticket's session,
		// say from a fleet's shared store, cannot be checked, so it ends.
		return nil, fmt.Errorf("middleware: no SSB configured to check a ticket: %w", cis.ErrSessionInvalid)
	}
	now := v.now()
	if v.knownInvalid(th, now) {
		v.metrics.validation("session_invalid_cached")
		return nil, fmt.Errorf("middleware: ticket refused by the SSB less than %s ago: %w", invalidTTL, cis.ErrSessionInvalid)
	}
	if err := v.brk.allow(now); err != nil {
		v.metrics.validation("backoff")
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	a, err := v.v.Validate(ctx, t)
	if err == nil {
		err = v.check(a, now)
	}
	v.metrics.validateDuration.Observe(v.now().Sub(now).Seconds())
	v.metrics.validation(outcome(err))
	v.brk.record(v.now(), err)
	if err != nil {
		if errors.Is(err, cis.ErrSessionInvalid) {
			v.rememberInvalid(th, now)
			if derr := v.be.dropAssertion(ctx, th); derr != nil {
				v.log.LogAttrs(ctx, slog.LevelWarn, "validation cache not cleared", slog.String("error", derr.Error()))
			}
		}
		return nil, err
	}
	c := &validated{a: a, fetched: now}
	if err := v.be.keepAssertion(ctx, th, c, v.ttl); err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "validation not cached", slog.String("error", err.Error()))
	}
	return c, nil
}

// check is the middleware's own check of an assertion, whatever the
// Validator did: the validity window with the configured skew, a user id,
// and the selected role among the user's roles.
func (v *validation) check(a *cis.Assertion, now time.Time) error {
	if a == nil {
		return fmt.Errorf("middleware: validator returned no assertion: %w", cis.ErrMalformed)
	}
	if err := a.CheckTime(now, v.skew); err != nil {
		return err
	}
	if a.User.UID == "" {
		return fmt.Errorf("middleware: assertion without a user id: %w", cis.ErrMalformed)
	}
	if a.SelectedRole() == nil {
		return fmt.Errorf("middleware: the assertion's selected role is not one of the user's roles: %w", cis.ErrMalformed)
	}
	return nil
}

func (v *validation) knownInvalid(th ticketHash, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	until, ok := v.invalid[th]
	if ok && !now.Before(until) {
		delete(v.invalid, th)
		return false
	}
	return ok
}

func (v *validation) rememberInvalid(th ticketHash, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.invalid) >= maxInvalid {
		for k, until := range v.invalid {
			if !now.Before(until) {
				delete(v.invalid, k)
			}
		}
		if len(v.invalid) >= maxInvalid {
			clear(v.invalid)
		}
	}
	v.invalid[th] = now.Add(invalidTTL)
}

// forget drops everything known about a ticket's validation, so that the
// next question goes to the SSB.
func (v *validation) forget(ctx context.Context, th ticketHash) error {
	v.mu.Lock()
	delete(v.invalid, th)
	v.mu.Unlock()
	return v.be.dropAssertion(ctx, th)
}

// outcome names an error for the validations metric: a fixed set of
// labels, never anything from the error's text.
func outcome(err error) string {
	var me *cis.MaintenanceError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, cis.ErrSessionInvalid):
		return "session_invalid"
	case errors.As(err, &me), errors.Is(err, cis.ErrMaintenance):
		return "maintenance"
	case errors.Is(err, cis.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, cis.ErrTrust):
		return "trust"
	case errors.Is(err, cis.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, cis.ErrExpired):
		return "expired"
	case errors.Is(err, cis.ErrTooLarge):
		return "too_large"
	case errors.Is(err, cis.ErrMalformed):
		return "malformed"
	}
	return "error"
}

// Backoff of the breaker: the first failure stops fetches for
// backoffMin, each further one doubles it, up to backoffMax.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 30 * time.Second
)

// breaker stops fetches while the SSB (or a CIS2 provider) is failing (unreachable, timing out,
// in maintenance, untrusted TLS): after a failure no fetch is made until
// the backoff has passed, then one probe goes; its success closes the
// breaker, its failure doubles the backoff. Callers meanwhile fail at once
// with the last failure, so a failing SSB sees no retry storm.
type breaker struct {
	service  string // named in BackoffError; "SSB" if empty
	mu       sync.Mutex
	failures int
	until    time.Time
	probing  bool
	last     error
}

// BackoffError is a validation refused without asking the SSB (or, for a
// CIS2 session, the CIS2 provider) because it failed moments ago. It
// unwraps to that failure (a cis error), and Until says when the next
// attempt will be made.
type BackoffError struct {
	Until   time.Time
	Err     error
	service string
}

func (e *BackoffError) Error() string {
	service := e.service
	if service == "" {
		service = "SSB"
	}
	return "middleware: " + service + " failing, next attempt at " + e.Until.UTC().Format(time.RFC3339) + ": " + e.Err.Error()
}

// Unwrap returns the failure that started the backoff.
func (e *BackoffError) Unwrap() error { return e.Err }

func (b *breaker) allow(now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures == 0 {
		return nil
	}
	if now.Before(b.until) || b.probing {
		return &BackoffError{Until: b.until, Err: b.last, service: b.service}
	}
	b.probing = true
	return nil
}

func (b *breaker) record(now time.Time, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if !serviceFailure(err) {
		if err == nil || errors.Is(err, cis.ErrSessionInvalid) {
			// The SSB answered: it is up.
			b.failures = 0
		}
		return
	}
	b.failures++
	d := backoffMin << min(b.failures-1, 10)
	d = min(d, backoffMax)
	b.until = now.Add(d)
	var me *cis.MaintenanceError
	if errors.As(err, &me) && me.Ends.After(now) && me.Ends.Before(b.until) {
		b.until = me.Ends
	}
	b.last = err
}

// serviceFailure reports whether err says the SSB cannot answer now (as
// opposed to an answer about one ticket).
func serviceFailure(err error) bool {
	if err == nil || errors.Is(err, cis.ErrExpired) {
		return false
	}
	status, _ := cis.HTTPStatus(err)
	return status == http.StatusServiceUnavailable
}
