package e2e_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/agent"
	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/middleware"
	"github.com/opencis/cisauth/pcsc"
)

// TestCardPullEndsWebSession is issue 12's point on the real stack: Dr
// Alice Jones logs in with her card, then to a supplier's web app with the
// ticket; she pulls the card, the agent logs the session out of GAS, CIS
// notifies the app, and the web session is refused — with revalidation set
// to nine hours, so nothing but the notification can have ended it.
func TestCardPullEndsWebSession(t *testing.T) {
	s, rs := readers(t)
	r := rs[0]
	simReg := prometheus.NewRegistry()
	srv := cistest.NewServerWithConfig(t, cissim.Config{Registerer: simReg})
	const uid, role = "555000000001", "555000000101"

	_, in := insertCard(t, srv, uid, r)
	events := stacktest.StartMonitor(t, r.Name)
	stacktest.WaitEvent(t, events, pcsc.CardInserted, r.Name)
	ctx := ctxFor(t)
	gas := newGAS(t, cis.GASConfig{Env: srv.Env()})
	l, err := agentLogin(ctx, openCard(t, s, r), []byte(cardPIN), pcsc.LoginOptions{}, gas, role)
	if err != nil {
		t.Fatal(err)
	}

	// The supplier's app, reachable by CIS on loopback, with notifications.
	app := httptest.NewUnstartedServer(nil)
	t.Cleanup(app.Close)
	reg := prometheus.NewRegistry()
	m, err := middleware.New(middleware.Config{
		Env: srv.Env(), Revalidate: 9 * time.Hour, Registerer: reg,
		Notify: middleware.NotifyConfig{ExternalURL: "http://" + app.Listener.Addr().String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	app.Config.Handler = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	app.Start()
	login, _ := http.NewRequest(http.MethodPost, app.URL+"/cis/login", nil)
	login.Header.Set(middleware.TicketHeader, l.Session.Ticket.Reveal())
	resp, err := http.DefaultClient.Do(login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == m.CookieName() {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusOK || cookie == nil {
		t.Fatalf("web login: %d, cookie %v", resp.StatusCode, cookie)
	}
	status := func() int {
		req, _ := http.NewRequest(http.MethodGet, app.URL+"/records", nil)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitUntil(t, "listener registered", func() bool {
		return counter(t, reg, "cisauth_listener_registrations_total", "ok") == 1
	})
	if got := status(); got != http.StatusOK {
		t.Fatalf("web session before the pull: %d", got)
	}

	loggedOut := agent.LogoutOnRemoval(ctx, events, r.Name, gas, l.Session)
	pulled := time.Now()
	stacktest.Pull(t, in)
	if err := <-loggedOut; err != nil {
		t.Fatalf("logout on card removal: %v", err)
	}
	waitUntil(t, "web session refused", func() bool { return status() == http.StatusUnauthorized })
	t.Logf("card pulled to web session refused: %s (pcscd's poll is most of it)", time.Since(pulled))
	if n := counter(t, reg, "cisauth_notification_rechecks_total", "ended"); n != 1 {
		t.Errorf("rechecks ended = %d, want 1", n)
	}
}

// waitUntil polls cond every few milliseconds for up to 20 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within 20 s", what)
		}
	}
}

// counter is the value of a counter family's series whose only label has
// the given value.
func counter(t *testing.T, g prometheus.Gatherer, name, value string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if lp := m.GetLabel(); len(lp) == 1 && lp[0].GetValue() == value {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}
