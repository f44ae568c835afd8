package records_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/examples/webapp/internal/records"
	"github.com/opencis/cisauth/internal/logtest"
)

// Demo users and roles (cissim.DemoUsers) and what this app lets each do.
const (
	alice     = "555000000001" // Jones Alice Dr
	aliceRole = "555000000101" // Consultant at RCJ, B0264 and B0360: list, records; no admin
	bob       = "555000000002" // Smith Bob Mr, eight roles
	bobRMM    = "555000000207" // clinical at RMM, B0360 only: list, no records
	bobRKF    = "555000000204" // clinical at RKF, B0264: list and records
	bobSAHA   = "555000000202" // Registration Authority Agent at "SAHA SN & DE G", R8000: admin
	chandra   = "555000000003" // Patel Chandra Ms
	chandraAd = "555000000301" // Medical Secretary at RCJ, B0020, R8000: admin, no patients

	recordNHS = "9991234578" // O'Neill, Siobhán
)

// fixture is the simulator and the app in front of it, over TLS.
type fixture struct {
	t    testing.TB
	srv  *cistest.Server
	app  *records.App
	ts   *httptest.Server
	logs *logtest.Buffer
	// origin is the app's origin, https://127.0.0.1:port.
	origin string
	// oidc is the app's registration with the simulator's CIS2 provider
	// (withCIS2).
	oidc cistest.OIDCClient
}

// newFixture starts the simulator and the app; each adjust changes the
// app's Config (whose CIS.Env and CIS.Logger are set) before New, in
// order. The server is started after them, and they may read f.origin
// (for the agent's allowed origins, the CIS2 redirect URL). The
// simulator's CIS2 login page finds no agent running, as in the demo: the
// person pastes the ticket.
func newFixture(t testing.TB, adjust ...func(f *fixture, cfg *records.Config)) *fixture {
	t.Helper()
	sim := cissim.Config{OIDC: cissim.OIDCConfig{AgentURL: closedPort(t)}}
	f := &fixture{t: t, srv: cistest.NewServerWithConfig(t, sim), logs: &logtest.Buffer{}}
	f.ts = httptest.NewUnstartedServer(nil)
	f.origin = "https://" + f.ts.Listener.Addr().String()
	cfg := records.Config{AgentURL: records.NoAgent}
	cfg.CIS.Env = f.srv.Env()
	cfg.CIS.Logger = f.logs.Logger()
	for _, a := range adjust {
		if a != nil {
			a(f, &cfg)
		}
	}
	app, err := records.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.app = app
	f.ts.Config.Handler = app
	f.ts.StartTLS()
	t.Cleanup(f.ts.Close)
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), "AQIC") {
			t.Errorf("a ticket reached the log:\n%s", f.logs.String())
		}
	})
	return f
}

// withCIS2 registers the app with the simulator's CIS2 provider (its
// callback; its front page as the post-logout URL, as cis-sim's demo
// client has it) and turns on "Log in with CIS2"; rp, if not nil, changes
// the relying party's Config first.
func withCIS2(rp func(*cis2.Config)) func(*fixture, *records.Config) {
	return func(f *fixture, cfg *records.Config) {
		f.t.Helper()
		f.oidc = f.srv.MustOIDCClient(f.t, f.origin+"/cis/oidc/callback", f.origin+"/")
		rc := cis2.Config{Env: f.oidc.Env, ClientSecret: f.oidc.Secret, PostLogoutRedirectURL: f.origin + "/"}
		if rp != nil {
			rp(&rc)
		}
		p, err := cis2.New(context.Background(), rc)
		if err != nil {
			f.t.Fatal(err)
		}
		cfg.CIS.CIS2.RelyingParty = p
	}
}

// cis2Login logs in through CIS2 as a browser does: the app's CIS2 login
// path with query, the provider's page with the SSO session of ticket
// (choosing role if the provider asks; its first offer if role is
// empty), then the callback. It returns the browser (which keeps the
// app's and the provider's cookies) and where the callback sent it.
func (f *fixture) cis2Login(ticket cis.Ticket, query, role string) (*http.Client, string) {
	f.t.Helper()
	b := f.srv.Browser()
	resp, body := f.fetch(b, http.MethodGet, f.ts.URL+"/cis/oidc/login"+query, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, f.srv.OIDCIssuer()+"/authorize?") {
		f.t.Fatalf("CIS2 login: %s to %q\n%s", resp.Status, loc, body)
	}
	cb := f.srv.MustAuthorize(f.t, b, loc, ticket, role)
	if cb.Query().Get("code") == "" {
		f.t.Fatalf("the provider sent the browser to %s without a code", cb.Redacted())
	}
	resp, body = f.fetch(b, http.MethodGet, cb.String(), nil)
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("CIS2 callback: %s\n%s", resp.Status, body)
	}
	return b, resp.Header.Get("Location")
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

// client is an HTTP client with its own cookie jar that does not follow
// redirects (tests look at them).
func (f *fixture) client() *http.Client {
	c := *f.ts.Client() // a copy: ts.Client is one shared client
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// login logs uid in in role through GAS and posts the ticket to the app as
// a thick client would; it returns the client and the ticket.
func (f *fixture) login(uid, role string) (*http.Client, cis.Ticket) {
	f.t.Helper()
	ticket := f.srv.MustLogin(f.t, uid, role)
	c := f.client()
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/cis/login", nil)
	req.Header.Set("X-CIS-Ticket", ticket.Reveal())
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("login %s: %s", uid, resp.Status)
	}
	return c, ticket
}

// get fetches a page of the app as a browser would (Accept: text/html).
func (f *fixture) get(c *http.Client, path string) (*http.Response, string) {
	f.t.Helper()
	return f.fetch(c, http.MethodGet, f.ts.URL+path, nil)
}

// fetch sends a request as a browser's navigation or form post would
// (Accept: text/html, Sec-Fetch-Site: same-origin; a form is posted
// url-encoded) and reads the answer.
func (f *fixture) fetch(c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(b)
}
