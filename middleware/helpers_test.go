package middleware_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// Demo users and roles (cissim.DemoUsers).
const (
	alice         = "555000000001" // Jones Alice Dr: one role at RCJ, B0264 and B0360
	aliceRole     = "555000000101"
	chandra       = "555000000003" // Patel Chandra Ms: admin (B0020) and clinical (B0264) at RCJ
	chandraAdmin  = "555000000301"
	chandraClinic = "555000000302"
)

// fakeClock is real time plus an offset tests move forward.
type fakeClock struct{ off atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// logBuffer captures every log record at debug level, as JSON.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixture is a simulator, a middleware in front of a small app, and what
// the tests look at: the clock, the logs, both metrics registries.
type fixture struct {
	t      testing.TB
	srv    *cistest.Server
	m      *middleware.Middleware
	h      http.Handler
	cfg    middleware.Config
	clock  *fakeClock
	logs   *logBuffer
	reg    *prometheus.Registry
	simReg *prometheus.Registry
}

// newFixture starts a simulator with the demo users and a middleware for
// it (with a memory store); opts adjust f.cfg before New.
func newFixture(t testing.TB, opts ...func(*fixture)) *fixture {
	t.Helper()
	simReg := prometheus.NewRegistry()
	srv := cistest.NewServerWithConfig(t, cissim.Config{Registerer: simReg})
	f := &fixture{t: t, srv: srv, clock: &fakeClock{}, logs: &logBuffer{}, simReg: simReg}
	f.cfg = middleware.Config{Env: srv.Env(), Store: middleware.NewMemoryStore(middleware.MemoryStoreConfig{})}
	for _, o := range opts {
		o(f)
	}
	f.m = f.newMiddleware(f.cfg)
	f.h = f.m.Handler(appHandler())
	return f
}

// newMiddleware builds a middleware with the fixture's clock, logs and
// registry (unless cfg sets its own).
func (f *fixture) newMiddleware(cfg middleware.Config) *middleware.Middleware {
	f.t.Helper()
	if cfg.Now == nil {
		cfg.Now = f.clock.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = f.logs.logger()
	}
	if cfg.Registerer == nil {
		f.reg = prometheus.NewRegistry()
		cfg.Registerer = f.reg
	}
	m, err := middleware.New(cfg)
	if err != nil {
		f.t.Fatalf("middleware.New: %v", err)
	}
	return m
}

// appHandler is a supplier app: /whoami for anyone logged in, /records
// needs B0264, /admin needs job role R8000, /rcj needs organisation RCJ.
func appHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", whoami)
	mux.Handle("/records", middleware.RequireActivity("B0264")(http.HandlerFunc(whoami)))
	mux.Handle("/admin", middleware.RequireJobRole("R8000")(http.HandlerFunc(whoami)))
	mux.Handle("/rcj", middleware.RequireOrg("RCJ")(http.HandlerFunc(whoami)))
	return mux
}

// who is what whoami answers.
type who struct {
	UID, Name, RoleID, OrgCode string
	Activities                 []string
}

func whoami(w http.ResponseWriter, r *http.Request) {
	u, ok1 := middleware.UserFrom(r.Context())
	role, ok2 := middleware.RoleFrom(r.Context())
	if !ok1 || !ok2 {
		http.Error(w, "no session in the context", http.StatusTeapot)
		return
	}
	_ = json.NewEncoder(w).Encode(who{UID: u.UID, Name: u.Name, RoleID: role.ID, OrgCode: role.OrgCode, Activities: role.Activities})
}

type reqOpt func(*http.Request)

func withCookie(c *http.Cookie) reqOpt {
	return func(r *http.Request) {
		if c != nil {
			r.AddCookie(c)
		}
	}
}

func withHeader(k, v string) reqOpt { return func(r *http.Request) { r.Header.Add(k, v) } }

func form(vals string) (io.Reader, reqOpt) {
	return strings.NewReader(vals), withHeader("Content-Type", "application/x-www-form-urlencoded")
}

const appOrigin = "https://app.example"

// serve sends one request to h.
func serve(h http.Handler, method, target string, body io.Reader, opts ...reqOpt) *http.Response {
	r := httptest.NewRequest(method, appOrigin+target, body)
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func (f *fixture) do(method, target string, body io.Reader, opts ...reqOpt) *http.Response {
	return serve(f.h, method, target, body, opts...)
}

// loginTo logs in to h with the X-CIS-Ticket header and returns the
// session cookie.
func loginTo(t testing.TB, h http.Handler, name string, tk cis.Ticket) *http.Cookie {
	t.Helper()
	resp := serve(h, http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", tk.Reveal()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body(resp))
	}
	c := cookieNamed(resp, name)
	if c == nil || c.Value == "" {
		t.Fatalf("login set no %s cookie: %v", name, resp.Header["Set-Cookie"])
	}
	return c
}

func (f *fixture) login(tk cis.Ticket) *http.Cookie {
	f.t.Helper()
	return loginTo(f.t, f.h, f.m.CookieName(), tk)
}

// cookieNamed returns the response's Set-Cookie for name, or nil.
func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// whoFrom decodes a /whoami answer, failing the test unless it is 200.
func whoFrom(t testing.TB, resp *http.Response) who {
	t.Helper()
	b := body(resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, b)
	}
	var w who
	if err := json.Unmarshal([]byte(b), &w); err != nil {
		t.Fatalf("whoami answer %q: %v", b, err)
	}
	return w
}

// problemOf decodes a JSON error answer.
func problemOf(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	b := body(resp)
	var p map[string]any
	if err := json.Unmarshal([]byte(b), &p); err != nil {
		t.Fatalf("error answer %q is not JSON: %v", b, err)
	}
	return p
}

// metric sums the samples of a metric family whose labels include the
// given ones.
func metric(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue samples
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// fetches is the number of RoleAssertion requests the simulator answered.
func (f *fixture) fetches() int {
	return int(metric(f.t, f.simReg, "cissim_requests_total", "endpoint", "roleassertion"))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, deadline time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(deadline)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s: not within %s", what, deadline)
		}
	}
	return time.Since(start)
}
