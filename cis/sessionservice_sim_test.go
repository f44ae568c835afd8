package cis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/testclock"
)

func newSessionService(t *testing.T, env cis.Environment) *cis.SessionServiceClient {
	t.Helper()
	c, err := cis.NewSessionServiceClient(cis.SessionServiceConfig{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSessionServiceKeepsAlive: GetSession against the simulator reports
// the user, the selected role and the timers; with reset it restarts the
// idle timer, which keeps the session alive past its idle timeout.
func TestSessionServiceKeepsAlive(t *testing.T) {
	clk := testclock.New(time.Now())
	srv := cistest.NewServerWithConfig(t, cissim.Config{
		Now: clk.Now, SessionTime: 10 * time.Minute, MaxSessionTime: 60 * time.Minute,
	})
	const uid, role = "555000000001", "555000000101"
	ticket := srv.MustLogin(t, uid, role)
	ss := newSessionService(t, srv.Env())
	ctx := context.Background()

	info, err := ss.GetSession(ctx, ticket, false)
	if err != nil {
		t.Fatal(err)
	}
	if info.UID != uid || info.SelectedRoleID != role || info.MaxIdle != 10*time.Minute ||
		info.MaxTime != 60*time.Minute || info.TimeLeft != 10*time.Minute || info.TimeIdle != 0 {
		t.Fatalf("fresh session: %+v", info)
	}

	// Eight idle minutes: two left. A look without reset changes nothing.
	clk.Add(8 * time.Minute)
	if info, err = ss.GetSession(ctx, ticket, false); err != nil || info.TimeIdle != 8*time.Minute || info.TimeLeft != 2*time.Minute {
		t.Fatalf("after 8 idle minutes: %+v, %v", info, err)
	}
	// Kept alive every eight minutes, it outlives its ten-minute idle
	// timeout, up to its maximum time.
	for range 5 {
		if _, err := ss.GetSession(ctx, ticket, true); err != nil {
			t.Fatalf("keep-alive at %s: %v", clk.Now().Format(time.TimeOnly), err)
		}
		clk.Add(8 * time.Minute)
	}
	// 48 minutes in, 8 idle: a reset answers for the session after it,
	// idle 0 and ten minutes left (the maximum leaves twelve).
	if info, err = ss.GetSession(ctx, ticket, true); err != nil || info.TimeIdle != 0 || info.TimeLeft != 10*time.Minute {
		t.Fatalf("kept alive for 48 minutes: %+v, %v", info, err)
	}
	clk.Add(9 * time.Minute)
	// 57 minutes in: the maximum time leaves three.
	if info, err = ss.GetSession(ctx, ticket, true); err != nil || info.TimeLeft != 3*time.Minute {
		t.Fatalf("near the maximum time: %+v, %v", info, err)
	}
	clk.Add(4 * time.Minute)
	if _, err = ss.GetSession(ctx, ticket, true); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("past the maximum time: %v, want ErrSessionInvalid", err)
	}
}

// TestSessionServiceEndedSessions: a logged-out, unknown or empty ticket
// is ErrSessionInvalid, and no error carries the ticket.
func TestSessionServiceEndedSessions(t *testing.T) {
	srv := cistest.NewServer(t)
	ss := newSessionService(t, srv.Env())
	ctx := context.Background()
	ticket := srv.MustLogin(t, "555000000001", "")
	if err := srv.Logout(ticket); err != nil {
		t.Fatal(err)
	}
	for name, tk := range map[string]cis.Ticket{
		"logged out": ticket,
		"unknown":    cis.Ticket("AQIC" + strings.Repeat("A", 43) + "=@AAJTSQACMDE=#"),
		"garbage":    cis.Ticket("not a ticket ]]> <x>"),
		"empty":      "",
	} {
		_, err := ss.GetSession(ctx, tk, true)
		if !errors.Is(err, cis.ErrSessionInvalid) {
			t.Errorf("%s: %v, want ErrSessionInvalid", name, err)
		}
		if tk != "" && err != nil && strings.Contains(fmt.Sprint(err), tk.Reveal()) {
			t.Errorf("%s: error shows the ticket: %v", name, err)
		}
	}
}

// TestSessionServiceMaintenance: the simulator's maintenance answer is
// ErrMaintenance.
func TestSessionServiceMaintenance(t *testing.T) {
	srv := cistest.NewServer(t)
	ticket := srv.MustLogin(t, "555000000001", "")
	ss := newSessionService(t, srv.Env())
	srv.SetMaintenance(true)
	if _, err := ss.GetSession(context.Background(), ticket, true); !errors.Is(err, cis.ErrMaintenance) {
		t.Fatalf("in maintenance: %v, want ErrMaintenance", err)
	}
}

func ExampleSessionServiceClient_GetSession() {
	srv, err := cistest.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx := context.Background()
	ticket, err := srv.Login(ctx, "555000000001", "555000000101")
	if err != nil {
		panic(err)
	}
	ss, err := cis.NewSessionServiceClient(cis.SessionServiceConfig{Env: srv.Env()})
	if err != nil {
		panic(err)
	}
	// Keep the session alive (reset its idle timer) and see who it is for.
	info, err := ss.GetSession(ctx, ticket, true)
	if err != nil {
		panic(err) // errors.Is(err, cis.ErrSessionInvalid): logged out or expired
	}
	fmt.Println(info.UID, info.SelectedRoleID, info.TimeLeft.Round(time.Minute))
	// Output: 555000000001 555000000101 10h0m0s
}

// TestSessionServiceAddSessionListener: the session service client also
// registers listeners; a session the service does not know is refused.
func TestSessionServiceAddSessionListener(t *testing.T) {
	srv := cistest.NewServer(t)
	ticket := srv.MustLogin(t, "555000000001", "")
	ss := newSessionService(t, srv.Env())
	ctx := context.Background()
	if err := ss.AddSessionListener(ctx, ticket, "http://127.0.0.1:9/notify"); err != nil {
		t.Fatal(err)
	}
	srv.Logout(ticket)
	if err := ss.AddSessionListener(ctx, ticket, "http://127.0.0.1:9/notify"); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("listener for a logged-out session: %v", err)
	}
}
