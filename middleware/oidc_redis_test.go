package middleware_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/redistest"
	"github.com/opencis/cisauth/middleware"
)

// cis2Node is one instance of a CIS2-enabled application in a fleet
// sharing a Redis, served over TLS on its own port.
type cis2Node struct {
	url   string
	m     *middleware.Middleware
	clock *fakeClock
}

// A CIS2 session round trip through Redis: the login begun on one instance
// and finished on another (the login in progress is in Redis), the session
// served and revalidated by a third from what Redis holds (tokens
// included), and a logout on one instance ending it on the others.
func TestCIS2RedisFleet(t *testing.T) {
	redistest.URL(t)
	simReg := prometheus.NewRegistry()
	srv := cistest.NewServerWithConfig(t, cissim.Config{Registerer: simReg})
	prefix := redistest.Prefix(t)
	keys := [][]byte{make([]byte, 32)}
	rand.Read(keys[0])

	// The provider redirects to one registered URL (the load balancer's);
	// here it is node 0's, and the test routes the callback elsewhere.
	var client cistest.OIDCClient
	newNode := func() *cis2Node {
		n := &cis2Node{clock: &fakeClock{}}
		var h http.Handler
		app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
		app.StartTLS()
		t.Cleanup(app.Close)
		n.url = app.URL
		if client.ID == "" {
			client = srv.MustOIDCClient(t, app.URL+"/cis/oidc/callback")
		}
		rp, err := cis2.New(context.Background(), cis2.Config{Env: client.Env, ClientSecret: client.Secret})
		if err != nil {
			t.Fatal(err)
		}
		store, err := middleware.NewRedisStore(middleware.RedisStoreConfig{Client: redistest.Client(t), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		n.m, err = middleware.New(middleware.Config{Env: srv.Env(), Store: store, Cookie: middleware.CookieConfig{Keys: keys},
			Now: n.clock.Now, CIS2: middleware.CIS2Config{RelyingParty: rp}})
		if err != nil {
			t.Fatal(err)
		}
		h = n.m.Handler(appHandler())
		waitFor(t, "event subscription up", 5*time.Second, func() bool { return middleware.Trusted(store) })
		return n
	}
	nodes := []*cis2Node{newNode(), newNode(), newNode()}

	browser := srv.Browser() // one cookie jar for 127.0.0.1: every node sees the cookies, as behind a balancer
	resp, b := get(t, browser, nodes[0].url+"/cis/oidc/login?return=/records")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	cb := srv.MustAuthorize(t, browser, resp.Header.Get("Location"), srv.MustLogin(t, alice, aliceRole), "").String()
	resp, b = get(t, browser, strings.Replace(cb, nodes[0].url, nodes[1].url, 1))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/records" {
		t.Fatalf("callback on another node: %d %s", resp.StatusCode, b)
	}

	// Redis holds the grant; the cookie only the signed id.
	rdb := redistest.Client(t)
	ids, err := rdb.Keys(context.Background(), prefix+"s:*").Result()
	if err != nil || len(ids) != 1 {
		t.Fatalf("sessions in Redis: %v %v", ids, err)
	}
	rec, err := rdb.HGet(context.Background(), ids[0], "rec").Result()
	if err != nil || !strings.Contains(rec, `"source":"cis2"`) || !strings.Contains(rec, `"access_token":"`) || strings.Contains(rec, "redacted") {
		t.Fatalf("stored record %s (%v)", rec, err)
	}
	if pending, _ := rdb.Keys(context.Background(), prefix+"p:*").Result(); len(pending) != 0 {
		t.Errorf("the finished login is still in Redis: %v", pending)
	}

	// Nodes 0 and 2 have never seen the session: they load it, grant and
	// all; node 2 revalidates it with the stored tokens at the interval.
	userinfo := metric(t, simReg, "cissim_requests_total", "endpoint", "oidc_userinfo")
	whoami := func(n *cis2Node) int {
		resp, _ := get(t, browser, n.url+"/whoami")
		return resp.StatusCode
	}
	for _, n := range []*cis2Node{nodes[0], nodes[2]} {
		if s := whoami(n); s != http.StatusOK {
			t.Fatalf("%s: %d", n.url, s)
		}
	}
	nodes[2].clock.Advance(time.Minute)
	if s := whoami(nodes[2]); s != http.StatusOK {
		t.Fatalf("node 2 after the interval: %d", s)
	}
	if n := metric(t, simReg, "cissim_requests_total", "endpoint", "oidc_userinfo"); n != userinfo+1 {
		t.Errorf("UserInfo requests %v → %v, want one more", userinfo, n)
	}
	// Node 0, due as well by its clock, uses node 2's fresh result (the
	// record in Redis) rather than asking again: a fleet asks once per
	// interval.
	nodes[0].clock.Advance(time.Minute)
	if s := whoami(nodes[0]); s != http.StatusOK {
		t.Fatalf("node 0 after the interval: %d", s)
	}
	if n := metric(t, simReg, "cissim_requests_total", "endpoint", "oidc_userinfo"); n != userinfo+1 {
		t.Errorf("node 0 asked the provider again (%v UserInfo requests)", n-userinfo)
	}

	// A logout on node 1 ends the session everywhere: the old cookie,
	// replayed (the browser drops it), is refused by every node.
	u, _ := url.Parse(nodes[0].url)
	var cookie *http.Cookie
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == nodes[0].m.CookieName() {
			cookie = c
		}
	}
	if resp, b := send(t, browser, http.MethodPost, nodes[1].url+"/cis/logout", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", resp.StatusCode, b)
	}
	replay := srv.Client()
	for _, n := range nodes {
		waitFor(t, "logout seen", 5*time.Second, func() bool {
			resp, _ := get(t, replay, n.url+"/whoami", withCookie(cookie))
			return resp.StatusCode == http.StatusUnauthorized
		})
	}
}
