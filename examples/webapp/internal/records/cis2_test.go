package records_test

import (
	"context"
	"errors"
	"html"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/examples/webapp/internal/records"
)

// HTTP-level tests of the app's CIS2 logins against the simulator's
// provider (browser_cis2_test.go drives the same in Chromium).

// noRoleSession is an SSO session of uid in which no role has been
// selected yet (a card login before the role prompt).
func (f *fixture) noRoleSession(uid string) cis.Ticket {
	f.t.Helper()
	tk, err := f.srv.Simulator().CreateSession(uid, "", cis.ModeLive)
	if err != nil {
		f.t.Fatal(err)
	}
	return tk
}

// contains fails the test unless the page holds every want.
func contains(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

func TestCIS2LoginPageOffersBothLogins(t *testing.T) {
	f := newFixture(t, withCIS2(nil))
	c := f.client()
	for ret, want := range map[string]string{
		"/patients":                 `<a id="cis2-login" class="button" href="/cis/oidc/login?return=%2Fpatients">Log in with CIS2</a>`,
		"/patients/" + recordNHS:    `href="/cis/oidc/login?return=%2Fpatients%2F9991234578"`,
		"":                          `href="/cis/oidc/login">`,
		"https://evil.example/":     `href="/cis/oidc/login">`,
		"//evil.example/x":          `href="/cis/oidc/login">`,
		"/\\evil.example":           `href="/cis/oidc/login">`,
		"/x?ticket=AQIC5wM2LY4S":    `href="/cis/oidc/login">`,
		"/a\"><script>alert(1)//":   `href="/cis/oidc/login?return=%2Fa%22%3E%3Cscript%3Ealert%281%29%2F%2F"`,
		"/patients?q=1&prompt=none": `href="/cis/oidc/login?return=%2Fpatients%3Fq%3D1%26prompt%3Dnone"`,
	} {
		_, body := f.get(c, "/login?return="+url.QueryEscape(ret))
		contains(t, "login page for return "+ret, body, want)
		// The ticket login is there too.
		contains(t, "login page", body, `<form id="login" method="post" action="/cis/login"`, `/static/login.js`)
	}

	// Without CIS2: no button.
	plain := newFixture(t)
	if _, body := plain.get(plain.client(), "/login"); strings.Contains(body, "cis2-login") {
		t.Errorf("login page without CIS2 offers it:\n%s", body)
	}

	// CIS2 only (an environment without the SSB): no ticket form, no script.
	cisOnly := newFixture(t, withCIS2(nil), func(_ *fixture, cfg *records.Config) {
		cfg.CIS.Env.SSBURL, cfg.CIS.Env.GASURL = "", ""
	})
	_, body := cisOnly.get(cisOnly.client(), "/login")
	if !strings.Contains(body, `id="cis2-login"`) || strings.Contains(body, `id="ticket"`) || strings.Contains(body, "login.js") {
		t.Errorf("CIS2-only login page:\n%s", body)
	}
}

func TestCIS2LoginAndLogout(t *testing.T) {
	f := newFixture(t, withCIS2(nil))
	ticket := f.srv.MustLogin(t, alice, aliceRole)
	b, landed := f.cis2Login(ticket, "?return=%2Fpatients", "")
	if landed != "/patients" {
		t.Fatalf("after the CIS2 login the browser goes to %q, want /patients", landed)
	}
	if resp, body := f.get(b, "/patients"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="patient-list"`) {
		t.Fatalf("GET /patients after the CIS2 login: %s\n%s", resp.Status, body)
	}
	_, body := f.get(b, "/")
	contains(t, "home page", html.UnescapeString(body),
		`<span id="name">Jones Alice Dr</span>`,
		`<dd id="source">NHS CIS2 (OpenID Connect)</dd>`,
		`<span id="user-role">Consultant at SOUTH TEES HOSPITALS NHS TRUST (RCJ)</span>`,
		`<dd id="role-id">555000000101</dd>`,
		"the one chosen when you logged in through NHS CIS2",
		`Patient records (needs activity B0264): <strong>allowed</strong>`)
	// The role page: a CIS2 role is chosen at the CIS2 login, not at the
	// workstation.
	_, body = f.get(b, "/role")
	contains(t, "role page", body, `<a id="choose-role" href="/cis/oidc/login?prompt=login&amp;return=%2Frole">Choose another role</a>`)
	if strings.Contains(body, "refresh-role") {
		t.Errorf("role page of a CIS2 session offers the workstation's role check:\n%s", body)
	}

	// The logout button: the session ends here, and a page posts the
	// logout to the provider (the ID token in the form, never a URL).
	resp, body := f.fetch(b, http.MethodPost, f.ts.URL+"/cis/logout", url.Values{"return": {"/logged-out"}})
	endSession := f.srv.OIDCIssuer() + "/connect/endSession"
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form method="post" action="`+endSession+`">`) {
		t.Fatalf("logout of a CIS2 session: %s\n%s", resp.Status, body)
	}
	// The page's CSP lets its form post to the provider.
	if src, ok := cspDirective(resp.Header.Get("Content-Security-Policy"), "form-action"); ok && !slices.Contains(src, originOf(endSession)) {
		t.Errorf("the logout page's CSP form-action %q blocks the post to %s", src, endSession)
	}
	if r, _ := f.get(b, "/"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout GET /: %s", r.Status)
	}
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if form.Get("id_token_hint") == "" || form.Get("post_logout_redirect_uri") != f.origin+"/" {
		t.Fatalf("logout form fields %v, post-logout URL %q", slices.Sorted(maps.Keys(form)), form.Get("post_logout_redirect_uri"))
	}
	resp, _ = f.fetch(b, http.MethodPost, endSession, form)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != f.origin+"/" {
		t.Fatalf("end session: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	// The provider ended the CIS2 session, and with it (in the simulator)
	// the smartcard session behind it.
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: f.srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(context.Background(), ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("after the CIS2 logout the ticket still validates: %v", err)
	}
}

// hiddenField matches the hidden inputs of the middleware's logout form.
var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// cspDirective returns the sources of a CSP directive, and whether the
// policy has it.
func cspDirective(csp, name string) ([]string, bool) {
	for d := range strings.SplitSeq(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && strings.EqualFold(f[0], name) {
			return f[1:], true
		}
	}
	return nil, false
}

// originOf returns scheme://host of u.
func originOf(u string) string {
	p, _ := url.Parse(u)
	return p.Scheme + "://" + p.Host
}

func TestCIS2HomeShowsSource(t *testing.T) {
	f := newFixture(t, withCIS2(nil))
	// The same person through the ticket login: the other source.
	c, _ := f.login(alice, aliceRole)
	_, body := f.get(c, "/")
	contains(t, "home page", body, `<dd id="source">smartcard ticket, checked with the Spine Security Broker (SSB)</dd>`,
		"the one you chose at your workstation")
	if _, body := f.get(c, "/role"); !strings.Contains(body, "refresh-role") || strings.Contains(body, "choose-role") {
		t.Errorf("role page of a ticket session:\n%s", body)
	}
}

// The return path survives the CIS2 login only if it is a path on this
// site: the middleware checks it when the login begins.
func TestCIS2NoOpenRedirect(t *testing.T) {
	f := newFixture(t, withCIS2(nil))
	ticket := f.srv.MustLogin(t, alice, aliceRole)
	for ret, want := range map[string]string{
		"https://evil.example/":  "/",
		"//evil.example/x":       "/",
		"/\\evil.example":        "/",
		"/%2F%2Fevil.example":    "/",
		"http:evil.example":      "/",
		"/patients/" + recordNHS: "/patients/" + recordNHS,
	} {
		if _, landed := f.cis2Login(ticket, "?return="+url.QueryEscape(ret), ""); landed != want {
			t.Errorf("return %q: the callback sends the browser to %q, want %q", ret, landed, want)
		}
	}
}

func TestCIS2RoleChoiceAtTheProvider(t *testing.T) {
	f := newFixture(t, withCIS2(nil))
	// Bob has eight roles and none selected at the card: the provider
	// asks, and the app gets the one he chose.
	b, _ := f.cis2Login(f.noRoleSession(bob), "", bobRKF)
	_, body := f.get(b, "/")
	contains(t, "home page", body, `<dd id="role-id">`+bobRKF+`</dd>`)
	if resp, _ := f.get(b, "/patients/"+recordNHS); resp.StatusCode != http.StatusOK {
		t.Errorf("Bob at RKF opens a record: %s", resp.Status)
	}
	// "Choose another role": prompt=login asks again though a role is
	// selected now.
	b, landed := f.cis2Login(f.srv.MustLogin(t, bob, bobRKF), "?prompt=login&return=%2Frole", bobRMM)
	_, body = f.get(b, landed)
	contains(t, "role page", body, `<tr data-role-id="`+bobRMM+`" class="selected">`)
}

// A CIS2 login may carry no selected role (here: the app does not ask for
// the selectedrole scope, and none was chosen at the card). The person is
// logged in, allowed nothing that needs a role, and told how to choose
// one.
func TestCIS2WithoutSelectedRole(t *testing.T) {
	f := newFixture(t, withCIS2(func(c *cis2.Config) {
		c.Env.OIDC.Scopes = slices.DeleteFunc(cis2.DefaultScopes(), func(s string) bool { return s == "selectedrole" })
	}))
	b, landed := f.cis2Login(f.noRoleSession(chandra), "?return=%2Fpatients", "")
	if landed != "/patients" {
		t.Fatalf("landed at %q", landed)
	}
	resp, body := f.get(b, "/patients")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("/patients without a role: %s", resp.Status)
	}
	contains(t, "refusal", html.UnescapeString(body),
		"You are logged in without a selected role",
		"Your roles that may:",
		"Health Professional Access Role at SOUTH TEES HOSPITALS NHS TRUST (RCJ)",
		`<a id="choose-role" href="/cis/oidc/login?prompt=login&return=%2Fpatients">`,
		`<span id="user-role">no role selected</span>`)
	_, body = f.get(b, "/")
	contains(t, "home page", body, `id="no-role"`, `<a id="choose-role" href="/cis/oidc/login?prompt=login">`,
		`<dd id="source">NHS CIS2 (OpenID Connect)</dd>`, "not allowed</strong>: you are logged in without a selected role")
	if strings.Contains(body, `id="activities"`) || strings.Contains(body, `id="role-id"`) {
		t.Errorf("home page shows a role that is not there:\n%s", body)
	}
	if _, body := f.get(b, "/role"); !strings.Contains(body, "no selected role") || strings.Contains(body, `class="selected"`) {
		t.Errorf("role page:\n%s", body)
	}
	// The link starts a CIS2 login that asks the provider for a fresh
	// login and role choice.
	resp, _ = f.get(b, "/cis/oidc/login?prompt=login&return=%2Fpatients")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusSeeOther || loc.Query().Get("prompt") != "login" {
		t.Errorf("choose-role link: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
}
