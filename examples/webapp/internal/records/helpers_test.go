package records_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
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
}

// newFixture starts the simulator and the app; adjust changes the app's
// Config (whose CIS.Env and CIS.Logger are set) before New. The server is
// started after adjust, and adjust may read f.origin (for the agent's
// allowed origins).
func newFixture(t testing.TB, adjust func(f *fixture, cfg *records.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, srv: cistest.NewServer(t), logs: &logtest.Buffer{}}
	f.ts = httptest.NewUnstartedServer(nil)
	f.origin = "https://" + f.ts.Listener.Addr().String()
	cfg := records.Config{AgentURL: records.NoAgent}
	cfg.CIS.Env = f.srv.Env()
	cfg.CIS.Logger = f.logs.Logger()
	if adjust != nil {
		adjust(f, &cfg)
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

// get fetches a page as a browser would (Accept: text/html).
func (f *fixture) get(c *http.Client, path string) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	req.Header.Set("Accept", "text/html")
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
