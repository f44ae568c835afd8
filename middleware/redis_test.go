package middleware_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/redistest"
	"github.com/opencis/cisauth/middleware"
)

// newRedisStoreOrNil is a Redis store on the test Redis, or nil when there
// is none (for tests that only add a Redis case).
func newRedisStoreOrNil(t *testing.T) middleware.Store {
	if os.Getenv(redistest.EnvRedisURL) == "" {
		return nil
	}
	s, err := middleware.NewRedisStore(middleware.RedisStoreConfig{Client: redistest.Client(t), Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// countingHook counts the commands a client sends.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// fleet is instances of one application sharing a Redis and a simulator,
// each with its own Redis client, store, clock and metrics, as separate
// processes would have.
type fleet struct {
	t      testing.TB
	srv    *cistest.Server
	simReg *prometheus.Registry
	keys   [][]byte
	prefix string
	inst   []*instance
	// config, if set, adjusts instance i's Config before New.
	config func(i int, c *middleware.Config)
}

type instance struct {
	m     *middleware.Middleware
	h     http.Handler
	store *middleware.RedisStore
	clock *fakeClock
	reg   *prometheus.Registry
	hook  *countingHook
}

// newFleet starts n instances; config, if given, adjusts each one's
// Config.
func newFleet(t testing.TB, n int, config ...func(i int, c *middleware.Config)) *fleet {
	redistest.URL(t)
	simReg := prometheus.NewRegistry()
	fl := &fleet{t: t, srv: cistest.NewServerWithConfig(t, cissim.Config{Registerer: simReg}), simReg: simReg,
		prefix: redistest.Prefix(t), keys: [][]byte{make([]byte, 32), make([]byte, 32)}}
	if len(config) > 0 {
		fl.config = config[0]
	}
	for _, k := range fl.keys {
		rand.Read(k)
	}
	fl.inst = make([]*instance, n)
	for i := range n {
		fl.start(i)
	}
	return fl
}

// start (re)starts instance i and waits until it hears the others.
func (fl *fleet) start(i int) *instance {
	t := fl.t
	t.Helper()
	client := redistest.Client(t)
	hook := &countingHook{}
	client.AddHook(hook)
	store, err := middleware.NewRedisStore(middleware.RedisStoreConfig{Client: client, Prefix: fl.prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	in := &instance{store: store, clock: &fakeClock{}, reg: prometheus.NewRegistry(), hook: hook}
	cfg := middleware.Config{
		Env: fl.srv.Env(), Store: store, Cookie: middleware.CookieConfig{Keys: fl.keys},
		Now: in.clock.Now, Registerer: in.reg,
	}
	if fl.config != nil {
		fl.config(i, &cfg)
	}
	in.m, err = middleware.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in.h = in.m.Handler(appHandler())
	waitFor(t, "event subscription up", 5*time.Second, func() bool { return middleware.Trusted(store) })
	fl.inst[i] = in
	return in
}

func (fl *fleet) fetches() int {
	return int(metric(fl.t, fl.simReg, "cissim_requests_total", "endpoint", "roleassertion"))
}

func (in *instance) get(path string, c *http.Cookie) *http.Response {
	return serve(in.h, http.MethodGet, path, nil, withCookie(c))
}

// security.md 5: a cookie replayed after logout on another instance
// sharing Redis is refused within a second; a revalidation failure on one
// instance ends the session on all.
func TestRedisFleetEndsEverywhere(t *testing.T) {
	fl := newFleet(t, 3)
	a, b, c := fl.inst[0], fl.inst[1], fl.inst[2]
	name := a.m.CookieName()

	tk := fl.srv.MustLogin(t, alice, aliceRole)
	ck := loginTo(t, a.h, name, tk)
	for _, in := range fl.inst {
		whoFrom(t, in.get("/whoami", ck)) // each instance now caches the session
	}
	if resp := serve(a.h, http.MethodPost, "/cis/logout", nil, withCookie(ck)); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout on A: %d", resp.StatusCode)
	}
	for i, in := range []*instance{b, c} {
		d := waitFor(t, "logout on A refused on another instance", time.Second, func() bool {
			return in.get("/whoami", ck).StatusCode == http.StatusUnauthorized
		})
		t.Logf("instance %d refused the logged-out cookie after %s", i+1, d)
	}

	// Revalidation failure: only A's clock moves, so only A revalidates;
	// B and C learn from A.
	tk = fl.srv.MustLogin(t, alice, aliceRole)
	ck = loginTo(t, b.h, name, tk)
	for _, in := range fl.inst {
		whoFrom(t, in.get("/whoami", ck))
	}
	if err := fl.srv.Logout(tk); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(time.Minute)
	if resp := a.get("/whoami", ck); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("A after the SSO logout: %d", resp.StatusCode)
	}
	for _, in := range []*instance{b, c} {
		waitFor(t, "revalidation failure on A seen by another instance", time.Second, func() bool {
			return in.get("/whoami", ck).StatusCode == http.StatusUnauthorized
		})
	}
}

// Restarting an instance loses no session; the hot path makes no Redis
// round trip.
func TestRedisRestartAndHotPath(t *testing.T) {
	fl := newFleet(t, 2)
	name := fl.inst[0].m.CookieName()
	ck := loginTo(t, fl.inst[0].h, name, fl.srv.MustLogin(t, alice, aliceRole))
	whoFrom(t, fl.inst[1].get("/whoami", ck))

	fl.inst[0].store.Close() // the process ends
	for i := range fl.inst {
		in := fl.start(i)
		if got := whoFrom(t, in.get("/records", ck)); got.UID != alice {
			t.Fatalf("restarted instance %d: %+v", i, got)
		}
	}
	// Warm: a hundred requests, no Redis command.
	in := fl.inst[1]
	before := in.hook.n.Load()
	for range 100 {
		whoFrom(t, in.get("/whoami", ck))
	}
	if n := in.hook.n.Load() - before; n != 0 {
		t.Errorf("%d Redis commands for 100 authenticated requests, want 0", n)
	}
	if n := metric(t, in.reg, "cisauth_sessions", "store", "redis"); n != 1 {
		t.Errorf("cisauth_sessions{store=redis} = %v", n)
	}
}

// A lost event subscription must not leave a stale session alive: an
// instance that may have missed a logout checks Redis until it hears the
// others again, then drops its whole cache.
func TestRedisLostSubscription(t *testing.T) {
	fl := newFleet(t, 2)
	a, b := fl.inst[0], fl.inst[1]
	admin := redistest.Client(t)
	ctx := context.Background()
	for round := range 3 {
		ck := loginTo(t, a.h, a.m.CookieName(), fl.srv.MustLogin(t, alice, aliceRole))
		whoFrom(t, b.get("/whoami", ck))
		// Cut every subscription, then log out at once: B is likely to
		// miss the event.
		if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		if resp := serve(a.h, http.MethodPost, "/cis/logout", nil, withCookie(ck)); resp.StatusCode != http.StatusOK {
			t.Fatalf("round %d: logout on A: %d", round, resp.StatusCode)
		}
		waitFor(t, "B refuses the logged-out cookie after losing its subscription", time.Second, func() bool {
			return b.get("/whoami", ck).StatusCode == http.StatusUnauthorized
		})
		waitFor(t, "B's subscription back", 5*time.Second, func() bool { return middleware.Trusted(b.store) })
		if resp := b.get("/whoami", ck); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("round %d: the logged-out session came back on B: %d", round, resp.StatusCode)
		}
	}
}

// A role change on one instance: the old cookie is refused on the others
// (its session ended), the new one works everywhere; values saved through
// SessionStore on one instance show on the other.
func TestRedisRoleChangeAndValues(t *testing.T) {
	fl := newFleet(t, 2)
	a, b := fl.inst[0], fl.inst[1]
	sess := fl.srv.MustLoginSession(t, chandra, chandraAdmin)
	ck := loginTo(t, a.h, a.m.CookieName(), sess.Ticket)
	whoFrom(t, b.get("/whoami", ck))
	if err := fl.srv.SelectRole(context.Background(), sess, chandraClinic); err != nil {
		t.Fatal(err)
	}
	resp := serve(a.h, http.MethodPost, "/cis/refresh", nil, withCookie(ck))
	nc := cookieNamed(resp, a.m.CookieName())
	if resp.StatusCode != http.StatusOK || nc == nil {
		t.Fatalf("refresh: %d", resp.StatusCode)
	}
	waitFor(t, "old cookie refused on B after the role change on A", time.Second, func() bool {
		return b.get("/whoami", ck).StatusCode == http.StatusUnauthorized
	})
	if got := whoFrom(t, b.get("/records", nc)); got.RoleID != chandraClinic {
		t.Errorf("new cookie on B: role %s", got.RoleID)
	}

	set := a.m.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.m.SessionStore().Get(r, a.m.CookieName())
		if err != nil {
			t.Error(err)
		}
		s.Values["ward"] = "7B"
		if err := s.Save(r, w); err != nil {
			t.Error(err)
		}
	}))
	whoFrom(t, b.get("/whoami", nc)) // B caches the session first
	serve(set, http.MethodGet, "/", nil, withCookie(nc))
	get := func(in *instance) any {
		var v any
		in.m.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, _ := in.m.SessionStore().Get(r, in.m.CookieName())
			v = s.Values["ward"]
		})).ServeHTTP(discard{}, authed(nc))
		return v
	}
	waitFor(t, "value saved on A seen on B", time.Second, func() bool { return get(b) == "7B" })
}

// Redis unreachable: requests with a session fail with 503, never pass.
func TestRedisDown(t *testing.T) {
	redistest.URL(t)
	client := redis.NewClient(&redis.Options{
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "unix", Err: os.ErrNotExist}
		},
		MaxRetries: -1,
	})
	defer client.Close()
	store, err := middleware.NewRedisStore(middleware.RedisStoreConfig{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f := newFixture(t, func(f *fixture) {
		f.cfg.Store = store
		f.cfg.Cookie.Keys = [][]byte{make([]byte, 32)}
	})
	resp := f.do(http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", f.srv.MustLogin(t, alice, aliceRole).Reveal()))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("login with Redis down: %d %s", resp.StatusCode, body(resp))
	}
	// A cookie that verifies, for a session Redis cannot be asked about.
	other := newFixture(t, func(f *fixture) { f.cfg.Cookie.Keys = [][]byte{make([]byte, 32)} })
	ck := other.login(other.srv.MustLogin(t, alice, aliceRole))
	if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(ck)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request with a session while Redis is down: %d", resp.StatusCode)
	}
}
