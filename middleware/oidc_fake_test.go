package middleware_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// fakeRP is a CIS2 relying party without a provider: Begin makes a fresh
// state, Finish checks it and answers with login (or err), Revalidate
// answers with the login it is given (or revalErr).
type fakeRP struct {
	mu       sync.Mutex
	login    cis2.Login
	err      error
	revalErr error
	prompts  []string
	n        int
}

const fakeAuthURL = "https://cis2.example/authorize"

func (f *fakeRP) RedirectURL() string { return "https://app.example/cis/oidc/callback" }

func (f *fakeRP) Begin(o cis2.BeginOptions) (*cis2.AuthRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.prompts = append(f.prompts, o.Prompt)
	state := "state-" + strconv.Itoa(f.n)
	return &cis2.AuthRequest{
		URL:     fakeAuthURL + "?state=" + url.QueryEscape(state),
		Pending: cis2.Pending{State: state, Nonce: "n", Verifier: "v", Created: time.Now()},
	}, nil
}

func (f *fakeRP) Finish(_ context.Context, p *cis2.Pending, raw string) (*cis2.Login, error) {
	cb, err := cis2.ParseCallback(raw)
	if err != nil {
		return nil, err
	}
	if cb.State != p.State {
		return nil, cis2.ErrState
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	l := f.login
	return &l, nil
}

func (f *fakeRP) Revalidate(_ context.Context, l *cis2.Login) (*cis2.Login, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.revalErr != nil {
		return nil, f.revalErr
	}
	n := *l
	return &n, nil
}

func (f *fakeRP) Logout(*cis2.Login, string) (*cis2.LogoutRequest, error) {
	return nil, cis2.ErrNoEndSession
}

// noRoleLogin is a user who holds no role profile at all: the spec allows it.
func noRoleLogin() cis2.Login {
	return cis2.Login{User: cis.User{UID: "555000000009", Name: "Nobody Nora Ms"}, Subject: "555000000009",
		Tokens: cis2.Tokens{AccessToken: "access", IDToken: "id"}}
}

// fakeApp is a CIS2-only application (no SSB at all) with a fake relying
// party, driven through httptest recorders.
func fakeApp(t testing.TB, rp *fakeRP, opts ...func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &fakeClock{}, logs: &logBuffer{}}
	f.cfg = middleware.Config{CIS2: middleware.CIS2Config{RelyingParty: rp}}
	for _, o := range opts {
		o(f)
	}
	f.m = f.newMiddleware(f.cfg)
	f.h = f.m.Handler(appHandler())
	return f
}

// fakeLogin runs a login against a fake app: the login path, then the
// callback with the state, in one browser (cookies carried by hand). It
// returns the callback's answer.
func fakeLogin(t testing.TB, f *fixture, query string) *http.Response {
	t.Helper()
	resp := f.do(http.MethodGet, "/cis/oidc/login"+query, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, body(resp))
	}
	state := mustQuery(t, resp.Header.Get("Location")).Get("state")
	bind := cookieNamed(resp, f.m.CookieName()+"_oidc")
	return f.do(http.MethodGet, "/cis/oidc/callback?"+url.Values{"code": {"c"}, "state": {state}}.Encode(), nil, withCookie(bind))
}

// A user with no role profiles at all logs in; guards refuse with a 403
// that says so, as JSON (with DeniedError.NoRole) and as a page.
func TestCIS2UserWithoutRoles(t *testing.T) {
	f := fakeApp(t, &fakeRP{login: noRoleLogin()})
	resp := fakeLogin(t, f, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", resp.StatusCode, body(resp))
	}
	c := cookieNamed(resp, f.m.CookieName())
	resp = f.do(http.MethodGet, "/cis/session", nil, withCookie(c))
	if b := body(resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, `"role":null`) || !strings.Contains(b, `"roles":[]`) {
		t.Errorf("session: %d %s", resp.StatusCode, b)
	}
	resp = f.do(http.MethodGet, "/records", nil, withCookie(c))
	p := problemOf(t, resp)
	if resp.StatusCode != http.StatusForbidden || p["message"] != "You are logged in without a selected role, and this needs activity B0264; log in again and choose a role that has it." {
		t.Errorf("/records: %d %v", resp.StatusCode, p)
	}
	resp = f.do(http.MethodGet, "/rcj", nil, withCookie(c), withHeader("Accept", "text/html"))
	if b := body(resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(b, "needs a role at RCJ") {
		t.Errorf("/rcj page: %d %s", resp.StatusCode, b)
	}
	// The guard's error says there is no role, for applications that
	// offer a new login with a role choice.
	check := f.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var de *middleware.DeniedError
		if err := middleware.AnyActivityGuard("B0264", "B0360").Check(r); !errors.As(err, &de) || !de.NoRole ||
			de.Error() != "you are logged in without a selected role, and this needs one of the activities B0264 or B0360; log in again and choose a role that has it" {
			t.Errorf("Check: %v", err)
		}
		if err := middleware.JobRoleGuard("R8000", "R8003").Check(r); !errors.As(err, &de) || !de.NoRole ||
			de.Error() != "you are logged in without a selected role, and this needs job role R8000 or R8003; log in again and choose a role that has it" {
			t.Errorf("JobRoleGuard Check: %v", err)
		}
		if _, ok := middleware.RoleFrom(r.Context()); ok {
			t.Error("RoleFrom reports a role")
		}
		if s, ok := middleware.SessionFrom(r.Context()); !ok || s.Source != middleware.SourceCIS2 || s.User.UID != "555000000009" {
			t.Errorf("SessionFrom %+v", s)
		}
	}))
	serve(check, http.MethodGet, "/x", nil, withCookie(c))
}

// A CIS2-only service: no SSB, the ticket login says it is not enabled,
// and browsers without a session are sent to the CIS2 login.
func TestCIS2OnlyService(t *testing.T) {
	f := fakeApp(t, &fakeRP{login: noRoleLogin()})
	resp := f.do(http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", "AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#"))
	if p := problemOf(t, resp); resp.StatusCode != http.StatusNotFound || p["error"] != "not_enabled" || p["login"] != "/cis/oidc/login" {
		t.Errorf("ticket login: %d %v", resp.StatusCode, p)
	}
	resp = f.do(http.MethodGet, "/records?ward=7", nil, withHeader("Accept", "text/html"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/cis/oidc/login?return=%2Frecords%3Fward%3D7" {
		t.Errorf("page without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := f.do(http.MethodGet, "/records", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API request without a session: %d", resp.StatusCode)
	}
	// The redirect lands on the login path, which starts the login.
	if resp := fakeLogin(t, f, "?return=%2Frecords%3Fward%3D7"); resp.Header.Get("Location") != "/records?ward=7" {
		t.Errorf("landed on %q", resp.Header.Get("Location"))
	}
}

func TestCIS2Config(t *testing.T) {
	rp := &fakeRP{}
	srv := cistest.NewServer(t)
	for name, cfg := range map[string]middleware.Config{
		"no source":                            {},
		"CIS2 settings without RP":             {Env: srv.Env(), CIS2: middleware.CIS2Config{LoginPath: "/x"}},
		"callback path not the redirect URL's": {CIS2: middleware.CIS2Config{RelyingParty: rp, CallbackPath: "/elsewhere"}},
		"login path is the legacy login's":     {CIS2: middleware.CIS2Config{RelyingParty: rp, LoginPath: "/cis/login"}},
		"login path is the callback":           {CIS2: middleware.CIS2Config{RelyingParty: rp, LoginPath: "/cis/oidc/callback"}},
		"relative login path":                  {CIS2: middleware.CIS2Config{RelyingParty: rp, LoginPath: "login"}},
		"negative timeout":                     {CIS2: middleware.CIS2Config{RelyingParty: rp, LoginTimeout: -1}},
	} {
		if _, err := middleware.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	m, err := middleware.New(middleware.Config{CIS2: middleware.CIS2Config{RelyingParty: rp, LoginPath: "/login/cis2"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp := serve(m.Handler(appHandler()), http.MethodGet, "/login/cis2", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("configured login path: %d", resp.StatusCode)
	}
}

// The login path: GET only, one return, prompt "login" or nothing.
func TestCIS2LoginRequests(t *testing.T) {
	rp := &fakeRP{login: noRoleLogin()}
	f := fakeApp(t, rp)
	if resp := f.do(http.MethodPost, "/cis/oidc/login", nil); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
		t.Errorf("POST: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	for _, q := range []string{"?return=/a&return=/b", "?prompt=none", "?prompt=login&prompt=login", "?return=%zz"} {
		if resp := f.do(http.MethodGet, "/cis/oidc/login"+q, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
	f.do(http.MethodGet, "/cis/oidc/login?prompt=login", nil)
	if got := rp.prompts[len(rp.prompts)-1]; got != "login" {
		t.Errorf("prompt passed on as %q", got)
	}
	if resp := f.do(http.MethodPost, "/cis/oidc/callback", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST callback: %d", resp.StatusCode)
	}
	// Two logins begun in two tabs of one browser both finish.
	r1 := f.do(http.MethodGet, "/cis/oidc/login", nil)
	bind := cookieNamed(r1, f.m.CookieName()+"_oidc")
	r2 := f.do(http.MethodGet, "/cis/oidc/login", nil, withCookie(bind))
	if c2 := cookieNamed(r2, f.m.CookieName()+"_oidc"); c2 == nil {
		t.Fatal("no login cookie on the second login")
	}
	for _, r := range []*http.Response{r2, r1} {
		state := mustQuery(t, r.Header.Get("Location")).Get("state")
		resp := f.do(http.MethodGet, "/cis/oidc/callback?code=c&state="+url.QueryEscape(state), nil, withCookie(bind))
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("tab's callback: %d %s", resp.StatusCode, body(resp))
		}
	}
}

// Logins in progress held in memory are bounded; expired ones make room.
func TestCIS2PendingLoginsBounded(t *testing.T) {
	f := fakeApp(t, &fakeRP{}, func(f *fixture) { f.cfg.CIS2.MaxPendingLogins = 2 })
	for i, want := range []int{http.StatusSeeOther, http.StatusSeeOther, http.StatusServiceUnavailable} {
		if resp := f.do(http.MethodGet, "/cis/oidc/login", nil); resp.StatusCode != want {
			t.Errorf("login %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
	f.clock.Advance(10 * time.Minute)
	if resp := f.do(http.MethodGet, "/cis/oidc/login", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the first logins expired: %d", resp.StatusCode)
	}
}

// A login in progress older than LoginTimeout is gone.
func TestCIS2PendingLoginExpires(t *testing.T) {
	f := fakeApp(t, &fakeRP{login: noRoleLogin()})
	resp := f.do(http.MethodGet, "/cis/oidc/login", nil)
	state := mustQuery(t, resp.Header.Get("Location")).Get("state")
	bind := cookieNamed(resp, f.m.CookieName()+"_oidc")
	f.clock.Advance(10*time.Minute + time.Second)
	resp = f.do(http.MethodGet, "/cis/oidc/callback?code=c&state="+url.QueryEscape(state), nil, withCookie(bind))
	if p := problemOf(t, resp); resp.StatusCode != http.StatusBadRequest || p["error"] != "login_not_found" {
		t.Errorf("late callback: %d %v", resp.StatusCode, p)
	}
}

// With SameSite=Strict session cookies the callback lands through a page
// of this site (a redirect from the provider's chain would not carry the
// cookie).
func TestCIS2StrictCookieLanding(t *testing.T) {
	f := fakeApp(t, &fakeRP{login: noRoleLogin()}, func(f *fixture) { f.cfg.Cookie.SameSite = http.SameSiteStrictMode })
	resp := fakeLogin(t, f, "?return=%2Fward%3Fid%3D1")
	b := body(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(b, `<meta http-equiv="refresh" content="0;url=/ward?id=1">`) ||
		!strings.Contains(b, `<a href="/ward?id=1">`) {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	if c := cookieNamed(resp, f.m.CookieName()); c == nil || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v", c)
	}
}

// Revalidation errors from the relying party: a grant gone ends the
// session; a refused refresh answer (say a bad ID token) too; an outage
// keeps it.
func TestCIS2RevalidationErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		status int
	}{
		{"grant gone", cis.ErrSessionInvalid, http.StatusUnauthorized},
		{"refreshed ID token refused", cis2.ErrIDToken, http.StatusUnauthorized},
		{"provider down", cis.ErrUnavailable, http.StatusServiceUnavailable},
		{"provider answer malformed", cis.ErrMalformed, http.StatusBadGateway},
	} {
		t.Run(c.name, func(t *testing.T) {
			rp := &fakeRP{login: noRoleLogin()}
			f := fakeApp(t, rp)
			cookie := cookieNamed(fakeLogin(t, f, ""), f.m.CookieName())
			rp.revalErr = c.err
			f.clock.Advance(time.Minute)
			if resp := f.do(http.MethodGet, "/cis/session", nil, withCookie(cookie)); resp.StatusCode != c.status {
				t.Errorf("%d, want %d: %s", resp.StatusCode, c.status, body(resp))
			}
		})
	}
}
