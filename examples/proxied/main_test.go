package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/internal/proxytest"
	"github.com/opencis/cisauth/middleware"
)

// startApp runs the app on a free loopback port until the test ends.
func startApp(t *testing.T) string {
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0"}, io.Discard, func(u string) { urls <- u })
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run = %d", code)
		}
	})
	select {
	case u := <-urls:
		return u
	case code := <-done:
		t.Fatalf("run = %d before it served", code)
	}
	return ""
}

// TestBehindProxy: the app behind the proxy with the rules of
// cis-proxy.yaml shows who is logged in, and the rules keep the records
// and admin pages to the roles that may see them.
func TestBehindProxy(t *testing.T) {
	app := startApp(t)
	f, err := proxy.LoadFile("cis-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := proxy.CompileRules(f.Rules)
	if err != nil {
		t.Fatal(err)
	}
	sim := cistest.NewServer(t)
	mw, err := middleware.New(middleware.Config{Env: sim.Env(), LoginURL: proxy.LoginPagePath, Cookie: middleware.CookieConfig{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(app)
	px, err := proxy.New(proxy.Config{Upstream: up, Middleware: mw, Rules: rules, Login: proxy.LoginPage{Ticket: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(px)
	defer srv.Close()

	as := func(uid, role string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		proxytest.Login(t, c, srv.URL+"/cis/login", sim.MustLogin(t, uid, role))
		return c
	}
	get := func(c *http.Client, path string) (int, string) {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	alice := as("555000000001", "555000000101")
	bob := as("555000000002", "555000000207")
	chandra := as("555000000003", "555000000301")
	for _, tc := range []struct {
		c          *http.Client
		path       string
		want       int
		wantInPage string
	}{
		{alice, "/", 200, "Jones Alice Dr (555000000001), role 555000000101: S8000:G8000:R8003 at RCJ"},
		{alice, "/records/", 200, "Activities: B0264, B0360"},
		{alice, "/admin/", 403, ""},
		{bob, "/records/", 403, ""},
		{bob, "/", 200, "Smith Bob Mr"},
		{chandra, "/admin/", 200, "S8001:G8001:R8000 at RCJ"},
		{http.DefaultClient, "/static/style.css", 200, "font-family"},
		{http.DefaultClient, "/", 401, ""},
	} {
		code, body := get(tc.c, tc.path)
		if code != tc.want || !strings.Contains(body, tc.wantInPage) {
			t.Errorf("GET %s: %d, want %d with %q:\n%s", tc.path, code, tc.want, tc.wantInPage, body)
		}
	}

	// Reached directly, without the proxy's headers, the app refuses.
	resp, err := http.Get(app + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("direct request: %s, want 403", resp.Status)
	}
}

// TestLoopbackOnly: the app will not listen where others could reach it.
func TestLoopbackOnly(t *testing.T) {
	var b strings.Builder
	if code := run(context.Background(), []string{"--listen", "0.0.0.0:0"}, &b, nil); code != 2 || !strings.Contains(b.String(), "loopback") {
		t.Errorf("run on 0.0.0.0 = %d, %q", code, b.String())
	}
}
