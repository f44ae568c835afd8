package middleware_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/middleware"
)

// cis2App is an application behind the middleware with CIS2 enabled (and
// the legacy login too, unless the options drop it), served over TLS on
// loopback, in front of a simulator whose CIS2 provider has it registered.
// Browsers from f.srv.Browser() talk to both, as one browser would.
type cis2App struct {
	*fixture
	app    *httptest.Server
	client cistest.OIDCClient
	rp     *cis2.RelyingParty
}

// cis2Options adjust a cis2App before New: the relying party's config and
// the middleware's.
type cis2Options struct {
	rp  func(*cis2.Config)
	cfg func(*middleware.Config)
	sim cissim.Config
}

func newCIS2App(t testing.TB, o cis2Options) *cis2App {
	t.Helper()
	// One clock for the simulator, the relying party and the middleware.
	clock := &fakeClock{}
	simReg := prometheus.NewRegistry()
	o.sim.Registerer, o.sim.Now = simReg, clock.Now
	srv := cistest.NewServerWithConfig(t, o.sim)
	f := &fixture{t: t, srv: srv, clock: clock, logs: &logBuffer{}, simReg: simReg}
	var h atomic.Pointer[http.Handler]
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*h.Load()).ServeHTTP(w, r)
	}))
	app.StartTLS()
	t.Cleanup(app.Close)
	client := srv.MustOIDCClient(t, app.URL+"/cis/oidc/callback")
	rpCfg := cis2.Config{Env: client.Env, ClientSecret: client.Secret, Now: clock.Now,
		PostLogoutRedirectURL: app.URL + "/cis/oidc/callback/logged-out"}
	if o.rp != nil {
		o.rp(&rpCfg)
	}
	rp, err := cis2.New(context.Background(), rpCfg)
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = middleware.Config{Env: srv.Env(), Store: middleware.NewMemoryStore(middleware.MemoryStoreConfig{}),
		CIS2: middleware.CIS2Config{RelyingParty: rp}}
	if o.cfg != nil {
		o.cfg(&f.cfg)
	}
	f.m = f.newMiddleware(f.cfg)
	f.h = f.m.Handler(appHandler())
	h.Store(&f.h)
	return &cis2App{fixture: f, app: app, client: client, rp: rp}
}

// get sends a GET from browser and reads the answer.
func get(t testing.TB, browser *http.Client, u string, opts ...reqOpt) (*http.Response, string) {
	t.Helper()
	return send(t, browser, http.MethodGet, u, nil, opts...)
}

func send(t testing.TB, browser *http.Client, method, u string, body io.Reader, opts ...reqOpt) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// beginLogin opens the CIS2 login path and returns the provider URL it
// redirects to.
func (a *cis2App) beginLogin(t testing.TB, browser *http.Client, query string) string {
	t.Helper()
	resp, b := get(t, browser, a.app.URL+"/cis/oidc/login"+query)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("CIS2 login: %d %s", resp.StatusCode, b)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, a.srv.OIDCIssuer()+"/authorize?") {
		t.Fatalf("CIS2 login redirects to %q", loc)
	}
	return loc
}

// authorize plays the browser at the provider: the SSO session of ticket
// logs in (choosing role if asked); it returns the callback URL.
func (a *cis2App) authorize(t testing.TB, browser *http.Client, authURL string, ticket cis.Ticket, role string) string {
	t.Helper()
	return a.srv.MustAuthorize(t, browser, authURL, ticket, role).String()
}

// login runs a whole CIS2 login in browser with the SSO session of ticket
// and returns where the callback sent the browser.
func (a *cis2App) login(t testing.TB, browser *http.Client, ticket cis.Ticket, query string) string {
	t.Helper()
	cb := a.authorize(t, browser, a.beginLogin(t, browser, query), ticket, "")
	resp, b := get(t, browser, cb)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", resp.StatusCode, b)
	}
	return resp.Header.Get("Location")
}

// sessionOf returns the browser's session as the session endpoint shows it.
func (a *cis2App) sessionOf(t testing.TB, browser *http.Client) (int, sessionJSON) {
	t.Helper()
	resp, b := get(t, browser, a.app.URL+"/cis/session")
	var s sessionJSON
	if resp.StatusCode == http.StatusOK {
		decodeJSON(t, b, &s)
	}
	return resp.StatusCode, s
}

// sessionJSON is the session endpoint's answer.
type sessionJSON struct {
	UID    string `json:"uid"`
	Source string `json:"source"`
	Role   *struct {
		ID      string `json:"id"`
		OrgCode string `json:"org_code"`
	} `json:"role"`
	Roles []struct {
		ID string `json:"id"`
	} `json:"roles"`
}

// sessionCookie returns the browser's session cookie for the app.
func (a *cis2App) sessionCookie(t testing.TB, browser *http.Client) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(a.app.URL)
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == a.m.CookieName() {
			return c
		}
	}
	t.Fatal("the browser has no session cookie")
	return nil
}

// acceptHTML asks for a page rather than JSON.
func acceptHTML(r *http.Request) { r.Header.Set("Accept", "text/html") }

// advance moves the middleware's clock.
func (a *cis2App) advance(d time.Duration) { a.clock.Advance(d) }

func decodeJSON(t testing.TB, b string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(b), v); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
}

// hiddenField finds the fields of the logout page's form.
var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
