package cissim

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/opencis/cisauth/cis"
)

// handlerTransport serves requests with a handler in-process, so that a
// synctest bubble holds the whole delivery.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// TestListenerTimer: a session with listeners has its timeout noticed by a
// timer, without anyone using it, at the moment its time runs out; using
// the session moves that moment. The simulator's clock is the bubble's
// (time.Now), so time.Sleep advances it without waiting.
func TestListenerTimer(t *testing.T) {
	alice := DemoUsers()[0]
	getSession := func(s *testSim, tk cis.Ticket) {
		w := s.do("POST", "/amserver/sessionservice", `<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[<SessionRequest vers="1.0" reqid="0"><GetSession reset="true"><SessionID>`+tk.Reveal()+`</SessionID></GetSession></SessionRequest>]]></Request></RequestSet>`)
		if w.Code != http.StatusOK {
			t.Fatalf("GetSession: HTTP %d", w.Code)
		}
	}
	for _, c := range []struct {
		name      string
		idle, max time.Duration
		touches   []time.Duration // GetSession reset="true" at these times
		at        time.Duration   // when the notification must come
		typ       cis.SessionEventType
	}{
		{"idle", 15 * time.Minute, 10 * time.Hour, nil, 15 * time.Minute, cis.SessionIdleTimeout},
		{"idle after use", 15 * time.Minute, 10 * time.Hour, []time.Duration{10 * time.Minute}, 25 * time.Minute, cis.SessionIdleTimeout},
		{"max despite use", 30 * time.Minute, time.Hour, []time.Duration{20 * time.Minute, 40 * time.Minute}, time.Hour, cis.SessionMaxTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sink := &listenerSink{events: make(chan received, 16)}
				s := newTestSim(t, func(cfg *Config) {
					cfg.Now = time.Now
					cfg.SessionTime, cfg.MaxSessionTime = c.idle, c.max
					cfg.NotifyClient = &http.Client{Transport: handlerTransport{sink.handler(t)}}
				})
				start := time.Now()
				tk, err := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.listen(t, tk, "http://app.example/notify"); err != nil {
					t.Fatal(err)
				}
				for _, at := range c.touches {
					time.Sleep(at - time.Since(start)) // fake time: advances the bubble's clock
					getSession(s, tk)
				}
				r := <-sink.events
				if got := time.Since(start); got != c.at {
					t.Errorf("notified after %v, want %v", got, c.at)
				}
				if r.event.Type != c.typ || r.event.Session.Ticket != tk || r.event.Session.State != cis.SessionStateInvalid {
					t.Errorf("event %v", r.event)
				}
				if _, err := s.SessionID(tk); err != ErrNoSession {
					t.Errorf("session still live after its timeout notification: %v", err)
				}
				synctest.Wait()
				if len(sink.events) != 0 {
					t.Errorf("%d more notifications", len(sink.events))
				}
			})
		})
	}
}
