package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/opencis/cisauth/cis"
)

// Middleware authenticates requests by a CIS session. It answers its own
// endpoints (login, refresh, logout, session) and puts the session of
// every other request in its context. It is safe for concurrent use.
type Middleware struct {
	s       *settings
	core    *storeCore
	be      backend
	cache   *sessionCache
	ck      *cookies
	cop     *http.CrossOriginProtection
	val     *validation
	ssb     ssbSource
	sources map[string]source
	cis2    *cis2Flow // nil unless Config.CIS2 enables it
	notify  *notifier // nil: session notifications off
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
}

// rotateGrace is how long, after a role change rotated a session id, a
// request with the old cookie still reaches the session on the instance
// that rotated it (and gets the new cookie): requests the browser sent
// before it saw the new cookie.
const rotateGrace = 10 * time.Second

// New checks cfg and returns a Middleware.
func New(cfg Config) (*Middleware, error) {
	s, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	store := s.Store
	if store == nil {
		store = NewMemoryStore(MemoryStoreConfig{})
	}
	if _, fleet := store.(*RedisStore); fleet && len(cfg.Cookie.Keys) == 0 {
		return nil, errors.New("middleware: a RedisStore needs Cookie.Keys shared by every instance (a random key would make each instance refuse the others' cookies)")
	}
	core := store.core()
	m := &Middleware{
		s: s, core: core, be: core.be, cache: &core.cache,
		ck: newCookies(s.cookieName, s.Cookie), log: s.Logger, now: s.Now,
	}
	m.metrics, err = newMetrics(s.Registerer, core.be.name(), func() float64 { return float64(core.cache.count()) })
	if err != nil {
		return nil, fmt.Errorf("middleware: metrics: %w", err)
	}
	v := s.Validator
	if v == nil && s.Env.SSBURL != "" {
		if v, err = m.newSSBClient(); err != nil {
			return nil, err
		}
	}
	m.cop = http.NewCrossOriginProtection()
	for _, o := range s.TrustedOrigins {
		if err := m.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("middleware: TrustedOrigins: %w", err)
		}
	}
	m.val = &validation{
		v: v, be: core.be, ttl: s.Revalidate, timeout: s.ValidationTimeout, skew: s.Skew,
		now: s.Now, log: s.Logger, metrics: m.metrics, invalid: make(map[ticketHash]time.Time),
	}
	m.ssb = ssbSource{val: m.val}
	m.sources = map[string]source{}
	if v != nil {
		m.sources[SourceSSB] = m.ssb
	}
	if s.CIS2.RelyingParty != nil {
		m.cis2 = newCIS2Flow(m)
		m.sources[SourceCIS2] = m.cis2.src
	}
	if m.notify, err = m.newNotifier(); err != nil {
		return nil, err
	}
	// Claim the store last: a failed New leaves it free.
	if err := core.bind(); err != nil {
		return nil, err
	}
	return m, nil
}

// newSSBClient builds the SSB client for Env over the environment's own
// verified HTTP client (Environment.NewHTTPClient), its transport wrapped
// for metrics.
func (m *Middleware) newSSBClient() (*cis.SSBClient, error) {
	c, err := cis.NewSSBClient(cis.SSBConfig{
		Env: m.s.Env, Timeout: m.s.ValidationTimeout, Skew: m.s.Skew, Now: m.s.Now, Logger: m.s.Logger,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return ssbTransport{next: rt, m: m.metrics} },
	})
	if err != nil {
		return nil, fmt.Errorf("middleware: %w", err)
	}
	return c, nil
}

// Handler requires a CIS session: it answers the middleware's endpoints,
// puts the session of other requests in their context (see SessionFrom,
// UserFrom, RoleFrom) and refuses requests without one — 401, or for an
// HTML request a redirect to Config.LoginURL (which itself passes without
// a session). Its signature fits net/http, chi (r.Use) and gorilla/mux;
// with a router that runs middleware only after a route matched
// (gorilla/mux), route the endpoints to Endpoints.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next, true) })
}

// Optional is Handler for pages that also serve visitors without a
// session (a start page, the login page): a request without a session
// reaches next with none in its context. A session that cannot be
// revalidated now still fails the request (503): never a silent pass.
func (m *Middleware) Optional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next, false) })
}

// Endpoints answers only the middleware's endpoints (404 for anything
// else), for routers that need them as a route of their own.
func (m *Middleware) Endpoints() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.endpoint(w, r) {
			http.NotFound(w, r)
		}
	})
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler, required bool) {
	if !m.endpoint(w, r) {
		m.withSession(w, r, next, required)
	}
}

// withSession serves r with its session in the context.
func (m *Middleware) withSession(w http.ResponseWriter, r *http.Request, next http.Handler, required bool) {
	st, err := m.session(w, r)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	if st == nil {
		if required && !m.isLoginPage(r) {
			m.unauthenticated(w, r)
			return
		}
		next.ServeHTTP(w, r)
		return
	}
	next.ServeHTTP(w, r.WithContext(withState(r.Context(), st)))
}

// endpoint answers r if it is for one of the middleware's paths.
func (m *Middleware) endpoint(w http.ResponseWriter, r *http.Request) bool {
	if m.notify != nil && r.URL.Path == m.s.Notify.Path {
		m.notify.handler.ServeHTTP(w, r) // no session, no CSRF check: CIS posts server to server
		return true
	}
	switch r.URL.Path {
	case m.s.LoginPath:
		m.login(w, r)
	case m.s.RefreshPath:
		m.refresh(w, r)
	case m.s.LogoutPath:
		m.logoutEndpoint(w, r)
	case m.s.SessionPath:
		m.sessionEndpoint(w, r)
	default:
		return m.cis2 != nil && m.cis2.endpoint(w, r)
	}
	return true
}

func (m *Middleware) isLoginPage(r *http.Request) bool {
	u := m.s.loginURL
	return u != nil && u.Host == "" && r.URL.Path == u.Path
}

// session returns the request's live session, revalidated if due, or nil
// if it has none (a cookie that does not verify, or names a session that
// has ended, is cleared). An error means the session could not be checked
// now: the request fails, the session stays.
func (m *Middleware) session(w http.ResponseWriter, r *http.Request) (*state, error) {
	e, err := m.current(w, r)
	if e == nil || err != nil {
		return nil, err
	}
	return m.live(r.Context(), w, e, false)
}

// current finds the request's session entry without revalidating it.
func (m *Middleware) current(w http.ResponseWriter, r *http.Request) (*entry, error) {
	v := m.ck.value(r.Header)
	if v == "" {
		return nil, nil
	}
	if m.be.trusted() {
		if e := m.cache.get(v); e != nil {
			return e, nil
		}
	}
	e, err := m.resolve(r.Context(), v)
	if errors.Is(err, errBadCookie) || errors.Is(err, errNoRecord) {
		m.ck.clear(w)
		return nil, nil
	}
	return e, err
}

// resolve verifies a cookie the local cache does not know and loads its
// session from the store.
func (m *Middleware) resolve(ctx context.Context, cookie string) (*entry, error) {
	id, err := m.ck.decode(cookie)
	if err != nil {
		return nil, err
	}
	gen := m.cache.generation()
	rec, err := m.be.load(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &entry{id: id}
	e.st.Store(newState(rec))
	if m.be.trusted() {
		e = m.cache.add(cookie, e, gen)
	}
	return e, nil
}

// live returns the entry's session if it is live, revalidating it when
// due (or forced); nil if it has ended.
func (m *Middleware) live(ctx context.Context, w http.ResponseWriter, e *entry, force bool) (*state, error) {
	now := m.now()
	st := e.st.Load()
	if st == nil {
		sc := e.succ.Load()
		if sc == nil || !now.Before(sc.until) {
			m.ck.clear(w)
			return nil, nil
		}
		m.ck.set(w, sc.cookie)
		e = sc.e
		if st = e.st.Load(); st == nil {
			m.ck.clear(w)
			return nil, nil
		}
	}
	if !now.Before(st.rec.expires) {
		if err := m.end(ctx, "expired", st.rec); err != nil {
			return nil, err
		}
		m.ck.clear(w)
		return nil, nil
	}
	if force || now.Sub(st.rec.validated) >= m.s.Revalidate {
		return m.revalidate(ctx, w, e, st, force)
	}
	return st, nil
}

// revalidate asks the session's identity source about it again. A session
// the source says has ended is ended (nil, nil); any other failure keeps
// it and is returned.
func (m *Middleware) revalidate(ctx context.Context, w http.ResponseWriter, e *entry, st *state, force bool) (*state, error) {
	m.cache.sweep(m.now())
	src := m.sources[st.rec.source]
	if src == nil {
		// A session from a source this build does not know: end it.
		return nil, m.endAndClear(ctx, w, "sso_ended", st.rec)
	}
	id, err := src.recheck(ctx, st.rec, force)
	if err == nil {
		err = sameUser(st.rec, id)
	}
	if err != nil {
		status, _ := cis.HTTPStatus(err)
		switch status {
		case 0:
			return nil, err
		case http.StatusUnauthorized:
			m.metrics.revalFailure(st.rec.source, "sso_ended")
			m.log.LogAttrs(ctx, slog.LevelInfo, "session ended: the SSO session is gone",
				slog.String("uid", st.rec.user.UID), slog.String("ticket", st.rec.th.short()))
			return nil, m.endAndClear(ctx, w, "sso_ended", st.rec)
		case http.StatusServiceUnavailable:
			m.metrics.revalFailure(st.rec.source, "unavailable")
		default:
			m.metrics.revalFailure(st.rec.source, "error")
		}
		return nil, err
	}
	return m.apply(ctx, w, e, id)
}

// apply records a successful recheck in the session: a newer validation
// time, the user's roles as they are now, and — if the selected role
// changed — a new session id.
func (m *Middleware) apply(ctx context.Context, w http.ResponseWriter, e *entry, id identity) (*state, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.st.Load()
	if cur == nil {
		// Ended, or rotated by a request that held the lock before us.
		if sc := e.succ.Load(); sc != nil {
			m.ck.set(w, sc.cookie)
			return sc.e.st.Load(), nil
		}
		return nil, nil
	}
	if !id.checked.After(cur.rec.validated) && id.roleID == cur.rec.roleID {
		return cur, nil
	}
	rec := *cur.rec
	rec.user, rec.mode, rec.validated = id.user, id.mode, id.checked
	if id.grant != nil {
		rec.grant = id.grant
	}
	if id.roleID != cur.rec.roleID {
		rec.roleID = id.roleID
		return m.rotate(ctx, w, e, cur, &rec)
	}
	if err := m.be.setIdentity(ctx, &rec); err != nil {
		if errors.Is(err, errNoRecord) {
			// Ended on another instance meanwhile.
			m.forgetLocal(rec.id)
			m.ck.clear(w)
			return nil, nil
		}
		return nil, err
	}
	st := newState(&rec)
	e.st.Store(st)
	return st, nil
}

// rotate replaces a session whose selected role changed by a new one with
// a new id (and cookie). Called with e.mu held.
func (m *Middleware) rotate(ctx context.Context, w http.ResponseWriter, e *entry, cur *state, rec *record) (*state, error) {
	id, err := newSessionID()
	if err != nil {
		return nil, err
	}
	cookie, err := m.ck.encode(id)
	if err != nil {
		return nil, fmt.Errorf("middleware: session cookie: %w", err)
	}
	rec.id = id
	if err := m.be.create(ctx, rec, rec.expires.Sub(m.now())); err != nil {
		return nil, err
	}
	if err := m.be.remove(ctx, cur.rec); err != nil {
		// The old id must not outlive the change: undo and fail.
		_ = m.be.remove(context.WithoutCancel(ctx), rec)
		return nil, err
	}
	ne := &entry{id: id}
	st := newState(rec)
	ne.st.Store(st)
	ne = m.cache.add(cookie, ne, m.cache.generation())
	e.succ.Store(&successor{e: ne, cookie: cookie, until: m.now().Add(rotateGrace)})
	e.st.Store(nil)
	m.cache.retire(e)
	m.ck.set(w, cookie)
	m.metrics.roleChanges.Inc()
	m.log.LogAttrs(ctx, slog.LevelInfo, "selected role changed; session id rotated",
		slog.String("uid", rec.user.UID), slog.String("from_role", cur.rec.roleID), slog.String("role", rec.roleID))
	return st, nil
}

// end ends sessions in the store (so every instance forgets them) and
// here.
func (m *Middleware) end(ctx context.Context, reason string, recs ...*record) error {
	if err := m.be.remove(ctx, recs...); err != nil {
		return err
	}
	for _, rec := range recs {
		m.forgetLocal(rec.id)
		m.metrics.sessionEnded(rec.source, reason)
	}
	return nil
}

func (m *Middleware) endAndClear(ctx context.Context, w http.ResponseWriter, reason string, rec *record) error {
	if err := m.end(ctx, reason, rec); err != nil {
		return err
	}
	m.ck.clear(w)
	return nil
}

// forgetLocal drops a session from this instance's cache; requests that
// hold its entry see it ended.
func (m *Middleware) forgetLocal(id string) {
	if e := m.cache.forget(id); e != nil {
		e.st.Store(nil)
	}
}

// unauthenticated answers a request that needs a session and has none.
func (m *Middleware) unauthenticated(w http.ResponseWriter, r *http.Request) {
	login := m.loginLink(requestReturn(r.URL))
	if login != "" && wantsHTML(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, login, http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `CIS-Ticket realm="NHS CIS"`)
	writeProblem(w, r, m.now(), problem{
		Status: http.StatusUnauthorized, Code: "unauthenticated",
		Message: "You are not logged in, or your session has ended. Log in with your smartcard to continue.",
		Login:   login,
	})
}

// loginLink is Config.LoginURL with the return path, or "".
func (m *Middleware) loginLink(ret string) string {
	if m.s.loginURL == nil {
		return ""
	}
	u := *m.s.loginURL
	if ret != "/" {
		u.RawQuery = url.Values{"return": {ret}}.Encode()
	}
	return u.String()
}

// fail answers a request whose session or login could not be checked.
func (m *Middleware) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, retry := statusOf(err)
	if status == 0 {
		return // the client went away
	}
	now := m.now()
	var be *BackoffError
	if retry.IsZero() && errors.As(err, &be) {
		retry = be.Until
	}
	p := problem{Status: status}
	switch status {
	case http.StatusUnauthorized:
		m.unauthenticated(w, r)
		return
	case http.StatusServiceUnavailable:
		p.Code = "unavailable"
		p.Message = "The NHS identity service cannot confirm your session just now (it may be in its maintenance slot). Your session is kept; please try again shortly."
		if retry.Before(now) {
			retry = now.Add(5 * time.Second)
		}
		p.RetryAfter = &retry
	case http.StatusBadGateway:
		p.Code = "bad_gateway"
		p.Message = "The NHS identity service gave an answer that cannot be used. Please try again; if it persists, tell your service desk."
	default:
		p.Code = "internal"
		p.Message = "Something went wrong while checking your session. Please try again."
	}
	m.log.LogAttrs(r.Context(), slog.LevelWarn, "request failed: session not checked",
		slog.String("path", r.URL.Path), slog.Int("status", status), slog.String("error", err.Error()))
	writeProblem(w, r, now, p)
}

// statusOf sorts an error for an answer: store failures are 503, the rest
// as cis.HTTPStatus says.
func statusOf(err error) (int, time.Time) {
	var se *StoreError
	if errors.As(err, &se) || errors.Is(err, errStoreFull) {
		return http.StatusServiceUnavailable, time.Time{}
	}
	return cis.HTTPStatus(err)
}

// StoreError is a failure of the session store (Redis unreachable, …). The
// middleware answers 503 and keeps the session; a logout that cannot reach
// the store fails rather than pretend.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "middleware: session store: " + e.Err.Error() }

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }
