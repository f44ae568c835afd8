package proxy_test

// Browser tests in headless Chromium (internal/browsertest): the proxy's
// login page asks a fake workstation agent (internal/agenttest) for the
// ticket with its own script and posts its form, under its own
// Content-Security-Policy; without the agent it takes a pasted ticket; and
// the SAML bridge signs a samlsp app in through that page.

import (
	"encoding/json"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/crewjam/saml"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/agenttest"
	"github.com/opencis/cisauth/internal/browsertest"
	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/internal/samltest"
)

// browsers is the package's one Chromium; each test gets a browser
// context of its own.
var browsers browsertest.Pool

func TestMain(m *testing.M) {
	code := m.Run()
	browsers.Close()
	os.Exit(code)
}

// whoUpstream is an application that knows the user only from the
// proxy's headers: its page shows X-CIS-UID and the path in #uid and #path.
func whoUpstream(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>app</title><p id=uid>%s</p><p id=path>%s</p>",
			html.EscapeString(r.Header.Get("X-CIS-UID")), html.EscapeString(r.URL.RequestURI()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// agentRig is a proxy whose login page asks agentURL (a fake agent allowing
// the proxy's origin, if agentURL is empty).
func agentRig(t *testing.T, upstream, agentURL string, edit func(*rig, *proxy.Config)) (*rig, *agenttest.Agent) {
	t.Helper()
	var agent *agenttest.Agent
	rg := newRigWith(t, upstream, nil, func(rg *rig, cfg *proxy.Config) {
		if agentURL == "" {
			agent = agenttest.New(t, agenttest.Config{Origins: []string{rg.url}})
			agentURL = agent.URL
		}
		cfg.Login = proxy.LoginPage{Title: "Ward Records", Ticket: true, AgentURL: agentURL}
		if edit != nil {
			edit(rg, cfg)
		}
	})
	return rg, agent
}

// browse opens a tab; when the test ends it checks that no page broke its
// CSP (but for the messages in ignoreCSP, from pages not the proxy's) and
// that no URL or Referer the browser sent held one of the tickets.
func browse(t *testing.T, tickets []cis.Ticket, ignoreCSP ...string) *browsertest.Browser {
	t.Helper()
	b := browsers.New(t, browsertest.Options{})
	t.Cleanup(func() {
		for _, m := range b.CSPViolations() {
			if slices.Contains(ignoreCSP, m.Text) {
				continue
			}
			t.Errorf("CSP violation: [%s %s] %s", m.Source, m.Level, m.Text)
		}
		for _, r := range b.Requests() {
			for _, tk := range tickets {
				if s := tk.Reveal(); s != "" && (strings.Contains(r.URL, s) || strings.Contains(r.Referer, s) ||
					strings.Contains(r.URL, url.QueryEscape(s))) {
					t.Errorf("a ticket in a request the browser sent: %s %s (Referer %q)", r.Method, r.URL, r.Referer)
				}
			}
		}
	})
	return b
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// waitText waits until the element matching the CSS selector contains
// text, in the current page.
func waitText(b *browsertest.Browser, sel, text string) {
	expr := "(document.querySelector(" + jsString(sel) + ")?.textContent ?? '').includes(" + jsString(text) + ")"
	browsertest.Run(b, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(browsertest.StepTimeout)))
}

// location returns the path and query the browser shows.
func location(t *testing.T, b *browsertest.Browser) string {
	t.Helper()
	u, err := url.Parse(browsertest.Run(b, chromedp.Location()))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// sawRequest reports whether the browser sent method to a URL with the
// given path on origin.
func sawRequest(b *browsertest.Browser, method, origin, path string) bool {
	for _, r := range b.Requests() {
		u, err := url.Parse(r.URL)
		if err == nil && r.Method == method && u.Scheme+"://"+u.Host == origin && u.Path == path {
			return true
		}
	}
	return false
}

// TestBrowserLoginThroughAgent: a protected page without a session shows
// the login page, whose script gets the ticket from the agent and posts
// the form; the browser lands back on the page, which the upstream serves
// knowing the user from X-CIS-UID.
func TestBrowserLoginThroughAgent(t *testing.T) {
	t.Parallel()
	rg, agent := agentRig(t, whoUpstream(t).URL, "", nil)
	tk := rg.sim.MustLogin(t, alice, aliceRole)
	agent.SetTicket(agenttest.Session{Ticket: tk, UID: alice, Name: "Jones Alice Dr", SelectedRoleID: aliceRole})
	b := browse(t, []cis.Ticket{tk})

	b.Do(chromedp.Navigate(rg.url+"/records/7?ward=B"), chromedp.WaitVisible(chromedp.ID("uid")))
	if got := browsertest.Run(b, chromedp.Text(chromedp.ID("uid"))); got != alice {
		t.Errorf("the upstream saw X-CIS-UID %q, want %s", got, alice)
	}
	if p := location(t, b); p != "/records/7?ward=B" {
		t.Errorf("after the login the browser shows %s", p)
	}
	if !sawRequest(b, http.MethodGet, rg.url, proxy.LoginPagePath) || !sawRequest(b, http.MethodPost, rg.url, proxy.LoginPagePath) {
		t.Errorf("the login page was not shown and posted: %+v", b.Requests())
	}
	if n := agent.Given(); n != 1 {
		t.Errorf("the agent gave the ticket %d times, want 1", n)
	}
	if n := agent.Refused(); n != 0 {
		t.Errorf("the agent refused %d requests", n)
	}
}

// TestBrowserLoginAgentDown: with no agent running, the login page says so
// and opens the paste field; a pasted ticket logs in and the browser lands
// back on the page it asked for.
func TestBrowserLoginAgentDown(t *testing.T) {
	t.Parallel()
	down := closedPort(t)
	rg, _ := agentRig(t, whoUpstream(t).URL, down, nil)
	tk := rg.sim.MustLogin(t, bob, bobRMM)
	b := browse(t, []cis.Ticket{tk})

	b.Do(chromedp.Navigate(rg.url + "/patients?q=smith"))
	if p := location(t, b); p != proxy.LoginPagePath+"?return=%2Fpatients%3Fq%3Dsmith" {
		t.Errorf("without a session the browser shows %s, want the login page", p)
	}
	waitText(b, "#status", "not running at "+down)
	b.Do(
		chromedp.WaitVisible(chromedp.ID("ticket")),           // the paste field is open
		chromedp.SetValue(chromedp.ID("ticket"), tk.Reveal()), // pasted
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("uid")),
	)
	if got := browsertest.Run(b, chromedp.Text(chromedp.ID("uid"))); got != bob {
		t.Errorf("the upstream saw X-CIS-UID %q, want %s", got, bob)
	}
	if p := location(t, b); p != "/patients?q=smith" {
		t.Errorf("after the login the browser shows %s, want /patients?q=smith", p)
	}
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// TestBrowserSAMLSignIn: a samlsp app signs Alice in through the proxy in
// a real browser: the app's redirect to /saml/sso, the login page asking
// the agent, the return to /saml/sso, and its script posting the Response
// to the app — every page within its CSP.
func TestBrowserSAMLSignIn(t *testing.T) {
	t.Parallel()
	sp := samltest.NewSP(t, samltest.SPOptions{Binding: saml.HTTPPostBinding})
	var agent *agenttest.Agent
	sr := newSAMLRigWith(t, func(rg *rig, cfg *proxy.Config) {
		agent = agenttest.New(t, agenttest.Config{Origins: []string{rg.url}})
		cfg.Login = proxy.LoginPage{Ticket: true, AgentURL: agent.URL}
	}, sp)
	tk := sr.sim.MustLogin(t, alice, aliceRole)
	agent.SetTicket(agenttest.Session{Ticket: tk, UID: alice, SelectedRoleID: aliceRole})
	// crewjam's samlsp sends CSP directives Chromium no longer knows, on
	// the SP's own page: not the proxy's business.
	b := browse(t, []cis.Ticket{tk},
		"Unrecognized Content-Security-Policy directive 'reflected-xss'.",
		"Unrecognized Content-Security-Policy directive 'referrer'.")

	// The way through is pages that go on by themselves: start it without
	// waiting for a load, then wait for the SP's page.
	browsertest.Run(b, chromedp.Evaluate[bool]("location.href = "+jsString(sp.Server.URL+"/hello")+"; true"))
	b.Do(chromedp.WaitVisible(chromedp.ID("sp-name")))
	if got := browsertest.Run(b, chromedp.Text(chromedp.ID("sp-name"))); got != "Jones Alice Dr" {
		t.Errorf("the SP greets %q, want Jones Alice Dr", got)
	}
	if got := browsertest.Run(b, chromedp.Text(chromedp.ID("sp-activities"))); got != "B0264,B0360" {
		t.Errorf("the SP got activity codes %q", got)
	}
	if p := location(t, b); p != "/hello" {
		t.Errorf("the browser ended at %s, want the SP's /hello", p)
	}
	for _, r := range []struct{ method, origin, path string }{
		{http.MethodPost, sr.url, "/saml/sso"},
		{http.MethodGet, sr.url, proxy.LoginPagePath},
		{http.MethodPost, sr.url, proxy.LoginPagePath},
		{http.MethodPost, sp.Server.URL, sp.Middleware.ServiceProvider.AcsURL.Path},
	} {
		if !sawRequest(b, r.method, r.origin, r.path) {
			t.Errorf("the browser did not %s %s%s", r.method, r.origin, r.path)
		}
	}
}
