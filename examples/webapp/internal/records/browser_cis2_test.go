package records_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/browsertest"
)

// CIS2 logins in headless Chromium: the app's "Log in with CIS2", the
// simulator's provider pages (no agent running, so the person pastes the
// ticket, as in make demo), the callback, the session, and the logout
// through the provider. f.browse checks that no page broke its CSP and
// that no request carried a ticket in its URL.

// providerLogin does the person's part at the simulator's CIS2 login page
// the browser shows: the page finds no agent, the person pastes the
// ticket of their smartcard session and logs in. It waits for the next
// page: the provider's role choice or a page of the app with wait.
func (f *fixture) providerLogin(b *browsertest.Browser, ticket cis.Ticket, wait string) {
	f.t.Helper()
	b.Do(chromedp.WaitVisible(chromedp.ID("status")))
	waitFor(b, has("#status", "did not give a session"))
	if loc := browsertest.Run(b, chromedp.Location()); !strings.HasPrefix(loc, f.srv.OIDCIssuer()+"/authorize?") {
		f.t.Fatalf("the CIS2 login page is at %s", loc)
	}
	b.Do(
		chromedp.SetValue(chromedp.ID("ticket"), ticket.Reveal()),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="role"], `+wait)),
	)
}

// chooseRole picks role on the provider's role page and waits for the
// app's page with wait.
func chooseRole(b *browsertest.Browser, role, wait string) {
	b.Do(
		chromedp.Click(chromedp.CSS(`input[name="role"][value="`+role+`"]`)),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(wait)),
	)
}

// onProvider reports whether the browser shows a page of the provider.
func (f *fixture) onProvider(b *browsertest.Browser) bool {
	return strings.HasPrefix(browsertest.Run(b, chromedp.Location()), f.srv.URL+"/")
}

func TestBrowserCIS2LoginAndLogout(t *testing.T) {
	f := newFixture(t, withCIS2(nil))
	b := f.browse(t)
	ticket := f.srv.MustLogin(t, alice, aliceRole) // the card login, role chosen at the workstation

	// Without a session /patients shows the login page with both logins.
	b.Do(chromedp.Navigate(f.ts.URL+"/patients"), chromedp.WaitVisible(chromedp.ID("cis2-login")))
	if p := path(t, b); p != "/login?return=%2Fpatients" {
		t.Errorf("without a session /patients shows %s", p)
	}
	b.Do(chromedp.WaitVisible(chromedp.ID("ticket")))

	b.Do(chromedp.Click(chromedp.ID("cis2-login")))
	f.providerLogin(b, ticket, "#patient-list")
	if f.onProvider(b) {
		t.Fatal("the provider asked for a role already selected at the workstation")
	}
	if p := path(t, b); p != "/patients" {
		t.Errorf("after the CIS2 login the browser shows %s, want /patients", p)
	}
	b.Do(chromedp.Navigate(f.ts.URL + "/"))
	showsTexts(t, b, map[string]string{
		"#name":      "Jones Alice Dr",
		"#source":    "NHS CIS2 (OpenID Connect)",
		"#user-role": "Consultant at SOUTH TEES HOSPITALS NHS TRUST (RCJ)",
		"#role-id":   aliceRole,
	})
	b.Do(chromedp.Navigate(f.ts.URL+"/patients/"+recordNHS), chromedp.WaitVisible(chromedp.ID("record")))

	// The logout button: the app's session ends, the middleware's page
	// posts the logout to the provider (its CSP allows that form; the
	// app's form-action 'self' would not), and the provider sends the
	// browser back to the app's front page, which asks for a login.
	b.Do(chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("cis2-login")))
	if p := path(t, b); p != "/login" {
		t.Errorf("after the CIS2 logout the browser shows %s", p)
	}
	endSession := f.srv.OIDCIssuer() + "/connect/endSession"
	posted := false
	for _, r := range b.Requests() {
		u, _ := url.Parse(r.URL)
		if r.Method == "POST" && strings.HasPrefix(r.URL, endSession) {
			posted = true
		}
		if u != nil && (u.Query().Has("id_token_hint") || u.Query().Has("code") && u.Path != "/cis/oidc/callback") {
			t.Errorf("a token where it does not belong: %s %s", r.Method, u.Redacted())
		}
	}
	if !posted {
		t.Error("the browser never posted the logout to the provider")
	}
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: f.srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(context.Background(), ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("after the CIS2 logout the smartcard session still validates: %v", err)
	}
	b.Do(chromedp.Navigate(f.ts.URL+"/patients"), chromedp.WaitVisible(chromedp.ID("cis2-login")))
}

func TestBrowserCIS2RoleChoice(t *testing.T) {
	f := newFixture(t, withCIS2(nil))
	b := f.browse(t)

	// Alice has one role and chose none at the card yet: she gets it
	// without being asked.
	b.Do(chromedp.Navigate(f.ts.URL+"/login"), chromedp.Click(chromedp.ID("cis2-login")))
	f.providerLogin(b, f.noRoleSession(alice), "#name")
	if f.onProvider(b) {
		t.Fatal("the provider asked a user with one role to choose it")
	}
	if got := text(b, "#role-id"); got != aliceRole {
		t.Errorf("Alice's role %q, want %s", got, aliceRole)
	}

	// Bob has eight and chose none at the card: the provider asks.
	bobTicket := f.noRoleSession(bob)
	b.Do(chromedp.Navigate(f.ts.URL+"/login?return=%2Fpatients%2F"+recordNHS), chromedp.Click(chromedp.ID("cis2-login")))
	f.providerLogin(b, bobTicket, "#record")
	if !f.onProvider(b) {
		t.Fatal("the provider did not ask Bob for a role")
	}
	chooseRole(b, bobRKF, "#record")
	if got := text(b, "#user-role"); !strings.Contains(got, "(RKF)") {
		t.Errorf("header after choosing RKF: %q", got)
	}

	// A CIS2 role stays for the session; "Choose another role" logs in
	// again with a fresh role choice.
	b.Do(
		chromedp.Navigate(f.ts.URL+"/role"),
		chromedp.WaitVisible(chromedp.CSS(`tr.selected[data-role-id="`+bobRKF+`"]`)),
		chromedp.Click(chromedp.ID("choose-role")),
	)
	f.providerLogin(b, bobTicket, "#roles")
	if !f.onProvider(b) {
		t.Fatal(`"Choose another role" did not ask for a role`)
	}
	chooseRole(b, bobRMM, `tr.selected[data-role-id="`+bobRMM+`"]`)
	if p := path(t, b); p != "/role" {
		t.Errorf("after choosing another role the browser shows %s, want /role", p)
	}
	// RMM's role may not open records; the refusal offers a new choice.
	b.Do(chromedp.Navigate(f.ts.URL + "/patients/" + recordNHS))
	if got := text(b, "#denied-reason"); got != "Your selected role at RMM does not include activity B0264." {
		t.Errorf("refusal says %q", got)
	}
	if got := text(b, "#choose-role"); !strings.Contains(got, "choose one of them") {
		t.Errorf("refusal's link: %q", got)
	}
}
