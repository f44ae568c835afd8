package middleware_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// security.md 5: a logout or card removal (the SSO session ends) ends the
// web session at the next revalidation, within the interval.
func TestRevalidationEndsSession(t *testing.T) {
	for _, end := range []struct {
		name string
		do   func(*cistest.Server, *cis.Session) error
	}{
		{"card pulled (GAS logout)", func(s *cistest.Server, sess *cis.Session) error {
			return s.GASLogout(context.Background(), sess)
		}},
		{"session expired", func(s *cistest.Server, sess *cis.Session) error { return s.ExpireSession(sess.Ticket) }},
	} {
		t.Run(end.name, func(t *testing.T) {
			f := newFixture(t)
			sess := f.srv.MustLoginSession(t, alice, aliceRole)
			c := f.login(sess.Ticket)
			if err := end.do(f.srv, sess); err != nil {
				t.Fatal(err)
			}
			// Inside the interval the session stands (no SSB round trip per
			// request)…
			f.clock.Advance(59 * time.Second)
			whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(c)))
			// … and at the interval it is checked and ends.
			f.clock.Advance(time.Second)
			resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("after the SSO session ended: %d %s", resp.StatusCode, body(resp))
			}
			if cc := cookieNamed(resp, f.m.CookieName()); cc == nil || cc.MaxAge >= 0 {
				t.Error("the ended session's cookie was not cleared")
			}
			if n := metric(t, f.reg, "cisauth_revalidation_failures_total", "reason", "sso_ended"); n != 1 {
				t.Errorf("revalidation failures sso_ended = %v", n)
			}
			// It stays ended: the cookie is refused from now on.
			if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("replayed cookie: %d", resp.StatusCode)
			}
		})
	}
}

// SSB in maintenance or down: 503 with Retry-After, the session kept (never
// a silent pass, never a logout), and no retry storm.
func TestMaintenanceKeepsSession(t *testing.T) {
	f := newFixture(t)
	tk := f.srv.MustLogin(t, alice, aliceRole)
	c := f.login(tk)
	f.srv.SetMaintenance(true)
	f.clock.Advance(time.Minute)
	before := f.fetches()
	resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("in maintenance: %d %s", resp.StatusCode, body(resp))
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if cc := cookieNamed(resp, f.m.CookieName()); cc != nil {
		t.Errorf("maintenance touched the cookie: %v", cc)
	}
	if p := problemOf(t, resp); p["error"] != "unavailable" || p["retry_after"] == nil {
		t.Errorf("503 answer %v", p)
	}
	// Many requests meanwhile: the backoff holds them, one fetch in all.
	for range 20 {
		if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("in maintenance, later request: %d", resp.StatusCode)
		}
	}
	if n := f.fetches() - before; n != 1 {
		t.Errorf("%d RoleAssertion requests during the backoff, want 1", n)
	}
	// An HTML client gets a page.
	page := body(f.do(http.MethodGet, "/whoami", nil, withCookie(c), withHeader("Accept", "text/html")))
	if !strings.Contains(page, "not available") {
		t.Errorf("maintenance page: %s", page)
	}
	// Maintenance over and the backoff passed: the same session works.
	f.srv.SetMaintenance(false)
	f.clock.Advance(time.Second)
	if got := whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(c))); got.UID != alice {
		t.Errorf("after maintenance: %+v", got)
	}
	if n := metric(t, f.reg, "cisauth_revalidation_failures_total", "reason", "unavailable"); n < 1 {
		t.Errorf("revalidation failures unavailable = %v", n)
	}
}

// A maintenance slot with a known end: Retry-After says when it ends.
func TestMaintenanceSlotRetryAfter(t *testing.T) {
	clock := &fakeClock{}
	start := clock.Now().UTC().Add(time.Hour).Truncate(time.Minute)
	end := start.Add(2 * time.Hour)
	tod := func(t time.Time) time.Duration {
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	slot := cis.MaintenanceSlot{Name: "test", StartDay: start.Weekday(), Start: tod(start), EndDay: end.Weekday(), End: tod(end), Location: time.UTC}
	srv := cistest.NewServerWithConfig(t, cissim.Config{Maintenance: []cis.MaintenanceSlot{slot}, Now: clock.Now})
	m, err := middleware.New(middleware.Config{Env: srv.Env(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(appHandler())
	c := loginTo(t, h, m.CookieName(), srv.MustLogin(t, alice, aliceRole))
	clock.Advance(start.Sub(clock.Now()) + time.Minute) // into the slot
	resp := serve(h, http.MethodGet, "/whoami", nil, withCookie(c))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("in the slot: %d %s", resp.StatusCode, body(resp))
	}
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if want := end.Sub(clock.Now()); time.Duration(ra)*time.Second < want-2*time.Second || time.Duration(ra)*time.Second > want+2*time.Second {
		t.Errorf("Retry-After %ds, want about %s (the slot's end)", ra, want)
	}
}

// A role switched through GAS shows at POST /cis/refresh at once, with a
// new session id; the old cookie stops working (after a short grace on the
// instance that rotated it).
func TestRoleSwitchAtRefresh(t *testing.T) {
	f := newFixture(t)
	sess := f.srv.MustLoginSession(t, chandra, chandraAdmin)
	c := f.login(sess.Ticket)
	if resp := f.do(http.MethodGet, "/records", nil, withCookie(c)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("admin role at /records: %d", resp.StatusCode)
	}
	if err := f.srv.SelectRole(context.Background(), sess, chandraClinic); err != nil {
		t.Fatal(err)
	}
	// Until a refresh or the next revalidation, the session keeps its role.
	if got := whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(c))); got.RoleID != chandraAdmin {
		t.Fatalf("before refresh: role %s", got.RoleID)
	}
	resp := f.do(http.MethodPost, "/cis/refresh", nil, withCookie(c))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", resp.StatusCode, body(resp))
	}
	nc := cookieNamed(resp, f.m.CookieName())
	if nc == nil || nc.Value == c.Value {
		t.Fatalf("role change did not rotate the session id: %v", resp.Header["Set-Cookie"])
	}
	if !strings.Contains(body(resp), `"id":"`+chandraClinic+`"`) {
		t.Error("refresh answer does not show the new role")
	}
	if got := whoFrom(t, f.do(http.MethodGet, "/records", nil, withCookie(nc))); got.RoleID != chandraClinic {
		t.Errorf("after refresh: role %s", got.RoleID)
	}
	// A request the browser sent with the old cookie just before it saw the
	// new one still works and gets the new cookie…
	resp = f.do(http.MethodGet, "/whoami", nil, withCookie(c))
	if got := cookieNamed(resp, f.m.CookieName()); whoFrom(t, resp).RoleID != chandraClinic || got == nil || got.Value != nc.Value {
		t.Errorf("old cookie in the grace: new cookie %v", got)
	}
	// … but not after the grace.
	f.clock.Advance(11 * time.Second)
	if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old cookie after the grace: %d", resp.StatusCode)
	}
	if n := metric(t, f.reg, "cisauth_role_changes_total"); n != 1 {
		t.Errorf("role changes = %v", n)
	}
	// fetch() clients may post JSON: {} is a refresh, a ticket is refused.
	js := withHeader("Content-Type", "application/json")
	if resp := f.do(http.MethodPost, "/cis/refresh", strings.NewReader("{}"), js, withCookie(nc)); resp.StatusCode != http.StatusOK {
		t.Errorf("refresh with {}: %d", resp.StatusCode)
	}
	if resp := f.do(http.MethodPost, "/cis/refresh", strings.NewReader(`{"ticket":"`+sess.Ticket.Reveal()+`"}`), js, withCookie(nc)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh with a ticket: %d", resp.StatusCode)
	}
}

// The next revalidation notices a role switch too.
func TestRoleSwitchAtRevalidation(t *testing.T) {
	f := newFixture(t)
	sess := f.srv.MustLoginSession(t, chandra, chandraAdmin)
	c := f.login(sess.Ticket)
	if err := f.srv.SelectRole(context.Background(), sess, chandraClinic); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	resp := f.do(http.MethodGet, "/records", nil, withCookie(c))
	nc := cookieNamed(resp, f.m.CookieName())
	if got := whoFrom(t, resp); got.RoleID != chandraClinic || nc == nil || nc.Value == c.Value {
		t.Fatalf("after revalidation: role %s, new cookie %v", got.RoleID, nc)
	}
}

// The internal "check this ticket's sessions now" path (for session
// notifications): SSO session gone → every session of the ticket ends; role
// changed → the next request rotates.
func TestRecheckTicket(t *testing.T) {
	f := newFixture(t)
	sess := f.srv.MustLoginSession(t, chandra, chandraAdmin)
	c1, c2 := f.login(sess.Ticket), f.login(sess.Ticket) // two browsers, one ticket
	ctx := context.Background()
	if err := f.srv.SelectRole(ctx, sess, chandraClinic); err != nil {
		t.Fatal(err)
	}
	if err := f.m.RecheckTicket(ctx, sess.Ticket); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*http.Cookie{c1, c2} {
		resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c))
		if got := whoFrom(t, resp); got.RoleID != chandraClinic || cookieNamed(resp, f.m.CookieName()) == nil {
			t.Errorf("after recheck: role %s, no new cookie", got.RoleID)
		}
	}
	if err := f.srv.Logout(sess.Ticket); err != nil {
		t.Fatal(err)
	}
	if err := f.m.RecheckTicket(ctx, sess.Ticket); err != nil {
		t.Fatal(err)
	}
	if n := middleware.CachedSessions(f.cfg.Store); n != 0 {
		t.Errorf("%d sessions cached after the SSO session ended", n)
	}
}

// A logout ends the session at once; with SSOLogout it ends the SSO
// session and every web session of the ticket too.
func TestLogout(t *testing.T) {
	gasFor := func(srv *cistest.Server) *cis.GASClient {
		g, err := cis.NewGASClient(cis.GASConfig{Env: srv.Env()})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	t.Run("web session only", func(t *testing.T) {
		f := newFixture(t)
		tk := f.srv.MustLogin(t, alice, aliceRole)
		c, other := f.login(tk), f.login(tk)
		resp := f.do(http.MethodPost, "/cis/logout", nil, withCookie(c))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body(resp), `"logged_out":true`) {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		if cc := cookieNamed(resp, f.m.CookieName()); cc == nil || cc.MaxAge >= 0 {
			t.Error("logout did not clear the cookie")
		}
		if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("cookie replayed after logout: %d", resp.StatusCode)
		}
		whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(other)))
		if _, err := f.srv.Simulator().SessionID(tk); err != nil {
			t.Errorf("the SSO session ended without SSOLogout: %v", err)
		}
	})
	t.Run("SSO logout", func(t *testing.T) {
		f := newFixture(t, func(f *fixture) { f.cfg.SSOLogout = gasFor(f.srv) })
		tk := f.srv.MustLogin(t, alice, aliceRole)
		c, other := f.login(tk), f.login(tk)
		if resp := f.do(http.MethodPost, "/cis/logout", nil, withCookie(c)); resp.StatusCode != http.StatusOK {
			t.Fatalf("logout: %d %s", resp.StatusCode, body(resp))
		}
		if _, err := f.srv.Simulator().SessionID(tk); err == nil {
			t.Error("the SSO session is still live after the GAS logout")
		}
		for _, c := range []*http.Cookie{c, other} {
			if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("session of the logged-out ticket: %d", resp.StatusCode)
			}
		}
		// The ticket is refused at a new login (the cache was dropped).
		if resp := f.do(http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", tk.Reveal())); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("login with the logged-out ticket: %d", resp.StatusCode)
		}
	})
}

// A session ends at MaxAge whatever the SSO session does.
func TestMaxAge(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.Cookie.MaxAge = 2 * time.Hour })
	c := f.login(f.srv.MustLogin(t, alice, aliceRole))
	if c.MaxAge != 7200 {
		t.Errorf("cookie Max-Age %d, want 7200", c.MaxAge)
	}
	f.clock.Advance(2*time.Hour - time.Second)
	// Only the clock moved: the SSB's assertion window is checked against
	// it too, so revalidation fails as a clock problem (503), not a logout.
	if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before MaxAge with a skewed clock: %d", resp.StatusCode)
	}
	f.clock.Advance(time.Second)
	if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("at MaxAge: %d", resp.StatusCode)
	}
	if n := metric(t, f.reg, "cisauth_sessions_ended_total", "reason", "expired"); n != 1 {
		t.Errorf("sessions ended expired = %v", n)
	}
}

func TestConfigErrors(t *testing.T) {
	env := cis.Environment{Name: "x", SSBURL: "http://127.0.0.1:1"}
	redis := newRedisStoreOrNil(t)
	for name, cfg := range map[string]middleware.Config{
		"no validator":            {},
		"skew too large":          {Env: env, Skew: 3 * time.Hour},
		"negative":                {Env: env, Revalidate: -time.Second},
		"short key":               {Env: env, Cookie: middleware.CookieConfig{Keys: [][]byte{[]byte("short")}}},
		"SameSite None":           {Env: env, Cookie: middleware.CookieConfig{SameSite: http.SameSiteNoneMode}},
		"prefixed name":           {Env: env, Cookie: middleware.CookieConfig{Name: "__Host-x"}},
		"bad name":                {Env: env, Cookie: middleware.CookieConfig{Name: "a b"}},
		"MaxAge < interval":       {Env: env, Cookie: middleware.CookieConfig{MaxAge: time.Minute}, Revalidate: 2 * time.Minute},
		"same paths":              {Env: env, LoginPath: "/x", LogoutPath: "/x"},
		"relative path":           {Env: env, LoginPath: "login"},
		"login URL query":         {Env: env, LoginURL: "/login?x=1"},
		"login URL scheme":        {Env: env, LoginURL: "javascript:alert(1)"},
		"trusted origin":          {Env: env, TrustedOrigins: []string{"not an origin"}},
		"https without root":      {Env: cis.Environment{Name: "x", SSBURL: "https://ssb.example"}},
		"plain http off loopback": {Env: cis.Environment{Name: "x", SSBURL: "http://ssb.example"}},
	} {
		if _, err := middleware.New(cfg); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
	if redis != nil {
		if _, err := middleware.New(middleware.Config{Env: env, Store: redis}); err == nil || !strings.Contains(err.Error(), "Keys") {
			t.Errorf("Redis store without cookie keys: %v", err)
		}
	}
	// A store serves one middleware.
	store := middleware.NewMemoryStore(middleware.MemoryStoreConfig{})
	if _, err := middleware.New(middleware.Config{Env: env, Store: store}); err != nil {
		t.Fatal(err)
	}
	if _, err := middleware.New(middleware.Config{Env: env, Store: store}); err == nil {
		t.Error("a second middleware on one store was accepted")
	}
	// Metrics register on the given registry, once.
	reg := prometheus.NewRegistry()
	if _, err := middleware.New(middleware.Config{Env: env, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := middleware.New(middleware.Config{Env: env, Registerer: reg}); err == nil {
		t.Error("metrics registered twice on one registry")
	}
}
