package records_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/examples/webapp/internal/records"
	"github.com/opencis/cisauth/internal/agenttest"
	"github.com/opencis/cisauth/internal/browsertest"
)

// End-to-end tests in headless Chromium: the app over HTTPS with its
// Secure __Host- cookie, the simulator in-process, real GAS logins for the
// demo users, and (where a test says so) a fake workstation agent. Every
// wait is a wait for a condition in the page.

// browsers holds the package's one Chromium (each test gets a browser
// context of its own); TestMain stops it.
var browsers browsertest.Pool

func TestMain(m *testing.M) {
	code := m.Run()
	browsers.Close()
	os.Exit(code)
}

// browse opens a tab in a browser trusting the app's certificate. When the test
// ends it checks that no page broke its CSP and that no request the
// browser sent carried a ticket in its URL or Referer.
func (f *fixture) browse(t *testing.T) *browsertest.Browser {
	t.Helper()
	b := browsers.New(t, browsertest.Options{TrustCerts: []*x509.Certificate{f.ts.Certificate()}})
	t.Cleanup(func() {
		for _, m := range b.CSPViolations() {
			t.Errorf("CSP violation: %s", m.Text)
		}
		for _, r := range b.Requests() {
			if strings.Contains(r.URL, "AQIC") || strings.Contains(r.Referer, "AQIC") {
				t.Errorf("a ticket in a request the browser sent: %s %s (Referer %q)", r.Method, r.URL, r.Referer)
			}
		}
	})
	return b
}

// has is a JavaScript test that the element matching sel contains text.
func has(sel, text string) string {
	return "(document.querySelector(" + jsString(sel) + ")?.textContent ?? '').includes(" + jsString(text) + ")"
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitFor waits until the JavaScript expression is true in the current
// page (it does not outlive a navigation: wait for the new page first).
func waitFor(b *browsertest.Browser, expr string) {
	browsertest.Run(b, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(browsertest.StepTimeout)))
}

// text returns the text of the element matching the CSS selector, once
// it is visible.
func text(b *browsertest.Browser, css string) string {
	b.Do(chromedp.WaitVisible(chromedp.CSS(css)))
	return browsertest.Run(b, chromedp.Text(chromedp.CSS(css)))
}

// path returns the path and query of the page the browser shows.
func path(t *testing.T, b *browsertest.Browser) string {
	loc := browsertest.Run(b, chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// pasteLogin logs in on the login page with a pasted ticket and waits for
// the page the login returns to.
func (f *fixture) pasteLogin(b *browsertest.Browser, ticket cis.Ticket, wait string) {
	b.Do(
		chromedp.Navigate(f.ts.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("ticket")),
		chromedp.SetValue(chromedp.ID("ticket"), ticket.Reveal()),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.CSS(wait)),
	)
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestBrowserLoginWithPastedTicket(t *testing.T) {
	agentURL := closedPort(t) // the agent is not running
	f := newFixture(t, func(_ *fixture, cfg *records.Config) { cfg.AgentURL = agentURL })
	b := f.browse(t)

	b.Do(chromedp.Navigate(f.ts.URL + "/patients"))
	if p := path(t, b); p != "/login?return=%2Fpatients" {
		t.Errorf("without a session /patients shows %s", p)
	}
	// The page asked the agent, which is not there, and says so.
	waitFor(b, has("#agent-status", "is not running at "+agentURL))

	ticket := f.srv.MustLogin(t, alice, aliceRole)
	b.Do(
		chromedp.SetValue(chromedp.ID("ticket"), ticket.Reveal()),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.ID("patient-list")),
	)
	if p := path(t, b); p != "/patients" {
		t.Errorf("after the login the browser shows %s, want /patients", p)
	}
	b.Do(chromedp.Navigate(f.ts.URL + "/"))
	for sel, want := range map[string]string{
		"#name":                 "Jones Alice Dr",
		"#org":                  "SOUTH TEES HOSPITALS NHS TRUST (RCJ)",
		"#job-role":             "Consultant (S8000:G8000:R8003)",
		"#user-role":            "Consultant at SOUTH TEES HOSPITALS NHS TRUST (RCJ)",
		`tr[data-code="B0264"]`: "Access clinical record",
		`tr[data-code="B0360"]`: "View patient",
		"#may-do li.denied":     "not job role R8000",
		"#may-do li.allowed":    "Patient list",
	} {
		if got := text(b, sel); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want it to contain %q", sel, got, want)
		}
	}
	// A ticket whose smartcard session has ended is refused in plain words.
	ended := f.srv.MustLogin(t, alice, aliceRole)
	if err := f.srv.Logout(ended); err != nil {
		t.Fatal(err)
	}
	b.Do(
		chromedp.Navigate(f.ts.URL+"/login"),
		chromedp.SetValue(chromedp.ID("ticket"), ended.Reveal()),
		chromedp.Click(chromedp.ID("login-button")),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "does not know this ticket")]`)),
	)
}

func TestBrowserLoginThroughTheAgent(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := map[bool]string{false: "JSON", true: "plain text"}[plain]
		t.Run(name, func(t *testing.T) {
			var agent *agenttest.Agent
			f := newFixture(t, func(f *fixture, cfg *records.Config) {
				agent = agenttest.New(t, agenttest.Config{Origins: []string{f.origin}, PlainText: plain})
				cfg.AgentURL = agent.URL
			})
			b := f.browse(t)

			// No card yet: the page says what the agent said, and waits
			// for the person.
			b.Do(chromedp.Navigate(f.ts.URL + "/patients"))
			waitFor(b, has("#agent-status", "did not give a session"))
			if !plain {
				waitFor(b, has("#agent-status", "no session"))
			}

			// The card is in: the button asks again, the page logs in and
			// goes where the person was going.
			ticket := f.srv.MustLogin(t, alice, aliceRole)
			agent.SetTicket(agenttest.Session{Ticket: ticket, UID: alice, Name: "Jones Alice Dr", SelectedRoleID: aliceRole})
			b.Do(
				chromedp.Click(chromedp.ID("agent-ask")),
				chromedp.WaitVisible(chromedp.ID("patient-list")),
			)
			if p := path(t, b); p != "/patients" {
				t.Errorf("after the agent login the browser shows %s, want /patients", p)
			}
			if got := text(b, "#user-name"); got != "Jones Alice Dr" {
				t.Errorf("header shows %q", got)
			}
			if agent.Given() != 1 {
				t.Errorf("the agent gave the ticket %d times, want 1", agent.Given())
			}

			// A page visited afresh, without a session, logs in by itself.
			b2 := f.browse(t)
			b2.Do(chromedp.Navigate(f.ts.URL+"/admin"), chromedp.WaitVisible(chromedp.ID("denied-reason")))
			if p := path(t, b2); p != "/admin" {
				t.Errorf("the automatic agent login went to %s, want /admin", p)
			}
		})
	}
}

func TestBrowserAccessByActivityAndJobRole(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browse(t)

	// Bob in his RMM role has B0360 only: the list, not the records.
	f.pasteLogin(b, f.srv.MustLogin(t, bob, bobRMM), "#name")
	b.Do(chromedp.Navigate(f.ts.URL + "/patients"))
	if got := text(b, "#cannot-open"); !strings.Contains(got, "Your selected role at RMM does not include activity B0264.") {
		t.Errorf("list page: %q", got)
	}
	resp := browsertest.Run(b, chromedp.NavigateResponse(f.ts.URL+"/patients/"+recordNHS))
	if resp.Status != 403 {
		t.Errorf("record page for Bob at RMM: %d, want 403", resp.Status)
	}
	if got := text(b, "#denied-reason"); got != "Your selected role at RMM does not include activity B0264." {
		t.Errorf("refusal says %q", got)
	}
	if got := text(b, "#other-roles"); !strings.Contains(got, "THE PRINCESS ROYAL HOSPITAL NHS TRUST (RKF)") ||
		!strings.Contains(got, "VEDUTLA, RDP & PARTNERS (Y00221)") || strings.Contains(got, "RMM") {
		t.Errorf("other roles: %q", got)
	}

	// Chandra as Medical Secretary: no patient activity, the admin job role.
	f.pasteLogin(b, f.srv.MustLogin(t, chandra, chandraAd), "#name")
	b.Do(chromedp.Navigate(f.ts.URL + "/patients"))
	if got := text(b, "#denied-reason"); got != "Your selected role at RCJ includes none of the activities B0360 or B0264." {
		t.Errorf("list refusal says %q", got)
	}
	b.Do(chromedp.Navigate(f.ts.URL+"/admin"), chromedp.WaitVisible(chromedp.ID("audit")))

	// Alice: the records, not the admin page.
	f.pasteLogin(b, f.srv.MustLogin(t, alice, aliceRole), "#name")
	b.Do(chromedp.Navigate(f.ts.URL + "/patients"))
	b.Do(chromedp.Click(chromedp.CSS(`a[href="/patients/`+recordNHS+`"]`)), chromedp.WaitVisible(chromedp.ID("record")))
	if got := text(b, "#patient-name"); got != "O'Neill, Siobhán" {
		t.Errorf("record of %q", got)
	}
	b.Do(chromedp.Navigate(f.ts.URL + "/admin"))
	if got := text(b, "#denied-reason"); got != "Your selected role at RCJ is S8000:G8000:R8003 (Consultant), not job role R8000." {
		t.Errorf("admin refusal says %q", got)
	}
	if got := text(b, "#no-role"); !strings.Contains(got, "None of your roles may.") {
		t.Errorf("no-role note: %q", got)
	}
}

func TestBrowserRoleSwitch(t *testing.T) {
	f := newFixture(t, func(_ *fixture, cfg *records.Config) {
		cfg.CIS.Revalidate = 300 * time.Millisecond
		cfg.SessionCheck = 200 * time.Millisecond
	})
	b := f.browse(t)
	sess := f.srv.MustLoginSession(t, bob, bobRMM)
	f.pasteLogin(b, sess.Ticket, "#name")
	b.Do(chromedp.Navigate(f.ts.URL+"/role"), chromedp.WaitVisible(chromedp.CSS(`tr.selected[data-role-id="`+bobRMM+`"]`)))

	// At the workstation, Bob switches to his RKF role through GAS.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.srv.SelectRole(ctx, sess, bobRKF); err != nil {
		t.Fatal(err)
	}
	// The open page notices (its session check), then the button asks the
	// SSB now and the page shows the new role.
	waitFor(b, "!document.getElementById('role-changed').hidden")
	b.Do(
		chromedp.Click(chromedp.ID("refresh-role")),
		chromedp.WaitVisible(chromedp.CSS(`tr.selected[data-role-id="`+bobRKF+`"]`)),
	)
	if got := text(b, "#user-role"); !strings.Contains(got, "(RKF)") {
		t.Errorf("header after the switch: %q", got)
	}
	// The new role opens records.
	b.Do(chromedp.Navigate(f.ts.URL+"/patients/"+recordNHS), chromedp.WaitVisible(chromedp.ID("record")))
}

func TestBrowserSSOLogoutShowsLoggedOut(t *testing.T) {
	f := newFixture(t, func(_ *fixture, cfg *records.Config) {
		cfg.CIS.Revalidate = 300 * time.Millisecond
		cfg.SessionCheck = 200 * time.Millisecond
	})
	b := f.browse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, end := range []struct {
		name string
		do   func(*cis.Session) error
	}{
		{"card pulled (logout at the SSB)", func(s *cis.Session) error { return f.srv.Logout(s.Ticket) }},
		{"logout through GAS", func(s *cis.Session) error { return f.srv.GASLogout(ctx, s) }},
	} {
		sess := f.srv.MustLoginSession(t, alice, aliceRole)
		f.pasteLogin(b, sess.Ticket, "#name")
		b.Do(chromedp.Navigate(f.ts.URL+"/patients"), chromedp.WaitVisible(chromedp.ID("patient-list")))
		if err := end.do(sess); err != nil {
			t.Fatalf("%s: %v", end.name, err)
		}
		// Within the revalidation interval the page hides the patients
		// and says the person is logged out.
		waitFor(b, "!document.getElementById('session-ended').hidden")
		b.Do(
			chromedp.WaitNotVisible(chromedp.ID("patient-list")),
			chromedp.WaitNotVisible(chromedp.ID("user-name")),
		)
		if got := text(b, "#session-ended"); !strings.Contains(got, "You have been logged out") {
			t.Errorf("%s: banner %q", end.name, got)
		}
		// The session is gone on the server too.
		b.Do(chromedp.Navigate(f.ts.URL+"/patients"), chromedp.WaitVisible(chromedp.ID("ticket")))
		if p := path(t, b); p != "/login?return=%2Fpatients" {
			t.Errorf("%s: after the end /patients shows %s", end.name, p)
		}
	}
}

func TestBrowserLogoutButton(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browse(t)
	ticket := f.srv.MustLogin(t, alice, aliceRole)
	f.pasteLogin(b, ticket, "#name")
	b.Do(chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("logged-out")))
	if p := path(t, b); p != "/logged-out" {
		t.Errorf("the logout button led to %s", p)
	}
	if got := text(b, "#logged-out"); !strings.Contains(got, "stays open for your other applications") {
		t.Errorf("logged-out page: %q", got)
	}
	b.Do(chromedp.Navigate(f.ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("ticket")))
	if p := path(t, b); p != "/login" {
		t.Errorf("after logout / shows %s", p)
	}
	// The smartcard session is untouched: the same ticket logs in again.
	f.pasteLogin(b, ticket, "#name")
}
