package middleware

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis/cis2"
)

// CIS2RelyingParty is a CIS2 (OpenID Connect) relying party as the
// middleware uses it: *cis2.RelyingParty (built with cis2.New) satisfies
// it. The middleware never builds one itself, so New makes no network
// call; tests may pass a fake. Its methods must be safe for concurrent use
// and must not keep or modify the values passed in.
type CIS2RelyingParty interface {
	// RedirectURL is this application's registered callback URL; its path
	// is the middleware's callback path.
	RedirectURL() string
	// Begin starts a login: the authorization URL, and what Finish needs.
	Begin(opts cis2.BeginOptions) (*cis2.AuthRequest, error)
	// Finish completes a login from the callback's raw query.
	Finish(ctx context.Context, p *cis2.Pending, rawQuery string) (*cis2.Login, error)
	// Revalidate asks the provider whether a login still stands; an error
	// matching cis.ErrSessionInvalid means the grant is gone.
	Revalidate(ctx context.Context, l *cis2.Login) (*cis2.Login, error)
	// Logout builds the RP-initiated logout request, or fails with
	// cis2.ErrNoEndSession.
	Logout(l *cis2.Login, state string) (*cis2.LogoutRequest, error)
}

var _ CIS2RelyingParty = (*cis2.RelyingParty)(nil)

// Defaults of CIS2Config.
const (
	DefaultCIS2LoginPath    = "/cis/oidc/login"
	DefaultCIS2CallbackPath = "/cis/oidc/callback"
	// DefaultMaxPendingLogins bounds the CIS2 logins in progress a
	// MemoryStore-backed middleware holds.
	DefaultMaxPendingLogins = 100_000
)

// CIS2Config enables logins through NHS CIS2 (OpenID Connect). A CIS2
// session is the same session as a legacy one — the same cookie, store,
// guards, revalidation interval and endpoints — with Session.Source
// SourceCIS2; an application may accept both sources at once.
type CIS2Config struct {
	// RelyingParty is the CIS2 relying party (a *cis2.RelyingParty from
	// cis2.New). Nil leaves CIS2 off; the other fields must then be zero.
	RelyingParty CIS2RelyingParty
	// LoginPath is where a browser starts a CIS2 login with a GET
	// (DefaultCIS2LoginPath "/cis/oidc/login" if empty), optionally with
	// "return" (a same-site path to land on afterwards) and "prompt=login"
	// (a fresh authentication and role choice).
	LoginPath string
	// CallbackPath is where the provider sends the browser back. Empty
	// means the path of RelyingParty.RedirectURL(); if set it must equal
	// it (DefaultCIS2CallbackPath is what the simulator's demo client
	// registers).
	CallbackPath string
	// LoginTimeout is how long a login may stay in progress: the
	// server-side record of its state, nonce and PKCE verifier and the
	// browser's login cookie live this long (cis2.DefaultLoginTimeout, 10
	// minutes, if zero; the relying party refuses older logins itself).
	LoginTimeout time.Duration
	// LocalLogout makes a logout end only the web session. By default a
	// browser's logout (a form post to Config.LogoutPath) of a CIS2 session
	// also ends the CIS2 session at the provider (RP-initiated logout, when
	// the provider offers it), by an automatically posted form.
	LocalLogout bool
	// MaxPendingLogins bounds the logins in progress kept in memory (with
	// a MemoryStore; DefaultMaxPendingLogins if zero); past it, new logins
	// get 503 until some finish or expire. A RedisStore keeps them in
	// Redis, each expiring after LoginTimeout.
	MaxPendingLogins int
}

// checkCIS2 checks c and fills in its defaults; paths are the other
// endpoints' paths.
func checkCIS2(c *CIS2Config, paths map[string]bool) error {
	if c.RelyingParty == nil {
		if c.LoginPath != "" || c.CallbackPath != "" || c.LoginTimeout != 0 || c.LocalLogout || c.MaxPendingLogins != 0 {
			return errors.New("middleware: CIS2 settings without a CIS2.RelyingParty")
		}
		return nil
	}
	redirect, err := url.Parse(c.RelyingParty.RedirectURL())
	if err != nil || !strings.HasPrefix(redirect.Path, "/") {
		return errors.New("middleware: CIS2.RelyingParty's redirect URL has no path")
	}
	switch {
	case c.CallbackPath == "":
		c.CallbackPath = redirect.Path
	case c.CallbackPath != redirect.Path:
		return fmt.Errorf("middleware: CIS2.CallbackPath %q is not the path of the redirect URL %q", c.CallbackPath, redirect.Path)
	}
	if c.LoginPath == "" {
		c.LoginPath = DefaultCIS2LoginPath
	}
	if !strings.HasPrefix(c.LoginPath, "/") {
		return fmt.Errorf("middleware: CIS2.LoginPath %q does not start with /", c.LoginPath)
	}
	if paths[c.LoginPath] || paths[c.CallbackPath] || c.LoginPath == c.CallbackPath {
		return errors.New("middleware: the CIS2 login and callback paths must differ from each other and from the other endpoints")
	}
	if c.LoginTimeout < 0 || c.MaxPendingLogins < 0 {
		return errors.New("middleware: negative CIS2.LoginTimeout or CIS2.MaxPendingLogins")
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = cis2.DefaultLoginTimeout
	}
	if c.MaxPendingLogins == 0 {
		c.MaxPendingLogins = DefaultMaxPendingLogins
	}
	return nil
}

// cis2Flow answers the CIS2 login and callback paths and logs CIS2
// sessions out at the provider.
type cis2Flow struct {
	m       *Middleware
	cfg     CIS2Config
	rp      CIS2RelyingParty
	pending pendingStore
	// bind is the login cookie: a signed random value binding a login in
	// progress to the browser that began it. Always SameSite=Lax: the
	// callback is a cross-site navigation from the provider.
	bind *cookies
	src  *cis2Source
}

func newCIS2Flow(m *Middleware) *cis2Flow {
	s := m.s
	ck := s.Cookie
	ck.MaxAge, ck.SameSite = s.CIS2.LoginTimeout, http.SameSiteLaxMode
	return &cis2Flow{
		m: m, cfg: s.CIS2, rp: s.CIS2.RelyingParty,
		pending: newPendingStore(s.Store, s.CIS2.MaxPendingLogins, s.Now),
		bind:    newCookies(s.cookieName+"_oidc", ck),
		src: &cis2Source{
			rp: s.CIS2.RelyingParty, be: m.be, ttl: s.Revalidate, now: s.Now, metrics: m.metrics, log: s.Logger,
			brk: breaker{service: "CIS2 provider"},
		},
	}
}

// endpoint answers r if it is for the CIS2 login or callback path.
func (f *cis2Flow) endpoint(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case f.cfg.LoginPath:
		f.login(w, r)
	case f.cfg.CallbackPath:
		f.m.metrics.login(SourceCIS2, f.callback(w, r))
	default:
		return false
	}
	return true
}

// loginLink is the CIS2 login path with a return path.
func (f *cis2Flow) loginLink(ret string) string {
	u := url.URL{Path: f.cfg.LoginPath}
	if ret != "/" {
		u.RawQuery = url.Values{"return": {ret}}.Encode()
	}
	return u.String()
}

// login answers GET LoginPath: a login in progress is kept on the server
// under its state, bound to this browser by the login cookie, and the
// browser is sent to the provider.
func (f *cis2Flow) login(w http.ResponseWriter, r *http.Request) {
	m := f.m
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeProblem(w, r, m.now(), problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "Use GET."})
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q["return"]) > 1 || len(q["prompt"]) > 1 {
		writeProblem(w, r, m.now(), problem{Status: http.StatusBadRequest, Code: "bad_request",
			Message: "The login link is malformed: at most one \"return\" and one \"prompt\"."})
		return
	}
	prompt := q.Get("prompt")
	if prompt != "" && prompt != "login" {
		writeProblem(w, r, m.now(), problem{Status: http.StatusBadRequest, Code: "bad_request",
			Message: "The login link's \"prompt\" may only be \"login\" (log in and choose a role afresh)."})
		return
	}
	ar, err := f.rp.Begin(cis2.BeginOptions{Prompt: prompt})
	if err != nil {
		m.fail(w, r, err)
		return
	}
	b, err := newSessionID()
	if err != nil {
		m.fail(w, r, err)
		return
	}
	if old, err := f.bind.decode(f.bind.value(r.Header)); err == nil {
		// Keep the browser's value: logins begun in other tabs stay valid.
		b = old
	}
	cookie, err := f.bind.encode(b)
	if err != nil {
		m.fail(w, r, err)
		return
	}
	p := &pendingLogin{p: ar.Pending, binding: sha256.Sum256([]byte(b)), ret: safeReturn(q.Get("return"))}
	if err := f.pending.put(r.Context(), p, f.cfg.LoginTimeout); err != nil {
		if errors.Is(err, errPendingFull) {
			err = &StoreError{Err: err}
		}
		m.fail(w, r, err)
		return
	}
	f.bind.set(w, cookie)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, ar.URL, http.StatusSeeOther)
}

// callback answers GET CallbackPath and returns the outcome for the
// logins metric: the login in progress named by the state is taken (once),
// checked against this browser's login cookie and finished by the relying
// party; then the session starts as a legacy login's does.
func (f *cis2Flow) callback(w http.ResponseWriter, r *http.Request) string {
	m := f.m
	ctx := r.Context()
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeProblem(w, r, m.now(), problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "Use GET."})
		return "bad_request"
	}
	cb, err := cis2.ParseCallback(r.URL.RawQuery)
	if err != nil || cb.State == "" {
		return f.refuse(w, r, http.StatusBadRequest, "bad_callback", "The answer from NHS CIS2 could not be read.", err)
	}
	b, err := f.bind.decode(f.bind.value(r.Header))
	if err != nil {
		return f.refuse(w, r, http.StatusBadRequest, "no_login_in_progress",
			"This browser has no NHS CIS2 login in progress: it was begun in another browser, or more than "+minutes(f.cfg.LoginTimeout)+" ago.", nil)
	}
	p, err := f.pending.take(ctx, cb.State)
	switch {
	case errors.Is(err, errNoRecord):
		return f.refuse(w, r, http.StatusBadRequest, "login_not_found",
			"This NHS CIS2 login has already been completed or has expired (a login must finish within "+minutes(f.cfg.LoginTimeout)+").", nil)
	case err != nil:
		m.fail(w, r, err)
		return "unavailable"
	}
	bh := sha256.Sum256([]byte(b))
	if subtle.ConstantTimeCompare(bh[:], p.binding[:]) != 1 {
		return f.refuse(w, r, http.StatusBadRequest, "login_mismatch", "This NHS CIS2 login was begun in another browser.", nil)
	}
	start := m.now()
	l, err := f.rp.Finish(ctx, &p.p, r.URL.RawQuery)
	m.metrics.cis2Duration.WithLabelValues("finish").Observe(m.now().Sub(start).Seconds())
	if err != nil {
		return f.finishFailed(w, r, err)
	}
	id, err := cis2Identity(l, "", m.now())
	if err != nil {
		m.fail(w, r, err)
		return "bad_gateway"
	}
	if err := m.replaceCurrent(w, r); err != nil {
		m.fail(w, r, err)
		return "unavailable"
	}
	st, err := m.start(ctx, w, SourceCIS2, "", id.grant.index(), id)
	if err != nil {
		m.fail(w, r, err)
		return "unavailable"
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "login", slog.String("source", SourceCIS2), slog.String("uid", st.rec.user.UID),
		slog.String("role", st.rec.roleID), slog.String("org", st.pub.Role.OrgCode), slog.String("acr", l.ACR))
	f.land(w, r, p.ret)
	return "ok"
}

// land sends the browser to ret after a login. With SameSite=Strict
// session cookies a redirect would not carry the new cookie (the chain
// began at the provider, another site), so a page then navigates from this
// site instead.
func (f *cis2Flow) land(w http.ResponseWriter, r *http.Request, ret string) {
	ret = safeReturn(ret)
	w.Header().Set("Cache-Control", "no-store")
	if f.m.s.Cookie.SameSite != http.SameSiteStrictMode {
		http.Redirect(w, r, ret, http.StatusSeeOther)
		return
	}
	writePage(w, landingPage, struct{ Return string }{ret})
}

// finishFailed answers a login the relying party did not complete.
func (f *cis2Flow) finishFailed(w http.ResponseWriter, r *http.Request, err error) string {
	var pe *cis2.ProviderError
	switch {
	case errors.As(err, &pe):
		return f.refuse(w, r, http.StatusForbidden, "provider_refused", "NHS CIS2 did not log you in ("+pe.Code+").", err)
	case errors.Is(err, cis2.ErrCallback):
		return f.refuse(w, r, http.StatusBadRequest, "bad_callback", "The answer from NHS CIS2 could not be read.", err)
	case errors.Is(err, cis2.ErrState), errors.Is(err, cis2.ErrIssuerMismatch):
		return f.refuse(w, r, http.StatusBadRequest, "login_mismatch", "The answer from NHS CIS2 belongs to another login.", err)
	case errors.Is(err, cis2.ErrLoginExpired):
		return f.refuse(w, r, http.StatusBadRequest, "login_expired", "The NHS CIS2 login took too long.", err)
	case errors.Is(err, cis2.ErrGrant):
		return f.refuse(w, r, http.StatusForbidden, "login_refused",
			"NHS CIS2 refused this login's code: it was used already, has expired, or was meant for another login.", err)
	case errors.Is(err, cis2.ErrAssurance):
		return f.refuse(w, r, http.StatusForbidden, "assurance",
			"Your NHS CIS2 login did not use a smartcard (or another method this service accepts): log in with your smartcard.", err)
	case errors.Is(err, cis2.ErrRefused):
		// ErrIDToken, ErrSubject, cis.ErrUnknownRole: what the provider
		// said does not hold together.
		return f.refuse(w, r, http.StatusForbidden, "login_refused",
			"What NHS CIS2 said about this login failed this service's checks.", err)
	case errors.Is(err, cis2.ErrClient):
		return f.refuse(w, r, http.StatusInternalServerError, "internal",
			"NHS CIS2 does not accept this service's registration. Tell the service's administrators.", err)
	}
	f.m.fail(w, r, err)
	status, _ := statusOf(err)
	return loginOutcome(status)
}

// refuse answers a refused login with a page (or JSON) in plain words and
// a link to start again, logs why, and returns the metric's outcome.
func (f *cis2Flow) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string, err error) string {
	attrs := []slog.Attr{slog.String("source", SourceCIS2), slog.String("reason", code)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	f.m.log.LogAttrs(r.Context(), slog.LevelInfo, "login refused", attrs...)
	writeProblem(w, r, f.m.now(), problem{Status: status, Code: code, Message: msg + " Start the login again.", Login: f.loginLink("/")})
	switch {
	case status == http.StatusBadRequest:
		return "bad_request"
	case status == http.StatusForbidden:
		return "refused"
	}
	return "error"
}

// minutes says a duration in whole minutes, for people.
func minutes(d time.Duration) string {
	n := int((d + time.Minute - 1) / time.Minute)
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// providerLogout answers a browser's logout of a CIS2 session (already
// ended here) with a page that posts the RP-initiated logout to the
// provider, so that the CIS2 session ends there too. A form keeps the ID
// token (id_token_hint) out of the address bar, history, Referer headers
// and access logs. It reports false — and writes nothing — when the
// provider offers no logout or LocalLogout is set.
func (f *cis2Flow) providerLogout(w http.ResponseWriter, r *http.Request, rec *record) bool {
	if f.cfg.LocalLogout || rec.grant == nil {
		return false
	}
	lr, err := f.rp.Logout(loginOf(rec), "")
	if err != nil {
		if !errors.Is(err, cis2.ErrNoEndSession) {
			f.m.log.LogAttrs(r.Context(), slog.LevelWarn, "CIS2 logout request not built", slog.String("error", err.Error()))
		}
		return false
	}
	u, err := url.Parse(lr.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		f.m.log.LogAttrs(r.Context(), slog.LevelWarn, "CIS2 end-session endpoint is not an http(s) URL")
		return false
	}
	type field struct{ Name, Value string }
	data := struct {
		Endpoint string
		Fields   []field
	}{Endpoint: lr.Endpoint}
	for name, vs := range lr.Params {
		for _, v := range vs {
			data.Fields = append(data.Fields, field{name, v})
		}
	}
	writePage(w, logoutPage, data)
	return true
}
