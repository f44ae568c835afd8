package proxy_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/internal/proxytest"
	"github.com/opencis/cisauth/middleware"
)

// Demo users and roles (cissim.DemoUsers).
const (
	alice      = "555000000001" // Jones Alice Dr: RCJ, S8000:G8000:R8003, B0264 and B0360
	aliceRole  = "555000000101"
	bob        = "555000000002" // Smith Bob Mr: many roles
	bobRMM     = "555000000207" // RMM, clinical, B0360 only
	bobRA      = "555000000202" // B81108, S8001:G8001:R8000, B1300 and B0020
	chandra    = "555000000003"
	chandraAdm = "555000000301" // RCJ, S8001:G8001:R8000, B0020
)

// rig is a simulator, a middleware, a proxy in front of an upstream, and
// the proxy's URL.
type rig struct {
	sim *cistest.Server
	px  *proxy.Proxy
	url string
}

func newRig(t testing.TB, upstream string, rules []proxy.Rule, edit func(*proxy.Config)) *rig {
	t.Helper()
	return newRigWith(t, upstream, rules, func(_ *rig, cfg *proxy.Config) {
		if edit != nil {
			edit(cfg)
		}
	})
}

// newRigWith is newRig for a configuration that needs the proxy's URL (a
// SAML bridge's external URL, an agent's allowed origin): rg.url and
// rg.sim are set when edit runs; the proxy starts listening after it.
func newRigWith(t testing.TB, upstream string, rules []proxy.Rule, edit func(rg *rig, cfg *proxy.Config)) *rig {
	t.Helper()
	sim := cistest.NewServer(t)
	mw, err := middleware.New(middleware.Config{
		Env: sim.Env(), LoginURL: proxy.LoginPagePath,
		Cookie: middleware.CookieConfig{Insecure: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := proxy.CompileRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	rg := &rig{sim: sim, url: "http://" + srv.Listener.Addr().String()}
	cfg := proxy.Config{Upstream: u, Middleware: mw, Rules: rs, Login: proxy.LoginPage{Ticket: true}}
	if edit != nil {
		edit(rg, &cfg)
	}
	if rg.px, err = proxy.New(cfg); err != nil {
		t.Fatal(err)
	}
	handler = rg.px
	srv.Start()
	return rg
}

// client is a cookie-keeping client that does not follow redirects.
func client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs c in through the proxy as uid in roleID, with the ticket in
// the X-CIS-Ticket header as a thick client does.
func (rg *rig) login(t testing.TB, c *http.Client, uid, roleID string) {
	t.Helper()
	proxytest.Login(t, c, rg.url+proxy.LoginPagePath, rg.sim.MustLogin(t, uid, roleID))
}

// get fetches path through the proxy with extra headers.
func get(t testing.TB, c *http.Client, u string, h map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
