package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/opencis/cisauth/middleware"
)

// security.md 5, at once: in a fleet sharing Redis, a notification that
// reaches one instance (the load balancer sends CIS's POST anywhere) ends
// the session on the instance that holds it, within the publish latency.
func TestNotificationEndsSessionFleet(t *testing.T) {
	// Instance 1 is where the load balancer sends CIS's notifications.
	lb := httptest.NewUnstartedServer(nil)
	t.Cleanup(lb.Close)
	url := "http://" + lb.Listener.Addr().String()
	fl := newFleet(t, 2, func(_ int, c *middleware.Config) {
		c.Revalidate = notifyRevalidate
		c.Notify.ExternalURL = url
	})
	lb.Config.Handler = fl.inst[1].h
	lb.Start()
	a, b := fl.inst[0], fl.inst[1]

	sess := fl.srv.MustLoginSession(t, alice, aliceRole)
	c := loginTo(t, a.h, a.m.CookieName(), sess.Ticket)
	waitFor(t, "listener registered", 10*time.Second, func() bool {
		return metric(t, a.reg, "cisauth_listener_registrations_total", "outcome", "ok") == 1
	})
	if resp := a.get("/whoami", c); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	if !middleware.Trusted(a.store) || middleware.CachedSessions(a.store) != 1 {
		t.Fatal("instance 0 does not hold the session in its trusted cache")
	}
	before := fl.fetches()
	if err := fl.srv.GASLogout(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "session refused on instance 0", 10*time.Second, func() bool {
		resp := a.get("/whoami", c)
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	})
	if n := metric(t, b.reg, "cisauth_notification_rechecks_total", "result", "ended"); n != 1 {
		t.Errorf("instance 1 rechecks ended = %v, want 1", n)
	}
	if n := metric(t, a.reg, "cisauth_notification_rechecks_total"); n != 0 {
		t.Errorf("instance 0 rechecked %v times; the notification went to instance 1", n)
	}
	if n := fl.fetches() - before; n != 1 {
		t.Errorf("%d RoleAssertion requests, want 1", n)
	}
}
