package cistest_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
)

func TestSessionListener(t *testing.T) {
	srv := cistest.NewServer(t)
	l := cistest.NewListener(t)
	ctx := context.Background()
	alice := cissim.DemoUsers()[0]
	for _, c := range []struct {
		name  string
		end   func(cis.Ticket) error
		typ   cis.SessionEventType
		state string
	}{
		{"logout", srv.Logout, cis.SessionLogout, cis.SessionStateDestroyed},
		{"expire", srv.ExpireSession, cis.SessionDestroyed, cis.SessionStateDestroyed},
		{"idle timeout", srv.IdleTimeout, cis.SessionIdleTimeout, cis.SessionStateInvalid},
		{"max timeout", srv.MaxTimeout, cis.SessionMaxTimeout, cis.SessionStateInvalid},
	} {
		tk := srv.MustLogin(t, alice.UID, "")
		if err := srv.AddSessionListener(ctx, tk, l.URL); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := c.end(tk); err != nil {
			t.Fatal(err)
		}
		e := l.MustNext(t)
		if e.Type != c.typ || e.Session.State != c.state || e.Session.Ticket != tk || !e.Ended() {
			t.Errorf("%s: %v", c.name, e)
		}
		if err := srv.WaitNotifications(ctx); err != nil {
			t.Fatal(err)
		}
		if n := l.Pending(); n != 0 {
			t.Errorf("%s: %d more notifications", c.name, n)
		}
		if err := srv.AddSessionListener(ctx, tk, l.URL); !errors.Is(err, cis.ErrSessionInvalid) {
			t.Errorf("%s: listener on the dead session: %v", c.name, err)
		}
	}
	tk := srv.MustLogin(t, alice.UID, "")
	for i := range cissim.MaxSessionListeners {
		if err := srv.AddSessionListener(ctx, tk, l.URL+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.AddSessionListener(ctx, tk, l.URL+"/more"); !errors.Is(err, cis.ErrListenerRefused) {
		t.Fatalf("past the cap: %v", err)
	}
	if err := srv.AddSessionListener(ctx, tk, "/relative"); err == nil {
		t.Fatal("relative URL accepted")
	}
	if l.Rejected() != 0 {
		t.Fatalf("%d notifications refused as malformed", l.Rejected())
	}
}

// TestShortIdleTime: a session with listeners whose idle time runs out
// is ended, and its listeners told, by the simulator's own timer, on the
// real clock, with nobody using it.
func TestShortIdleTime(t *testing.T) {
	srv := cistest.NewServerWithConfig(t, cissim.Config{SessionTime: 2 * time.Second})
	l := cistest.NewListener(t)
	alice := cissim.DemoUsers()[0]
	tk, err := srv.Simulator().CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddSessionListener(context.Background(), tk, l.URL); err != nil {
		t.Fatal(err)
	}
	if e := l.MustNext(t); e.Type != cis.SessionIdleTimeout || e.Session.Ticket != tk || e.Session.MaxIdle != 0 {
		t.Fatalf("%v (maxidle %v: the session time is under a minute)", e, e.Session.MaxIdle)
	}
}
