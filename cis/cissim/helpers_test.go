package cissim

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the injected clock of the tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)} // a Thursday
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testSim struct {
	*Simulator
	clock  *fakeClock
	cardCA *x509.Certificate
}

// newTestSim makes a simulator with the demo users, a fresh card CA and a
// fake clock; edit adjusts the Config.
func newTestSim(t testing.TB, edit func(*Config)) *testSim {
	t.Helper()
	clock := newFakeClock()
	ca, _, err := NewCardCA("SubCA test", nil, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Users: DemoUsers(), CardCAs: []*x509.Certificate{ca}, BaseURL: "https://sim.test:7443", Now: clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testSim{Simulator: s, clock: clock, cardCA: ca}
}

// do serves a request in-process from a loopback client to a loopback
// address.
func (s *testSim) do(method, target, body string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	r.RemoteAddr, r.Host = "127.0.0.1:50000", "127.0.0.1:7443"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}
