package cis_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
)

// front is a TLS server standing before the simulator as the
// environment's GAS and SSB: it counts requests by path and answers them
// with its handlers, or passes them to the simulator (whose answers name
// the simulator's own address, not the front's).
type front struct {
	*httptest.Server
	srv      *cistest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	hits     map[string]int
}

func newFront(t *testing.T) *front {
	f := &front{srv: cistest.NewServer(t), handlers: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	f.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.hits[r.URL.Path]++
		h := f.handlers[r.URL.Path]
		f.mu.Unlock()
		if h == nil {
			h = f.srv.Simulator().ServeHTTP
		}
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *front) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

func (f *front) hitsOf(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

// env is an environment whose GAS and SSB are the front. httptest's TLS
// servers share one certificate, so it verifies the simulator too.
func (f *front) env() cis.Environment {
	e := f.srv.Env()
	e.GASURL, e.SSBURL = f.URL, f.URL
	return e
}

// clock is a settable clock for the naming cache.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

const (
	namingPath  = "/amserver/namingservice"
	sessionPath = "/amserver/sessionservice"
)

// The session service is where the naming service says, asked once per
// TTL by any number of callers.
func TestNamingClientFindsSessionService(t *testing.T) {
	f := newFront(t)
	clk := &clock{}
	c, err := cis.NewNamingClient(cis.NamingConfig{Env: f.env(), Now: clk.now, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := f.srv.URL + sessionPath // the simulator's own address: not the environment's
	if got := c.SessionServiceURL(ctx); got != want {
		t.Fatalf("session service %q, want %q", got, want)
	}
	for range 10 {
		c.SessionServiceURL(ctx)
	}
	if n := f.hitsOf(namingPath); n != 1 {
		t.Fatalf("%d naming requests within the TTL, want 1", n)
	}
	clk.advance(time.Hour)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got := c.SessionServiceURL(ctx); got != want {
				t.Errorf("session service %q", got)
			}
		})
	}
	wg.Wait()
	if n := f.hitsOf(namingPath); n != 2 {
		t.Fatalf("%d naming requests after the TTL, want 2 (one lookup shared by 50 callers)", n)
	}
}

// A naming service that fails or answers nonsense gives way to the
// environment's session service URL until the retry interval has passed.
func TestNamingClientFallsBack(t *testing.T) {
	for name, broken := range map[string]http.HandlerFunc{
		"500":     func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusInternalServerError) },
		"garbage": func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>login page</html>")) },
		"http off loopback": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`<ResponseSet vers="1.0" svcid="com.iplanet.am.naming" reqid="1"><Response><![CDATA[<NamingResponse vers="1.0" reqid="0"><GetNamingProfile>` +
				`<Attribute name="iplanet-am-naming-session-url" value="http://evil.example/amserver/sessionservice"></Attribute></GetNamingProfile></NamingResponse>]]></Response></ResponseSet>`))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFront(t)
			f.handle(namingPath, broken)
			clk := &clock{}
			c, err := cis.NewNamingClient(cis.NamingConfig{Env: f.env(), Now: clk.now, Retry: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			fallback := f.env().Endpoints().SessionService
			if got := c.SessionServiceURL(ctx); got != fallback {
				t.Fatalf("session service %q, want the fallback %q", got, fallback)
			}
			if got := c.SessionServiceURL(ctx); got != fallback || f.hitsOf(namingPath) != 1 {
				t.Fatalf("within the retry interval: %q after %d lookups", got, f.hitsOf(namingPath))
			}
			f.handle(namingPath, nil) // mended
			clk.advance(time.Minute)
			if got := c.SessionServiceURL(ctx); got != f.srv.URL+sessionPath || f.hitsOf(namingPath) != 2 {
				t.Fatalf("after the retry interval: %q after %d lookups", got, f.hitsOf(namingPath))
			}
		})
	}
}

func TestNamingClientRefusesConfig(t *testing.T) {
	srv := cistest.NewServer(t)
	noRoots := srv.Env()
	noRoots.Roots = nil
	plain := srv.Env()
	plain.GASURL = "http://gas.example"
	noGAS := srv.Env()
	noGAS.GASURL = ""
	for name, cfg := range map[string]cis.NamingConfig{
		"no trust anchors":  {Env: noRoots},
		"http off loopback": {Env: plain},
		"no gas url":        {Env: noGAS},
		"negative ttl":      {Env: srv.Env(), TTL: -time.Second},
		"system roots":      {Env: srv.Env(), HTTPClient: &http.Client{}},
	} {
		if _, err := cis.NewNamingClient(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := cis.NewSessionListenerClient(nil); err == nil {
		t.Error("nil NamingClient accepted")
	}
}

// AddSessionListener goes to the session service the naming service names
// (here the simulator's own address, or the front's when the answer is a
// template), and the simulator then notifies the listener.
func TestSessionListenerClient(t *testing.T) {
	template := func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`<ResponseSet vers="1.0" svcid="com.iplanet.am.naming" reqid="1"><Response><![CDATA[<NamingResponse vers="1.0" reqid="0"><GetNamingProfile>` +
			`<Attribute name="iplanet-am-naming-session-url" value="%protocol://%host:%port%uri/sessionservice"></Attribute></GetNamingProfile></NamingResponse>]]></Response></ResponseSet>`))
	}
	for name, c := range map[string]struct {
		naming    http.HandlerFunc
		frontHits int // session service requests through the front
	}{
		"named outright": {nil, 0},
		"template":       {template, 3},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFront(t)
			f.handle(namingPath, c.naming)
			naming, err := cis.NewNamingClient(cis.NamingConfig{Env: f.env()})
			if err != nil {
				t.Fatal(err)
			}
			lc, err := cis.NewSessionListenerClient(naming)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			l := cistest.NewListener(t)
			ticket := f.srv.MustLogin(t, "555000000001", "555000000101")
			if err := lc.AddSessionListener(ctx, ticket, l.URL); err != nil {
				t.Fatal(err)
			}
			// Again: one entry per URL, no error.
			if err := lc.AddSessionListener(ctx, ticket, l.URL); err != nil {
				t.Fatal(err)
			}
			if err := f.srv.Logout(ticket); err != nil {
				t.Fatal(err)
			}
			if e := l.MustNext(t); e.Type != cis.SessionLogout || e.Session.Ticket != ticket {
				t.Fatalf("event %v", e)
			}
			err = lc.AddSessionListener(ctx, ticket, l.URL)
			if !errors.Is(err, cis.ErrSessionInvalid) {
				t.Fatalf("dead ticket: %v", err)
			}
			if n := f.hitsOf(sessionPath); n != c.frontHits {
				t.Fatalf("%d session service requests through the front, want %d", n, c.frontHits)
			}
			if err := lc.AddSessionListener(ctx, ticket, "/relative"); err == nil || f.hitsOf(sessionPath) != c.frontHits {
				t.Fatalf("relative listener URL: %v", err)
			}
		})
	}
}
