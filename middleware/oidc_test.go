package middleware_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/middleware"
)

// A whole CIS2 login through the simulator's provider, as a browser does
// it: the login path, the provider's page (the smartcard session's ticket),
// the callback, then the application in the user's selected role, with
// the same guards as a legacy session.
func TestCIS2LoginEndToEnd(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	browser := a.srv.Browser()
	ticket := a.srv.MustLogin(t, alice, aliceRole)

	resp, b := get(t, browser, a.app.URL+"/cis/oidc/login?return="+url.QueryEscape("/records?ward=7B"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	authURL := resp.Header.Get("Location")
	q := mustQuery(t, authURL)
	if q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Errorf("authorization request %q lacks PKCE, state or nonce", authURL)
	}
	if strings.Contains(authURL, "ward") || strings.Contains(authURL, "records") {
		t.Errorf("the return path left the server: %q", authURL)
	}
	bind := cookieNamed(resp, "__Host-cis_session_oidc")
	if bind == nil || !bind.HttpOnly || !bind.Secure || bind.SameSite != http.SameSiteLaxMode || bind.MaxAge != 600 || bind.Path != "/" {
		t.Errorf("login cookie %+v: want HttpOnly, Secure, SameSite=Lax, Max-Age 600, Path /", bind)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("login redirect may be cached")
	}

	cb := a.authorize(t, browser, authURL, ticket, "")
	resp, b = get(t, browser, cb)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/records?ward=7B" {
		t.Fatalf("callback: %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), b)
	}
	sc := cookieNamed(resp, a.m.CookieName())
	if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", sc)
	}

	// The same session and guards as a legacy login.
	resp, b = get(t, browser, a.app.URL+"/records?ward=7B")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/records: %d %s", resp.StatusCode, b)
	}
	var w who
	decodeJSON(t, b, &w)
	if w.UID != alice || w.RoleID != aliceRole || w.OrgCode != "RCJ" {
		t.Errorf("whoami %+v", w)
	}
	status, s := a.sessionOf(t, browser)
	if status != http.StatusOK || s.Source != middleware.SourceCIS2 || s.Role == nil || s.Role.ID != aliceRole {
		t.Errorf("session %d %+v", status, s)
	}
	resp, b = get(t, browser, a.app.URL+"/admin")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(b, "not job role R8000") {
		t.Errorf("/admin: %d %s", resp.StatusCode, b)
	}
	if n := metric(t, a.reg, "cisauth_logins_total", "source", "cis2", "outcome", "ok"); n != 1 {
		t.Errorf("CIS2 logins ok = %v", n)
	}
	if n := metric(t, a.reg, "cisauth_cis2_duration_seconds", "op", "finish"); n != 1 {
		t.Errorf("finish timings = %v", n)
	}
	// No token, verifier, nonce or state in the logs.
	for _, secret := range []string{q.Get("state"), q.Get("nonce"), sc.Value, bind.Value, mustQuery(t, cb).Get("code")} {
		if strings.Contains(a.logs.String(), secret) {
			t.Errorf("a secret reached the logs: %.12s…", secret)
		}
	}
}

func mustQuery(t testing.TB, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

// A return path to another host is refused (no open redirect): the browser
// lands on "/". The return path never travels to the provider.
func TestCIS2NoOpenRedirect(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	ticket := a.srv.MustLogin(t, alice, aliceRole)
	for _, ret := range []string{"https://evil.example/", "//evil.example/x", `/\evil.example`, "/%2F%2Fevil.example", "javascript:alert(1)", "evil.example"} {
		browser := a.srv.Browser()
		if got := a.login(t, browser, ticket, "?return="+url.QueryEscape(ret)); got != "/" {
			t.Errorf("return %q: landed on %q, want /", ret, got)
		}
	}
	if got := a.login(t, a.srv.Browser(), ticket, "?return=%2Fpatients%3Fid%3D7"); got != "/patients?id=7" {
		t.Errorf("a same-site return path: landed on %q", got)
	}
}

// Callbacks that are not this browser's login in progress are refused
// with a clear page before the provider is asked; a nonce or code that is
// not this login's is refused by the relying party's checks; no session
// results.
func TestCIS2CallbackRefusals(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	ticket := a.srv.MustLogin(t, alice, aliceRole)

	refused := func(t *testing.T, browser *http.Client, cb string, status int, code, words string) {
		t.Helper()
		resp, b := get(t, browser, cb, acceptHTML)
		if resp.StatusCode != status || !strings.Contains(b, words) || !strings.Contains(b, `href="/cis/oidc/login"`) {
			t.Errorf("%d %s, want %d saying %q with a link to start again", resp.StatusCode, b, status, words)
		}
		if cookieNamed(resp, a.m.CookieName()) != nil {
			t.Error("a refused callback set a session cookie")
		}
		resp, b = get(t, browser, cb) // the JSON form names the refusal
		if p := map[string]any{}; resp.StatusCode >= 400 {
			decodeJSON(t, b, &p)
			if p["error"] != code && p["error"] != "login_not_found" {
				t.Errorf("error %v, want %s", p["error"], code)
			}
		}
		if status, _ := a.sessionOf(t, browser); status != http.StatusUnauthorized {
			t.Errorf("a refused callback left a session (%d)", status)
		}
	}

	t.Run("replayed callback", func(t *testing.T) {
		browser := a.srv.Browser()
		cb := a.authorize(t, browser, a.beginLogin(t, browser, ""), ticket, "")
		if resp, b := get(t, browser, cb); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("first use: %d %s", resp.StatusCode, b)
		}
		other := a.srv.Browser() // the same callback in a fresh browser, and again in the first
		refused(t, other, cb, http.StatusBadRequest, "no_login_in_progress", "no NHS CIS2 login in progress")
		resp, b := get(t, browser, cb, acceptHTML)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "already been completed or has expired") {
			t.Errorf("replay in the same browser: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("state of no login", func(t *testing.T) {
		browser := a.srv.Browser()
		cb := a.authorize(t, browser, a.beginLogin(t, browser, ""), ticket, "")
		forged := strings.Replace(cb, "state=", "state=X", 1)
		refused(t, browser, forged, http.StatusBadRequest, "login_not_found", "already been completed or has expired")
	})
	t.Run("another browser's login (login CSRF)", func(t *testing.T) {
		victim, attacker := a.srv.Browser(), a.srv.Browser()
		a.beginLogin(t, victim, "")
		cb := a.authorize(t, attacker, a.beginLogin(t, attacker, ""), a.srv.MustLogin(t, chandra, chandraAdmin), "")
		refused(t, victim, cb, http.StatusBadRequest, "login_mismatch", "begun in another browser")
	})
	t.Run("nonce of another login", func(t *testing.T) {
		browser := a.srv.Browser()
		authURL := a.beginLogin(t, browser, "")
		u, _ := url.Parse(authURL)
		q := u.Query()
		q.Set("nonce", "not-this-logins-nonce")
		u.RawQuery = q.Encode()
		cb := a.authorize(t, browser, u.String(), ticket, "")
		refused(t, browser, cb, http.StatusForbidden, "login_refused", "failed this service")
		if !strings.Contains(a.logs.String(), "nonce") {
			t.Error("the log does not say the nonce was wrong")
		}
	})
	t.Run("code of another login (replayed code)", func(t *testing.T) {
		used, browser := a.srv.Browser(), a.srv.Browser()
		first := a.authorize(t, used, a.beginLogin(t, used, ""), ticket, "")
		if resp, _ := get(t, used, first); resp.StatusCode != http.StatusSeeOther {
			t.Fatal("first login failed")
		}
		second := a.authorize(t, browser, a.beginLogin(t, browser, ""), ticket, "")
		q := mustQuery(t, second)
		q.Set("code", mustQuery(t, first).Get("code"))
		injected := strings.SplitN(second, "?", 2)[0] + "?" + q.Encode()
		refused(t, browser, injected, http.StatusForbidden, "login_refused", "used already")
	})
	t.Run("provider error", func(t *testing.T) {
		browser := a.srv.Browser()
		state := mustQuery(t, a.beginLogin(t, browser, "")).Get("state")
		cb := a.app.URL + "/cis/oidc/callback?" + url.Values{"error": {"access_denied"}, "state": {state}, "iss": {a.srv.OIDCIssuer()}}.Encode()
		refused(t, browser, cb, http.StatusForbidden, "provider_refused", "did not log you in (access_denied)")
	})
	t.Run("malformed callback", func(t *testing.T) {
		browser := a.srv.Browser()
		a.beginLogin(t, browser, "")
		refused(t, browser, a.app.URL+"/cis/oidc/callback?code=a&code=b&state=s", http.StatusBadRequest, "bad_callback", "could not be read")
		refused(t, browser, a.app.URL+"/cis/oidc/callback?code=a", http.StatusBadRequest, "bad_callback", "could not be read")
	})
	if n := metric(t, a.reg, "cisauth_logins_total", "source", "cis2", "outcome", "refused"); n < 3 {
		t.Errorf("refused CIS2 logins counted %v", n)
	}
	if n := metric(t, a.reg, "cisauth_logins_total", "source", "cis2", "outcome", "bad_request"); n < 5 {
		t.Errorf("bad CIS2 callbacks counted %v", n)
	}
}

// One application accepts both sources at once: a legacy ticket login and
// a CIS2 login, side by side, each with its Source, the same guards, and
// each revalidated by its own source at the interval.
func TestCIS2AndLegacySideBySide(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	legacy, modern := a.srv.Browser(), a.srv.Browser()
	resp, b := send(t, legacy, http.MethodPost, a.app.URL+"/cis/login", nil, withHeader("X-CIS-Ticket", a.srv.MustLogin(t, chandra, chandraAdmin).Reveal()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("legacy login: %d %s", resp.StatusCode, b)
	}
	a.login(t, modern, a.srv.MustLogin(t, alice, aliceRole), "")

	for _, c := range []struct {
		browser      *http.Client
		uid, source  string
		records, rcj int
	}{
		{legacy, chandra, middleware.SourceSSB, http.StatusForbidden, http.StatusOK},
		{modern, alice, middleware.SourceCIS2, http.StatusOK, http.StatusOK},
	} {
		if status, s := a.sessionOf(t, c.browser); status != http.StatusOK || s.UID != c.uid || s.Source != c.source {
			t.Errorf("%s: session %d %+v", c.source, status, s)
		}
		if resp, b := get(t, c.browser, a.app.URL+"/records"); resp.StatusCode != c.records {
			t.Errorf("%s: /records %d %s", c.source, resp.StatusCode, b)
		}
		if resp, _ := get(t, c.browser, a.app.URL+"/rcj"); resp.StatusCode != c.rcj {
			t.Errorf("%s: /rcj %d", c.source, resp.StatusCode)
		}
	}
	// At the interval each is asked again, through its own source.
	fetches := a.fetches()
	userinfo := metric(t, a.simReg, "cissim_requests_total", "endpoint", "oidc_userinfo")
	a.advance(time.Minute)
	for _, browser := range []*http.Client{legacy, modern} {
		if resp, b := get(t, browser, a.app.URL+"/whoami"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after the interval: %d %s", resp.StatusCode, b)
		}
	}
	if a.fetches() != fetches+1 {
		t.Errorf("RoleAssertion fetches %d → %d, want one more", fetches, a.fetches())
	}
	if n := metric(t, a.simReg, "cissim_requests_total", "endpoint", "oidc_userinfo"); n != userinfo+1 {
		t.Errorf("UserInfo requests %v → %v, want one more", userinfo, n)
	}
	if metric(t, a.reg, "cisauth_logins_total", "source", "cis-ssb", "outcome", "ok") != 1 ||
		metric(t, a.reg, "cisauth_logins_total", "source", "cis2", "outcome", "ok") != 1 {
		t.Error("logins not counted by source")
	}
}

// security.md 5 for CIS2: when the SSO session ends at the provider (card
// pulled, logout), the web session ends at the next revalidation, within
// the interval.
func TestCIS2RevalidationEndsSession(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	browser := a.srv.Browser()
	ticket := a.srv.MustLogin(t, alice, aliceRole)
	a.login(t, browser, ticket, "")
	if err := a.srv.Logout(ticket); err != nil {
		t.Fatal(err)
	}
	a.advance(59 * time.Second)
	if resp, b := get(t, browser, a.app.URL+"/whoami"); resp.StatusCode != http.StatusOK {
		t.Fatalf("inside the interval: %d %s", resp.StatusCode, b)
	}
	a.advance(time.Second)
	resp, b := get(t, browser, a.app.URL+"/whoami")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the SSO session ended: %d %s", resp.StatusCode, b)
	}
	if c := cookieNamed(resp, a.m.CookieName()); c == nil || c.MaxAge >= 0 {
		t.Error("the ended session's cookie was not cleared")
	}
	if n := metric(t, a.reg, "cisauth_revalidation_failures_total", "source", "cis2", "reason", "sso_ended"); n != 1 {
		t.Errorf("CIS2 revalidation failures sso_ended = %v", n)
	}
	if n := metric(t, a.reg, "cisauth_sessions_ended_total", "source", "cis2", "reason", "sso_ended"); n != 1 {
		t.Errorf("CIS2 sessions ended = %v", n)
	}
}

// The provider down or in maintenance: 503 with Retry-After, the session
// kept (never a logout), a backoff instead of a retry storm; back up, the
// session carries on.
func TestCIS2ProviderDownKeepsSession(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	browser := a.srv.Browser()
	a.login(t, browser, a.srv.MustLogin(t, alice, aliceRole), "")
	a.srv.SetMaintenance(true)
	a.advance(time.Minute)
	resp, b := get(t, browser, a.app.URL+"/whoami")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("provider down: %d %s", resp.StatusCode, b)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if c := cookieNamed(resp, a.m.CookieName()); c != nil {
		t.Errorf("an outage touched the cookie: %v", c)
	}
	// Within the backoff no request reaches the provider.
	userinfo := metric(t, a.simReg, "cissim_requests_total", "endpoint", "oidc_userinfo")
	for range 5 {
		if resp, _ := get(t, browser, a.app.URL+"/whoami"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("during the backoff: %d", resp.StatusCode)
		}
	}
	if n := metric(t, a.simReg, "cissim_requests_total", "endpoint", "oidc_userinfo"); n != userinfo {
		t.Errorf("%v UserInfo requests during the backoff", n-userinfo)
	}
	if metric(t, a.reg, "cisauth_cis2_revalidations_total", "outcome", "backoff") != 5 ||
		metric(t, a.reg, "cisauth_revalidation_failures_total", "source", "cis2", "reason", "unavailable") != 6 {
		t.Error("the outage is not in the metrics")
	}
	a.srv.SetMaintenance(false)
	a.advance(time.Second) // past the first backoff
	if resp, b := get(t, browser, a.app.URL+"/whoami"); resp.StatusCode != http.StatusOK {
		t.Fatalf("provider back: %d %s", resp.StatusCode, b)
	}
}

// A browser's logout of a CIS2 session ends it here at once and posts the
// RP-initiated logout to the provider, ID token in the form body (never in
// a URL); the provider then ends the SSO session. API clients get JSON and
// only the local logout; LocalLogout keeps the provider out of it.
func TestCIS2Logout(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	browser := a.srv.Browser()
	ticket := a.srv.MustLogin(t, alice, aliceRole)
	a.login(t, browser, ticket, "")

	body, ct := form("return=/bye")
	resp, page := send(t, browser, http.MethodPost, a.app.URL+"/cis/logout", body, ct, acceptHTML, withHeader("Sec-Fetch-Site", "same-origin"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<form method="post" action="`+a.srv.OIDCIssuer()+`/connect/endSession"`) {
		t.Fatalf("logout: %d %s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("logout page headers %v", resp.Header)
	}
	for _, h := range []string{"Location", "Refresh"} {
		if strings.Contains(resp.Header.Get(h), "id_token") {
			t.Error("the ID token is in a URL")
		}
	}
	// Ended here at once, before the provider hears of it.
	if status, _ := a.sessionOf(t, browser); status != http.StatusUnauthorized {
		t.Fatalf("after logout the session answers %d", status)
	}
	// The browser submits the form: the provider ends the SSO session.
	fields := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		fields.Set(m[1], html.UnescapeString(m[2]))
	}
	if fields.Get("id_token_hint") == "" || fields.Get("client_id") != a.client.ID {
		t.Fatalf("logout form fields %v", fields)
	}
	body, ct = form(fields.Encode())
	resp, _ = send(t, browser, http.MethodPost, a.srv.OIDCIssuer()+"/connect/endSession", body, ct)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), a.app.URL+"/cis/oidc/callback/logged-out") {
		t.Errorf("provider's answer to the logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	legacy := serve(a.h, http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", ticket.Reveal()))
	if legacy.StatusCode != http.StatusUnauthorized {
		t.Errorf("the SSO session outlived the logout: a login with its ticket answers %d", legacy.StatusCode)
	}

	t.Run("JSON client: local logout only", func(t *testing.T) {
		browser := a.srv.Browser()
		ticket := a.srv.MustLogin(t, alice, aliceRole)
		a.login(t, browser, ticket, "")
		resp, b := send(t, browser, http.MethodPost, a.app.URL+"/cis/logout", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(b, `"logged_out":true`) || strings.Contains(b, "id_token") {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if status, _ := a.sessionOf(t, browser); status != http.StatusUnauthorized {
			t.Errorf("session after logout: %d", status)
		}
	})
	t.Run("LocalLogout", func(t *testing.T) {
		a := newCIS2App(t, cis2Options{cfg: func(c *middleware.Config) { c.CIS2.LocalLogout = true }})
		browser := a.srv.Browser()
		a.login(t, browser, a.srv.MustLogin(t, alice, aliceRole), "")
		body, ct := form("return=/bye")
		resp, _ := send(t, browser, http.MethodPost, a.app.URL+"/cis/logout", body, ct, withHeader("Sec-Fetch-Site", "same-origin"))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/bye" {
			t.Errorf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// A CIS2 login without a selected role (the user holds several, none was
// chosen, and selectedrole was not asked for): logged in, the user known,
// RoleFrom false, and every guard refuses with 403 saying so in plain words.
func TestCIS2NoSelectedRole(t *testing.T) {
	a := newCIS2App(t, cis2Options{rp: func(c *cis2.Config) {
		c.Env.OIDC.Scopes = []string{"openid", "profile", "nationalrbacaccess", "associatedorgs"}
	}})
	ticket, err := a.srv.Simulator().CreateSession(chandra, "", cis.ModeLive)
	if err != nil {
		t.Fatal(err)
	}
	browser := a.srv.Browser()
	a.login(t, browser, ticket, "")
	status, s := a.sessionOf(t, browser)
	if status != http.StatusOK || s.UID != chandra || s.Role != nil || len(s.Roles) != 2 {
		t.Fatalf("session %d %+v: want chandra, no role, two roles", status, s)
	}
	if resp, _ := get(t, browser, a.app.URL+"/whoami"); resp.StatusCode != http.StatusTeapot {
		t.Errorf("whoami saw a role (RoleFrom true): %d", resp.StatusCode)
	}
	for path, want := range map[string]string{
		"/records": "You are logged in without a selected role, and this needs activity B0264; log in again and choose a role that has it.",
		"/admin":   "needs job role R8000",
		"/rcj":     "needs a role at RCJ",
	} {
		resp, b := get(t, browser, a.app.URL+path)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(b, want) {
			t.Errorf("%s: %d %s, want 403 saying %q", path, resp.StatusCode, b, want)
		}
	}
	// Revalidation keeps a role-less session as it is.
	a.advance(time.Minute)
	if status, s := a.sessionOf(t, browser); status != http.StatusOK || s.Role != nil {
		t.Errorf("after revalidation: %d %+v", status, s)
	}
}

// security.md for CIS2: no token (access, refresh, ID), code, state or
// cookie in the logs (at debug level) or in any answer the app gives,
// through a session's whole life.
func TestCIS2NoTokenInLogsOrAnswers(t *testing.T) {
	var mu sync.Mutex
	var tokens []string
	a := newCIS2App(t, cis2Options{rp: func(c *cis2.Config) {
		c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := rt.RoundTrip(r)
				if err != nil || !strings.HasSuffix(r.URL.Path, "/access_token") {
					return resp, err
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body = io.NopCloser(bytes.NewReader(b))
				var tr map[string]any
				_ = json.Unmarshal(b, &tr)
				mu.Lock()
				defer mu.Unlock()
				for _, k := range []string{"access_token", "refresh_token", "id_token"} {
					if s, _ := tr[k].(string); s != "" {
						tokens = append(tokens, s)
					}
				}
				return resp, nil
			})
		}
	}})
	var answers strings.Builder
	browser := a.srv.Browser()
	record := func(resp *http.Response, b string) {
		answers.WriteString(fmt.Sprint(resp.Header))
		answers.WriteString(b)
	}
	ticket := a.srv.MustLogin(t, alice, aliceRole)
	resp, b := get(t, browser, a.app.URL+"/cis/oidc/login")
	record(resp, b)
	cb := a.authorize(t, browser, resp.Header.Get("Location"), ticket, "")
	resp, b = get(t, browser, cb)
	record(resp, b)
	code, state, cookie := mustQuery(t, cb).Get("code"), mustQuery(t, cb).Get("state"), a.sessionCookie(t, browser).Value
	for _, path := range []string{"/whoami", "/cis/session", "/admin"} {
		resp, b := get(t, browser, a.app.URL+path)
		record(resp, b)
	}
	a.advance(cissim.DefaultOIDCAccessTokenTTL) // revalidation, with a refresh
	resp, b = get(t, browser, a.app.URL+"/cis/session", acceptHTML)
	record(resp, b)
	resp, b = send(t, browser, http.MethodPost, a.app.URL+"/cis/refresh", nil)
	record(resp, b)
	resp, b = send(t, browser, http.MethodPost, a.app.URL+"/cis/logout", nil)
	record(resp, b)
	mu.Lock()
	defer mu.Unlock()
	if len(tokens) < 4 { // access, refresh, ID token at login; a new access token at the refresh
		t.Fatalf("only %d tokens captured", len(tokens))
	}
	// The state travels in the authorization URL and the cookie in
	// Set-Cookie, as they must; neither may reach a log.
	for _, s := range append([]string{code, state, cookie}, tokens...) {
		if strings.Contains(a.logs.String(), s) {
			t.Errorf("a secret reached the logs: %.10s…", s)
		}
	}
	for _, s := range append([]string{code}, tokens...) {
		if strings.Contains(answers.String(), s) {
			t.Errorf("a code or token reached an answer: %.10s…", s)
		}
	}
	if !strings.Contains(a.logs.String(), `"source":"cis2"`) {
		t.Error("the login was not logged")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Revalidation refreshes an access token that is due and keeps the new
// tokens in the session: the next revalidation uses them without another
// refresh.
func TestCIS2RevalidationRefreshes(t *testing.T) {
	a := newCIS2App(t, cis2Options{})
	browser := a.srv.Browser()
	a.login(t, browser, a.srv.MustLogin(t, alice, aliceRole), "")
	count := func(endpoint string) float64 {
		return metric(t, a.simReg, "cissim_requests_total", "endpoint", endpoint)
	}
	tokens, userinfo := count("oidc_token"), count("oidc_userinfo")
	a.advance(cissim.DefaultOIDCAccessTokenTTL)
	if resp, b := get(t, browser, a.app.URL+"/whoami"); resp.StatusCode != http.StatusOK {
		t.Fatalf("at the access token's expiry: %d %s", resp.StatusCode, b)
	}
	if count("oidc_token") != tokens+1 || count("oidc_userinfo") != userinfo+1 {
		t.Fatalf("token requests +%v, UserInfo +%v: want a refresh and a UserInfo", count("oidc_token")-tokens, count("oidc_userinfo")-userinfo)
	}
	a.advance(time.Minute)
	if resp, b := get(t, browser, a.app.URL+"/whoami"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a minute later: %d %s", resp.StatusCode, b)
	}
	if count("oidc_token") != tokens+1 || count("oidc_userinfo") != userinfo+2 {
		t.Errorf("token requests +%v, UserInfo +%v: the refreshed token was not kept", count("oidc_token")-tokens, count("oidc_userinfo")-userinfo)
	}
}
