package middleware_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/middleware"
)

// Instant logout: the time from a GAS logout (what the agent sends when the
// card is pulled) to the first request the web session is refused, against
// the in-process simulator. Run with -benchtime 100x for 100 logouts:
//
//	go test -run '^$' -bench LogoutToRefusal -benchtime 100x ./middleware
//
// "notify": notifications on, revalidation every nine hours: only the
// notification can end the session. "revalidate": notifications off,
// revalidation every benchRevalidate; the logout falls at a uniformly random
// point of the interval (the injected clock is moved by a random phase
// after the login), as it does in life, so the wait is benchRevalidate -
// phase plus one RoleAssertion request. The same formula gives the default
// 60 s interval's figures: median 30 s, p99 59.4 s.
//
// A client polls GET /whoami every millisecond from the logout on. Every
// run also checks that exactly one RoleAssertion request was made between
// the logout and the refusal: the one that found the SSO session gone; the
// polls (the authenticated hot path) made none.

const benchRevalidate = time.Second

func BenchmarkLogoutToRefusal(b *testing.B) {
	b.Run("notify", func(b *testing.B) {
		nf := newNotifyFixture(b, cissim.Config{})
		runLogoutToRefusal(b, nf.fixture, true)
	})
	b.Run("revalidate", func(b *testing.B) {
		f := newFixture(b, func(f *fixture) { f.cfg.Revalidate = benchRevalidate })
		runLogoutToRefusal(b, f, false)
	})
}

func runLogoutToRefusal(b *testing.B, f *fixture, notify bool) {
	ctx := context.Background()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	waits := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		sess := f.srv.MustLoginSession(b, alice, aliceRole)
		c := f.login(sess.Ticket)
		if notify {
			f.waitRegistered(i + 1)
		} else {
			f.clock.Advance(rand.N(benchRevalidate))
		}
		before := f.fetches()
		deadline := time.Now().Add(30 * time.Second)
		b.StartTimer()
		start := time.Now()
		if err := f.srv.GASLogout(ctx, sess); err != nil {
			b.Fatal(err)
		}
		for f.status(c) != http.StatusUnauthorized {
			if time.Now().After(deadline) {
				b.Fatal("the web session was not refused within 30 s")
			}
			<-tick.C
		}
		waits = append(waits, time.Since(start))
		b.StopTimer()
		if n := f.fetches() - before; n != 1 {
			b.Fatalf("run %d: %d RoleAssertion requests between the logout and the refusal, want 1", i, n)
		}
	}
	slices.Sort(waits)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(waits, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(waits, 99)), "p99-ms")
	b.ReportMetric(ms(waits[len(waits)-1]), "max-ms")
}

// percentile is the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // ceil(n·p/100), 1-based
	return sorted[max(i, 1)-1]
}

// The hot path with notifications on: a request with a valid session makes
// no request to the SSB, the session service or the naming service.
func BenchmarkHotPathNotify(b *testing.B) {
	nf := newNotifyFixture(b, cissim.Config{})
	app := &countingApp{}
	h := nf.m.Handler(middleware.RequireActivity("B0264")(app))
	c := nf.login(nf.srv.MustLogin(b, alice, aliceRole))
	nf.waitRegistered(1)
	before := metric(b, nf.simReg, "cissim_requests_total")
	runHotPath(b, h, app, c)
	if n := metric(b, nf.simReg, "cissim_requests_total") - before; n != 0 {
		b.Fatalf("%v simulator requests on the hot path", n)
	}
}
