package middleware_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// Session notifications end web sessions at once. In these tests the
// revalidation interval is nine hours and the clock does not move, so only
// a notification can end a session.

const notifyRevalidate = 9 * time.Hour

// notifyFixture is a fixture whose middleware also serves on a loopback
// HTTP server (the app as CIS reaches it), with notifications on.
type notifyFixture struct {
	*fixture
	url string // the app's base URL
}

// newNotifyFixture starts a simulator (with sim's settings) and the app;
// opts adjust the middleware's Config before New.
func newNotifyFixture(t testing.TB, sim cissim.Config, opts ...func(*middleware.Config)) *notifyFixture {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	t.Cleanup(ts.Close)
	nf := &notifyFixture{url: "http://" + ts.Listener.Addr().String()}
	sim.Registerer = prometheus.NewRegistry()
	f := &fixture{t: t, srv: cistest.NewServerWithConfig(t, sim), clock: &fakeClock{}, logs: &logBuffer{}, simReg: sim.Registerer.(*prometheus.Registry)}
	f.cfg = middleware.Config{
		Env: f.srv.Env(), Store: middleware.NewMemoryStore(middleware.MemoryStoreConfig{}), Revalidate: notifyRevalidate,
		Notify: middleware.NotifyConfig{ExternalURL: nf.url},
	}
	for _, o := range opts {
		o(&f.cfg)
	}
	f.m = f.newMiddleware(f.cfg)
	f.h = f.m.Handler(appHandler())
	ts.Config.Handler = f.h
	ts.Start()
	nf.fixture = f
	return nf
}

// count is a metric of the middleware's registry.
func (f *fixture) count(name string, labels ...string) int {
	return int(metric(f.t, f.reg, name, labels...))
}

// waitRegistered waits until n listeners have been registered.
func (f *fixture) waitRegistered(n int) {
	f.t.Helper()
	waitFor(f.t, "listener registered", 10*time.Second, func() bool {
		return f.count("cisauth_listener_registrations_total", "outcome", "ok") >= n
	})
}

// status is the status of GET /whoami with c.
func (f *fixture) status(c *http.Cookie) int {
	resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c))
	resp.Body.Close()
	return resp.StatusCode
}

// waitRefused waits until the session of c is refused.
func (f *fixture) waitRefused(c *http.Cookie) {
	f.t.Helper()
	waitFor(f.t, "web session refused", 10*time.Second, func() bool { return f.status(c) == http.StatusUnauthorized })
}

// notification is a NotificationSet as CIS sends it, for ticket t.
func notification(t cis.Ticket, typ cis.SessionEventType) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><NotificationSet vers="1.0" svcid="session" notid="1"><Notification><![CDATA[` +
		`<SessionNotification vers="1.0" notid="2"><Session sid="` + t.Reveal() + `" stype="user" cid="uid=555000000001,ou=People,o=nhs" cdomain="o=nhs"` +
		` maxtime="600" maxidle="600" maxcaching="3" timeidle="0" timeleft="0" state="destroyed"></Session><Type>` + strconv.Itoa(int(typ)) +
		`</Type><Time>1764662400000</Time></SessionNotification>]]></Notification></NotificationSet>`
}

// post sends a notification to the app over HTTP, as CIS (or anyone) can.
func (nf *notifyFixture) post(doc string) (int, string) {
	nf.t.Helper()
	resp, err := http.Post(nf.url+middleware.DefaultNotifyPath, "text/xml;charset=UTF-8", strings.NewReader(doc))
	if err != nil {
		nf.t.Fatal(err)
	}
	return resp.StatusCode, body(resp)
}

// randomTicket is a well-formed ticket no session has.
func randomTicket(t testing.TB) cis.Ticket {
	b := make([]byte, 30)
	rand.Read(b)
	tk, err := cis.ParseTicket("AQIC" + base64.StdEncoding.EncodeToString(b) + "@AAJTSQACMDE=#")
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// A GAS logout (the card pulled), an SSO idle or maximum timeout and an
// administrator's expiry each end the web session through the
// notification, every web session of the ticket, at the cost of one
// RoleAssertion request.
func TestNotificationEndsSession(t *testing.T) {
	for _, end := range []struct {
		name string
		do   func(*cistest.Server, *cis.Session) error
	}{
		{"GAS logout", func(s *cistest.Server, sess *cis.Session) error { return s.GASLogout(context.Background(), sess) }},
		{"idle timeout", func(s *cistest.Server, sess *cis.Session) error { return s.IdleTimeout(sess.Ticket) }},
		{"max timeout", func(s *cistest.Server, sess *cis.Session) error { return s.MaxTimeout(sess.Ticket) }},
		{"admin expiry", func(s *cistest.Server, sess *cis.Session) error { return s.ExpireSession(sess.Ticket) }},
	} {
		t.Run(end.name, func(t *testing.T) {
			nf := newNotifyFixture(t, cissim.Config{})
			sess := nf.srv.MustLoginSession(t, alice, aliceRole)
			c1 := nf.login(sess.Ticket)
			c2 := nf.login(sess.Ticket) // a second browser (or tab with its own session) of the same card
			nf.waitRegistered(2)
			if nf.status(c1) != http.StatusOK || nf.status(c2) != http.StatusOK {
				t.Fatal("sessions not live before the end")
			}
			before := nf.fetches()
			if err := end.do(nf.srv, sess); err != nil {
				t.Fatal(err)
			}
			nf.waitRefused(c1)
			nf.waitRefused(c2)
			if n := nf.fetches() - before; n != 1 {
				t.Errorf("%d RoleAssertion requests after the end, want 1 (the check the notification caused)", n)
			}
			if n := nf.count("cisauth_notification_rechecks_total", "result", "ended"); n != 1 {
				t.Errorf("rechecks ended = %d", n)
			}
			if n := nf.count("cisauth_sessions_ended_total", "reason", "sso_ended"); n != 2 {
				t.Errorf("sessions ended sso_ended = %d, want 2", n)
			}
			if strings.Contains(nf.logs.String(), sess.Ticket.Reveal()) {
				t.Error("a log record holds the ticket")
			}
		})
	}
}

// security.md: a notification proves nothing. A forged one for a live
// session leaves it live and costs one RoleAssertion request; one for a
// ticket nobody has costs none; a malformed one is refused.
func TestForgedNotification(t *testing.T) {
	nf := newNotifyFixture(t, cissim.Config{})
	ticket := nf.srv.MustLogin(t, alice, aliceRole)
	c := nf.login(ticket)
	nf.waitRegistered(1)
	before := nf.fetches()

	if code, b := nf.post(notification(ticket, cis.SessionLogout)); code != http.StatusOK || b != "OK\r\n" {
		t.Fatalf("forged logout answered %d %q", code, b)
	}
	waitFor(t, "recheck", 10*time.Second, func() bool { return nf.count("cisauth_notification_rechecks_total", "result", "live") == 1 })
	if got := whoFrom(t, nf.do(http.MethodGet, "/whoami", nil, withCookie(c))); got.UID != alice {
		t.Fatalf("after a forged logout: %+v", got)
	}
	if n := nf.fetches() - before; n != 1 {
		t.Errorf("%d RoleAssertion requests for a forged notification, want 1", n)
	}

	if code, _ := nf.post(notification(randomTicket(t), cis.SessionLogout)); code != http.StatusOK {
		t.Fatalf("unknown ticket answered %d", code)
	}
	if n := nf.count("cisauth_session_notifications_total", "outcome", "unknown"); n != 1 {
		t.Errorf("unknown = %d, want 1", n)
	}
	for _, doc := range []string{"<NotificationSet/>", strings.Replace(notification(ticket, cis.SessionLogout), "svcid=\"session\"", "svcid=\"naming\"", 1)} {
		if code, b := nf.post(doc); code != http.StatusBadRequest || b != "NOT OK\r\n" {
			t.Errorf("malformed notification answered %d %q", code, b)
		}
	}
	resp, err := http.Get(nf.url + middleware.DefaultNotifyPath)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d", resp.StatusCode)
	}
	resp.Body.Close()
	if n := nf.count("cisauth_session_notifications_total", "outcome", "malformed"); n != 3 {
		t.Errorf("malformed = %d, want 3", n)
	}
	if n := nf.fetches() - before; n != 1 {
		t.Errorf("%d RoleAssertion requests in all, want 1", n)
	}
	if nf.status(c) != http.StatusOK {
		t.Error("the session did not survive")
	}
}

// A flood of notifications costs bounded work: for one live ticket, one
// RoleAssertion request per interval whatever their number; for tickets
// nobody has, none (one look-up in the session index each, and no place in
// the queue of checks).
func TestNotificationFlood(t *testing.T) {
	nf := newNotifyFixture(t, cissim.Config{}, func(c *middleware.Config) { c.Notify.MinInterval = time.Hour })
	ticket := nf.srv.MustLogin(t, alice, aliceRole)
	c := nf.login(ticket)
	nf.waitRegistered(1)
	before := nf.fetches()
	const n = 400
	docs := make(chan string, 2*n)
	for range n {
		docs <- notification(ticket, cis.SessionLogout)
		docs <- notification(randomTicket(t), cis.SessionIdleTimeout)
	}
	close(docs)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for d := range docs {
				resp, err := http.Post(nf.url+middleware.DefaultNotifyPath, "text/xml", strings.NewReader(d))
				if err != nil {
					t.Error(err)
					return
				}
				if resp.StatusCode != http.StatusOK {
					t.Errorf("answered %d", resp.StatusCode)
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	waitFor(t, "recheck", 10*time.Second, func() bool { return nf.count("cisauth_notification_rechecks_total", "result", "live") == 1 })
	if got := nf.count("cisauth_session_notifications_total", "outcome", "unknown"); got != n {
		t.Errorf("%d notifications of unknown tickets, want %d", got, n)
	}
	if got := nf.count("cisauth_notification_rechecks_total"); got != 1 {
		t.Errorf("%d checks, want 1: unknown tickets take no place in the queue", got)
	}
	if got := nf.fetches() - before; got != 1 {
		t.Errorf("%d RoleAssertion requests for %d notifications of one live ticket, want 1", got, n)
	}
	if got := nf.count("cisauth_session_notifications_total"); got != 2*n {
		t.Errorf("%d notifications counted, want %d", got, 2*n)
	}
	if nf.status(c) != http.StatusOK {
		t.Error("the session did not survive")
	}
}

// Merging notifications loses none: a real logout right after a forged
// notification, inside the ticket's interval, still ends the session (at
// the end of the interval; three seconds here, so that a slow machine
// still puts the logout inside it).
func TestNotificationInsideIntervalNotLost(t *testing.T) {
	nf := newNotifyFixture(t, cissim.Config{}, func(c *middleware.Config) { c.Notify.MinInterval = 3 * time.Second })
	sess := nf.srv.MustLoginSession(t, alice, aliceRole)
	c := nf.login(sess.Ticket)
	nf.waitRegistered(1)
	nf.post(notification(sess.Ticket, cis.SessionLogout))
	waitFor(t, "recheck", 10*time.Second, func() bool { return nf.count("cisauth_notification_rechecks_total", "result", "live") == 1 })
	if err := nf.srv.GASLogout(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	nf.waitRefused(c)
	if n := nf.count("cisauth_session_notifications_total", "outcome", "delayed"); n != 1 {
		t.Errorf("delayed = %d, want 1 (the logout fell inside the interval)", n)
	}
}

// A role selected through GAS on a live session (type 6, sent by the
// simulator with NotifyRoleChange) shows at the next request, in a session
// with a new id, without waiting for the revalidation and without another
// RoleAssertion request.
func TestNotificationRefreshesRole(t *testing.T) {
	nf := newNotifyFixture(t, cissim.Config{NotifyRoleChange: true})
	sess := nf.srv.MustLoginSession(t, chandra, chandraAdmin)
	c := nf.login(sess.Ticket)
	nf.waitRegistered(1)
	if err := nf.srv.SelectRole(context.Background(), sess, chandraClinic); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recheck", 10*time.Second, func() bool { return nf.count("cisauth_notification_rechecks_total", "result", "live") == 1 })
	before := nf.fetches()
	resp := nf.do(http.MethodGet, "/whoami", nil, withCookie(c))
	nc := cookieNamed(resp, nf.m.CookieName())
	if got := whoFrom(t, resp); got.RoleID != chandraClinic {
		t.Fatalf("role %s after the notification, want %s", got.RoleID, chandraClinic)
	}
	if nc == nil || nc.Value == c.Value {
		t.Fatal("the session id was not rotated at the role change")
	}
	if n := nf.fetches() - before; n != 0 {
		t.Errorf("%d RoleAssertion requests to apply the change, want 0 (the check's answer is cached)", n)
	}
}

// When notifications do not arrive (the listener URL cannot be reached
// from CIS), nothing is slower and the revalidation still ends the session
// at its interval.
func TestNotificationsLostRevalidationStillEnds(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close() // nothing listens there now: connections are refused
	nf := newNotifyFixture(t, cissim.Config{NotifyTimeout: time.Second}, func(c *middleware.Config) { c.Notify.ExternalURL = deadURL })
	sess := nf.srv.MustLoginSession(t, alice, aliceRole)
	c := nf.login(sess.Ticket)
	nf.waitRegistered(1)
	if err := nf.srv.GASLogout(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nf.srv.WaitNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	if n := metric(t, nf.simReg, "cissim_notifications_failed_total", "reason", "error"); n != 1 {
		t.Fatalf("simulator: %v failed notifications, want 1", n)
	}
	if nf.status(c) != http.StatusOK {
		t.Fatal("session ended without a notification or a revalidation")
	}
	nf.clock.Advance(notifyRevalidate)
	if nf.status(c) != http.StatusUnauthorized {
		t.Fatal("the revalidation did not end the session")
	}
}

// registrarFunc is a ListenerRegistrar for tests.
type registrarFunc func(ctx context.Context, t cis.Ticket, url string) error

func (f registrarFunc) AddSessionListener(ctx context.Context, t cis.Ticket, url string) error {
	return f(ctx, t, url)
}

// A login never waits for its registration, and a registration that fails
// fails nothing but itself; one that finds the SSO session already gone
// has the session checked at once.
func TestListenerRegistration(t *testing.T) {
	t.Run("slow", func(t *testing.T) {
		release := make(chan struct{})
		var got sync.Map
		nf := newNotifyFixture(t, cissim.Config{}, func(c *middleware.Config) {
			c.Notify.Registrar = registrarFunc(func(ctx context.Context, tk cis.Ticket, url string) error {
				got.Store(url, true)
				<-release
				return nil
			})
		})
		c := nf.login(nf.srv.MustLogin(t, alice, aliceRole)) // returns while the registration hangs
		close(release)
		nf.waitRegistered(1)
		if _, ok := got.Load(nf.url + "/cis/notify"); !ok {
			t.Error("registered another URL")
		}
		if nf.status(c) != http.StatusOK {
			t.Error("session not live")
		}
	})
	t.Run("failing", func(t *testing.T) {
		nf := newNotifyFixture(t, cissim.Config{}, func(c *middleware.Config) {
			c.Notify.Registrar = registrarFunc(func(context.Context, cis.Ticket, string) error {
				return fmt.Errorf("session service: %w", cis.ErrUnavailable)
			})
		})
		c := nf.login(nf.srv.MustLogin(t, alice, aliceRole))
		waitFor(t, "registration failed", 10*time.Second, func() bool {
			return nf.count("cisauth_listener_registrations_total", "outcome", "unavailable") == 1
		})
		if nf.status(c) != http.StatusOK {
			t.Error("session not live")
		}
		if !strings.Contains(nf.logs.String(), "session listener not registered") {
			t.Error("the failure was not logged")
		}
	})
	t.Run("already ended", func(t *testing.T) {
		var srv *cistest.Server
		nf := newNotifyFixture(t, cissim.Config{}, func(c *middleware.Config) {
			c.Notify.Registrar = registrarFunc(func(ctx context.Context, tk cis.Ticket, _ string) error {
				if err := srv.Logout(tk); err != nil { // the card pulled during the login
					return err
				}
				return fmt.Errorf("AddSessionListener: %w", cis.ErrSessionInvalid)
			})
		})
		srv = nf.srv
		c := nf.login(nf.srv.MustLogin(t, alice, aliceRole))
		nf.waitRefused(c)
	})
	t.Run("default client against the simulator", func(t *testing.T) {
		// The registration goes to the session service the simulator's
		// naming service names; a dead ticket is session_invalid.
		nf := newNotifyFixture(t, cissim.Config{})
		nf.login(nf.srv.MustLogin(t, alice, aliceRole))
		nf.waitRegistered(1)
		if n := metric(t, nf.simReg, "cissim_requests_total", "endpoint", "namingservice"); n != 1 {
			t.Errorf("%v naming requests, want 1", n)
		}
		if n := metric(t, nf.simReg, "cissim_session_listener_registrations_total", "result", "ok"); n != 1 {
			t.Errorf("simulator: %v registrations, want 1", n)
		}
	})
}

func TestNotifyConfig(t *testing.T) {
	srv := cistest.NewServer(t)
	ok := func(c *middleware.Config) {}
	for name, set := range map[string]func(*middleware.Config){
		"http off loopback": func(c *middleware.Config) { c.Notify.ExternalURL = "http://app.example" },
		"relative":          func(c *middleware.Config) { c.Notify.ExternalURL = "/app" },
		"query":             func(c *middleware.Config) { c.Notify.ExternalURL = "https://app.example/?a=b" },
		"fragment":          func(c *middleware.Config) { c.Notify.ExternalURL = "https://app.example/#x" },
		"user info":         func(c *middleware.Config) { c.Notify.ExternalURL = "https://u:p@app.example" },
		"ftp":               func(c *middleware.Config) { c.Notify.ExternalURL = "ftp://app.example" },
		"path clash":        func(c *middleware.Config) { c.Notify.Path = "/cis/login" },
		"path relative":     func(c *middleware.Config) { c.Notify.Path = "notify" },
		"negative":          func(c *middleware.Config) { c.Notify.MinInterval = -time.Second },
		"no env":            func(c *middleware.Config) { c.Env = cis.Environment{}; c.Validator = failingValidator{} },
	} {
		cfg := middleware.Config{Env: srv.Env(), Notify: middleware.NotifyConfig{ExternalURL: "https://app.example:8443/prefix"}}
		ok(&cfg)
		set(&cfg)
		if _, err := middleware.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A Validator and a Registrar of one's own need no environment; a
	// custom path is answered, the default one is not.
	m, err := middleware.New(middleware.Config{Validator: failingValidator{},
		Notify: middleware.NotifyConfig{ExternalURL: "https://app.example/", Path: "/hooks/cis", Registrar: registrarFunc(nil)}})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(appHandler())
	if resp := serve(h, http.MethodPost, "/hooks/cis", strings.NewReader(notification(randomTicket(t), cis.SessionLogout))); resp.StatusCode != http.StatusOK {
		t.Errorf("custom path: %d", resp.StatusCode)
	}
	if resp := serve(h, http.MethodPost, "/cis/notify", strings.NewReader("x")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("default path with a custom one set: %d, want 401 (an ordinary page)", resp.StatusCode)
	}
	// Off: the path is an ordinary page.
	m, err = middleware.New(middleware.Config{Validator: failingValidator{}})
	if err != nil {
		t.Fatal(err)
	}
	if resp := serve(m.Handler(appHandler()), http.MethodPost, "/cis/notify", strings.NewReader("x")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("notifications off: %d", resp.StatusCode)
	}
}

// failingValidator refuses every ticket.
type failingValidator struct{}

func (failingValidator) Validate(context.Context, cis.Ticket) (*cis.Assertion, error) {
	return nil, errors.New("no")
}
