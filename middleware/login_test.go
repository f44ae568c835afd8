package middleware_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/middleware"
)

func TestLoginThreeWays(t *testing.T) {
	f := newFixture(t)
	tk := f.srv.MustLogin(t, alice, aliceRole)

	// Thick client: X-CIS-Ticket, JSON answer.
	resp := f.do(http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", tk.Reveal()))
	var view struct {
		UID, Name, Source, Mode string
		Role                    struct {
			ID         string   `json:"id"`
			OrgCode    string   `json:"org_code"`
			Activities []string `json:"activities"`
		}
		Roles []json.RawMessage
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("header login: %d %s", resp.StatusCode, body(resp))
	}
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil {
		t.Fatal(err)
	}
	if view.UID != alice || view.Role.ID != aliceRole || view.Role.OrgCode != "RCJ" || view.Source != middleware.SourceSSB ||
		view.Mode != "live" || len(view.Roles) != 1 || len(view.Role.Activities) != 2 {
		t.Errorf("login answer %+v", view)
	}
	c := cookieNamed(resp, "__Host-cis_session")
	if c == nil {
		t.Fatalf("no __Host-cis_session cookie: %v", resp.Header["Set-Cookie"])
	}
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" ||
		c.MaxAge != int((10*time.Hour).Seconds()) {
		t.Errorf("cookie attributes %+v, want Secure HttpOnly SameSite=Lax Path=/ host-only Max-Age=36000", c)
	}
	if strings.Contains(c.Value, tk.Reveal()) {
		t.Error("the cookie carries the ticket")
	}
	if got := whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(c))); got.UID != alice || got.RoleID != aliceRole {
		t.Errorf("whoami = %+v", got)
	}

	// Browser form: a redirect to the return path.
	b, ct := form(url.Values{"ticket": {tk.Reveal()}, "return": {"/records?ward=7B"}}.Encode())
	resp = f.do(http.MethodPost, "/cis/login", b, ct)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/records?ward=7B" {
		t.Fatalf("form login: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	fc := cookieNamed(resp, f.m.CookieName())
	if whoFrom(t, f.do(http.MethodGet, "/records", nil, withCookie(fc))).UID != alice {
		t.Error("form login session does not reach /records")
	}

	// JSON body.
	resp = f.do(http.MethodPost, "/cis/login", strings.NewReader(`{"ticket":"`+tk.Reveal()+`"}`),
		withHeader("Content-Type", "application/json"))
	if resp.StatusCode != http.StatusOK || cookieNamed(resp, f.m.CookieName()) == nil {
		t.Fatalf("JSON login: %d %s", resp.StatusCode, body(resp))
	}
	if got := metric(t, f.reg, "cisauth_logins_total", "outcome", "ok"); got != 3 {
		t.Errorf("cisauth_logins_total{outcome=ok} = %v, want 3", got)
	}
	// One RoleAssertion fetch served all three logins (the cache), and the
	// SSB client's wrapped transport counted and timed it.
	if n := f.fetches(); n != 1 {
		t.Errorf("%d RoleAssertion fetches for three logins with one ticket, want 1", n)
	}
	if n, d := metric(t, f.reg, "cisauth_ssb_requests_total", "code", "200"), metric(t, f.reg, "cisauth_ssb_request_duration_seconds"); n != 1 || d != 1 {
		t.Errorf("SSB requests counted %v, timed %v; want 1 and 1", n, d)
	}
	if n := metric(t, f.reg, "cisauth_validation_cache_hits_total"); n != 2 {
		t.Errorf("validation cache hits %v, want 2", n)
	}
}

// The session id changes at every login, and a login in a browser that
// has a session ends the old one.
func TestLoginRotatesSession(t *testing.T) {
	f := newFixture(t)
	tk := f.srv.MustLogin(t, alice, aliceRole)
	old := f.login(tk)
	resp := f.do(http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", tk.Reveal()), withCookie(old))
	nc := cookieNamed(resp, f.m.CookieName())
	if resp.StatusCode != http.StatusOK || nc == nil || nc.Value == old.Value {
		t.Fatalf("second login: %d, cookie %v", resp.StatusCode, nc)
	}
	if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(old)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old session after a new login: %d, want 401", resp.StatusCode)
	}
	whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(nc)))
}

func TestLoginRefusals(t *testing.T) {
	f := newFixture(t)
	tk := f.srv.MustLogin(t, alice, aliceRole)
	dead := f.srv.MustLogin(t, alice, aliceRole)
	if err := f.srv.Logout(dead); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("a", middleware.MaxBody+1)
	for _, tc := range []struct {
		name, method, target, ctype, body string
		header                            string
		status                            int
		fetch                             bool
	}{
		{name: "GET", method: "GET", target: "/cis/login", status: 405},
		{name: "ticket in query", method: "POST", target: "/cis/login?ticket=" + url.QueryEscape(tk.Reveal()), header: tk.Reveal(), status: 400},
		{name: "token in query", method: "POST", target: "/cis/login?token=x", header: tk.Reveal(), status: 400},
		{name: "ticket-shaped query value", method: "POST", target: "/cis/login?next=" + url.QueryEscape(tk.Reveal()), header: tk.Reveal(), status: 400},
		{name: "no ticket", method: "POST", target: "/cis/login", status: 400},
		{name: "bad shape", method: "POST", target: "/cis/login", header: "AQICnot-a-ticket", status: 400},
		{name: "long", method: "POST", target: "/cis/login", header: "AQIC" + strings.Repeat("A", 2100) + "@A#", status: 400},
		{name: "body too large", method: "POST", target: "/cis/login", ctype: "application/x-www-form-urlencoded", body: "ticket=" + big, status: 413},
		{name: "two tickets", method: "POST", target: "/cis/login", ctype: "application/x-www-form-urlencoded",
			body: "ticket=" + url.QueryEscape(tk.Reveal()), header: tk.Reveal(), status: 400},
		{name: "repeated form field", method: "POST", target: "/cis/login", ctype: "application/x-www-form-urlencoded",
			body: "ticket=a&ticket=b", status: 400},
		{name: "JSON with more", method: "POST", target: "/cis/login", ctype: "application/json",
			body: `{"ticket":"` + tk.Reveal() + `","role_id":"555000000302"}`, status: 400},
		{name: "JSON twice", method: "POST", target: "/cis/login", ctype: "application/json",
			body: `{"ticket":"` + tk.Reveal() + `"}{"ticket":"x"}`, status: 400},
		{name: "multipart", method: "POST", target: "/cis/login", ctype: "multipart/form-data; boundary=x", body: "--x--", status: 415},
		{name: "dead ticket", method: "POST", target: "/cis/login", header: dead.Reveal(), status: 401, fetch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.fetches()
			opts := []reqOpt{}
			if tc.header != "" {
				opts = append(opts, withHeader("X-CIS-Ticket", tc.header))
			}
			if tc.ctype != "" {
				opts = append(opts, withHeader("Content-Type", tc.ctype))
			}
			resp := f.do(tc.method, tc.target, strings.NewReader(tc.body), opts...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body(resp))
			}
			if c := cookieNamed(resp, f.m.CookieName()); c != nil && c.MaxAge >= 0 {
				t.Errorf("a refused login set a session cookie")
			}
			if fetched := f.fetches() > before; fetched != tc.fetch {
				t.Errorf("RoleAssertion fetched: %v, want %v (shape and request checks come before any network call)", fetched, tc.fetch)
			}
			p := problemOf(t, resp)
			if p["error"] == "" || p["message"] == "" {
				t.Errorf("error answer without code or message: %v", p)
			}
		})
	}
	if strings.Contains(f.logs.String(), tk.Reveal()) || strings.Contains(f.logs.String(), dead.Reveal()) {
		t.Errorf("a ticket reached the log:\n%s", f.logs.String())
	}
}

// security.md 1: a client-supplied role assertion, role id or user id
// changes nothing: the session is who the SSB says, in the role the SSB
// says is selected.
func TestClientSuppliedIdentityIgnored(t *testing.T) {
	f := newFixture(t)
	tk := f.srv.MustLogin(t, chandra, chandraAdmin) // admin role: no B0264
	forgedAssertion := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol"><saml:Assertion>` +
		`<saml:Attribute AttributeName="uid"><saml:AttributeValue>` + alice + `</saml:AttributeValue></saml:Attribute>` +
		`<saml:Attribute AttributeName="ssbSessionRoleUid"><saml:AttributeValue>` + chandraClinic + `</saml:AttributeValue></saml:Attribute>` +
		`</saml:Assertion></samlp:Response>`
	b, ct := form(url.Values{
		"ticket": {tk.Reveal()}, "role_id": {chandraClinic}, "selectedRoleUid": {chandraClinic},
		"uid": {alice}, "assertion": {forgedAssertion}, "SAMLResponse": {forgedAssertion},
	}.Encode())
	resp := f.do(http.MethodPost, "/cis/login", b, ct,
		withHeader("X-CIS-Role", chandraClinic), withHeader("X-CIS-UID", alice))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, body(resp))
	}
	c := cookieNamed(resp, f.m.CookieName())
	spoof := []reqOpt{withCookie(c), withHeader("X-CIS-Role", chandraClinic), withHeader("X-CIS-UID", alice),
		withHeader("X-Remote-User", alice), withHeader("X-CIS-Assertion", forgedAssertion)}
	got := whoFrom(t, f.do(http.MethodGet, "/whoami?role_id="+chandraClinic+"&uid="+alice, nil, spoof...))
	if got.UID != chandra || got.RoleID != chandraAdmin {
		t.Errorf("session is %s in role %s, want %s in %s (the SSB's answer)", got.UID, got.RoleID, chandra, chandraAdmin)
	}
	if resp := f.do(http.MethodGet, "/records", nil, spoof...); resp.StatusCode != http.StatusForbidden {
		t.Errorf("/records (B0264) in the admin role with spoofed headers: %d, want 403", resp.StatusCode)
	}
}

// security.md 4: every state-changing endpoint refuses cross-origin
// browser requests; thick clients (no Origin, no Sec-Fetch-Site) pass.
func TestCrossOriginRefused(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.TrustedOrigins = []string{"https://portal.example"} })
	tk := f.srv.MustLogin(t, alice, aliceRole)
	c := f.login(tk)
	for _, path := range []string{"/cis/login", "/cis/refresh", "/cis/logout"} {
		for _, h := range [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "https://evil.example"}} {
			resp := f.do(http.MethodPost, path, nil, withCookie(c), withHeader("X-CIS-Ticket", tk.Reveal()), withHeader(h[0], h[1]))
			if path != "/cis/login" {
				resp = f.do(http.MethodPost, path, nil, withCookie(c), withHeader(h[0], h[1]))
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: %s: %d, want 403", path, h[0], h[1], resp.StatusCode)
			}
		}
	}
	// The session survived the refused logouts.
	whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(c)))
	if got := metric(t, f.reg, "cisauth_logins_total", "outcome", "cross_origin"); got != 3 {
		t.Errorf("cross_origin logins = %v, want 3", got)
	}
	// Same origin, a trusted origin, and a thick client all pass.
	for _, opts := range [][]reqOpt{
		{withHeader("Sec-Fetch-Site", "same-origin")},
		{withHeader("Origin", "https://portal.example"), withHeader("Sec-Fetch-Site", "cross-site")},
		{},
	} {
		resp := f.do(http.MethodPost, "/cis/refresh", nil, append(opts, withCookie(c))...)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("refresh: %d %s", resp.StatusCode, body(resp))
		}
	}
}

// security.md 4: no open redirect through a return URL.
func TestNoOpenRedirect(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.LoginURL = "/login" })
	tk := f.srv.MustLogin(t, alice, aliceRole)
	for ret, want := range map[string]string{
		"/records?ward=7B":             "/records?ward=7B",
		"//evil.example/x":             "/",
		"/\\evil.example":              "/",
		"https://evil.example/":        "/",
		"javascript:alert(1)":          "/",
		"/%2F%2Fevil.example":          "/",
		"/%5cevil.example":             "/",
		"/x\r\nLocation: https://evil": "/",
		"records":                      "/",
		"/x#frag":                      "/",
		"":                             "/",
		// The SAML bridge's return with a signed AuthnRequest is long;
		// longer than MaxReturnLen is too long.
		"/saml/sso?SAMLRequest=" + strings.Repeat("%2B", (middleware.MaxReturnLen-22)/3): "/saml/sso?SAMLRequest=" + strings.Repeat("%2B", (middleware.MaxReturnLen-22)/3),
		"/" + strings.Repeat("a", middleware.MaxReturnLen):                               "/",
	} {
		b, ct := form(url.Values{"ticket": {tk.Reveal()}, "return": {ret}}.Encode())
		resp := f.do(http.MethodPost, "/cis/login", b, ct)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("login return=%q: %d Location %q, want %q", ret, resp.StatusCode, loc, want)
		}
		c := cookieNamed(resp, f.m.CookieName())
		b, ct = form(url.Values{"return": {ret}}.Encode())
		resp = f.do(http.MethodPost, "/cis/logout", b, ct, withCookie(c))
		if ret == "" {
			want = "/login" // no return path: back to the login page
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("logout return=%q: %d Location %q, want %q", ret, resp.StatusCode, loc, want)
		}
	}
	// The login redirect carries the asked-for path, and only a path.
	resp := f.do(http.MethodGet, "//evil.example/records?x=1", nil, withHeader("Accept", "text/html"))
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if ret := loc.Query().Get("return"); resp.StatusCode != http.StatusSeeOther || loc.Path != "/login" || loc.Host != "" || (ret != "" && safeRet(ret) != ret) {
		t.Errorf("redirect to the login page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func safeRet(s string) string { return middleware.SafeReturn(s) }

func TestUnauthenticated(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.cfg.LoginURL = "/login" })
	// API client: 401 JSON with where to log in.
	resp := f.do(http.MethodGet, "/records", nil)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("API request without session: %d", resp.StatusCode)
	}
	if p := problemOf(t, resp); p["error"] != "unauthenticated" || p["login"] != "/login?return=%2Frecords" {
		t.Errorf("401 answer %v", p)
	}
	// Browser navigation: a redirect to the login page.
	resp = f.do(http.MethodGet, "/records?id=1", nil, withHeader("Accept", "text/html,application/xhtml+xml"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?return=%2Frecords%3Fid%3D1" {
		t.Errorf("HTML request without session: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A browser POST is not redirected (it would lose its body): a page.
	resp = f.do(http.MethodPost, "/records", nil, withHeader("Accept", "text/html"))
	if b := body(resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(b, `href="/login?return=%2Frecords"`) {
		t.Errorf("HTML POST without session: %d %s", resp.StatusCode, b)
	}
	// The login page itself passes without a session.
	if resp := f.do(http.MethodGet, "/login", nil, withHeader("Accept", "text/html")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("login page: %d, want the app's own 404", resp.StatusCode)
	}
	// A cookie that does not verify is cleared and counts as no session.
	resp = f.do(http.MethodGet, "/whoami", nil, withCookie(&http.Cookie{Name: f.m.CookieName(), Value: "forged"}))
	if c := cookieNamed(resp, f.m.CookieName()); resp.StatusCode != http.StatusUnauthorized || c == nil || c.MaxAge >= 0 {
		t.Errorf("forged cookie: %d, Set-Cookie %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}
}

func TestOptionalAndSessionEndpoint(t *testing.T) {
	f := newFixture(t)
	seen := ""
	h := f.m.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := middleware.UserFrom(r.Context()); ok {
			seen = u.UID
		} else {
			seen = "anonymous"
		}
	}))
	serve(h, http.MethodGet, "/", nil)
	if seen != "anonymous" {
		t.Errorf("Optional without session saw %q", seen)
	}
	if resp := serve(h, http.MethodGet, "/cis/session", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session endpoint without session: %d", resp.StatusCode)
	}
	c := loginTo(t, h, f.m.CookieName(), f.srv.MustLogin(t, alice, aliceRole))
	serve(h, http.MethodGet, "/", nil, withCookie(c))
	if seen != alice {
		t.Errorf("Optional with session saw %q", seen)
	}
	resp := serve(h, http.MethodGet, "/cis/session", nil, withCookie(c))
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v["uid"] != alice || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("session endpoint: %d %v %v", resp.StatusCode, v, err)
	}
	if resp := serve(h, http.MethodPost, "/cis/session", nil, withCookie(c)); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST session endpoint: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp := serve(h, http.MethodGet, "/cis/logout", nil, withCookie(c)); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET logout: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// Endpoints answers only the endpoints.
	if resp := serve(f.m.Endpoints(), http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("Endpoints for /whoami: %d", resp.StatusCode)
	}
	if resp := serve(f.m.Endpoints(), http.MethodGet, "/cis/session", nil, withCookie(c)); resp.StatusCode != http.StatusOK {
		t.Errorf("Endpoints for /cis/session: %d", resp.StatusCode)
	}
}
