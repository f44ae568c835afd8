package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/internal/proxytest"
)

// TestHeadersForwarded: the upstream gets the session's user and role in
// X-CIS-* headers, none of the client's own X-CIS-* headers in any
// spelling, and not the proxy's session cookie.
func TestHeadersForwarded(t *testing.T) {
	up := proxytest.EchoUpstream(t)
	rg := newRig(t, up.URL, nil, nil)
	c := client(t)
	rg.login(t, c, alice, aliceRole)
	u, _ := url.Parse(rg.url)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "theme", Value: "dark"}})

	resp, body := get(t, c, rg.url+"/records/7?x=1", map[string]string{
		"X-CIS-UID":         "999999999999",
		"x-cis-org-code":    "EVIL",
		"X_CIS_ACTIVITIES":  "B9999",
		"X-Cis-Role-Id":     "1",
		"X-CIS-Extra":       "spoof",
		"X-Forwarded-For":   "10.9.9.9",
		"X-Cisco-Something": "kept",
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	s := proxytest.Saw(t, body)
	want := map[string]string{
		proxy.HeaderUID:         alice,
		proxy.HeaderName:        "Jones Alice Dr",
		proxy.HeaderRoleID:      aliceRole,
		proxy.HeaderOrgCode:     "RCJ",
		proxy.HeaderJobRoleCode: "S8000:G8000:R8003",
		proxy.HeaderActivities:  "B0264,B0360",
		"X-Cisco-Something":     "kept",
	}
	for k, v := range want {
		if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("upstream saw %s = %q, want %q", k, got, v)
		}
	}
	for k := range s.Header {
		if strings.HasPrefix(strings.ToUpper(k), "X_CIS") || k == "X-Cis-Extra" {
			t.Errorf("upstream saw the client's %s", k)
		}
	}
	if got := s.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer alone", got)
	}
	if got := s.Header.Get("Cookie"); got != "theme=dark" {
		t.Errorf("upstream Cookie = %q, want theme=dark alone (no session cookie)", got)
	}
	if s.Path != "/records/7" {
		t.Errorf("upstream path %q", s.Path)
	}
}

// TestNoSession: without a session nothing reaches the upstream; a browser
// is sent to the login page with the path it asked for, a program gets 401.
func TestNoSession(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	rg := newRig(t, up.URL, nil, nil)
	c := client(t)

	resp, _ := get(t, c, rg.url+"/records?ward=7", map[string]string{"Accept": "text/html", "X-CIS-UID": alice})
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Path != proxy.LoginPagePath || loc.Query().Get("return") != "/records?ward=7" {
		t.Errorf("browser without session: %s to %q, want 303 to the login page with return", resp.Status, loc)
	}
	resp, _ = get(t, c, rg.url+"/api/records", map[string]string{"X-CIS-UID": alice})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("program without session: %s, want 401", resp.Status)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream reached %d times without a session", n)
	}
}

// TestPublicRule: a public path is forwarded without a session, and the
// client's X-CIS-* headers are stripped there too.
func TestPublicRule(t *testing.T) {
	up := proxytest.EchoUpstream(t)
	rg := newRig(t, up.URL, []proxy.Rule{{Path: "/static/", Public: true}}, nil)
	c := client(t)
	resp, body := get(t, c, rg.url+"/static/app.css", map[string]string{"X-CIS-UID": alice, "X-Cis-Activities": "B0264"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	s := proxytest.Saw(t, body)
	if s.Header.Get(proxy.HeaderUID) != "" || s.Header.Get(proxy.HeaderActivities) != "" {
		t.Errorf("upstream saw spoofed headers on a public path: %v", s.Header)
	}
	// With a session, a public path gets the session's headers.
	rg.login(t, c, alice, aliceRole)
	_, body = get(t, c, rg.url+"/static/app.css", map[string]string{"X-CIS-UID": "999999999999"})
	if got := proxytest.Saw(t, body).Header.Get(proxy.HeaderUID); got != alice {
		t.Errorf("public path with a session: X-CIS-UID %q, want %s", got, alice)
	}
}

// TestRules: each path's longest rule decides, by the selected role.
func TestRules(t *testing.T) {
	up := proxytest.EchoUpstream(t)
	rules := []proxy.Rule{
		{Path: "/static/", Public: true},
		{Path: "/records/", Activities: []string{"B0264"}},
		{Path: "/records/list", AnyActivities: []string{"B0360", "B0264"}},
		{Path: "/admin/", JobRoles: []string{"R8000", "S9999:G9999:R9999"}},
		{Path: "/rcj/", Orgs: []string{"rcj"}, Activities: []string{"B0264"}},
	}
	rg := newRig(t, up.URL, rules, nil)
	aliceC, bobC, raC, chandraC := client(t), client(t), client(t), client(t)
	rg.login(t, aliceC, alice, aliceRole)
	rg.login(t, bobC, bob, bobRMM)
	rg.login(t, raC, bob, bobRA)
	rg.login(t, chandraC, chandra, chandraAdm)
	for _, tc := range []struct {
		c    *http.Client
		name string
		path string
		want int
	}{
		{aliceC, "alice", "/records/7", 200},
		{bobC, "bob RMM", "/records/7", 403},
		{bobC, "bob RMM", "/RECORDS/7", 403}, // case does not get round a rule
		{bobC, "bob RMM", "/records", 403},   // nor a missing slash
		{bobC, "bob RMM", "/records/list", 200},
		{bobC, "bob RMM", "/records/list/", 200},
		{aliceC, "alice", "/admin/users", 403},
		{aliceC, "alice", "/admin", 403},
		{raC, "bob RA", "/admin/users", 200},
		{chandraC, "chandra", "/Admin/users", 200},
		{aliceC, "alice", "/rcj/ward", 200},
		{chandraC, "chandra admin at RCJ", "/rcj/ward", 403}, // RCJ, but no B0264
		{raC, "bob RA", "/rcj/ward", 403},
		{bobC, "bob RMM", "/elsewhere", 200}, // no rule: a session is enough
		{client(t), "nobody", "/static/x.js", 200},
		{client(t), "nobody", "/records/7", 401},
	} {
		resp, body := get(t, tc.c, rg.url+tc.path, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s GET %s: %s, want %d: %s", tc.name, tc.path, resp.Status, tc.want, body)
		}
		if tc.want == 403 && !strings.Contains(body, `"missing":[`) {
			t.Errorf("%s GET %s: 403 without saying what is missing: %s", tc.name, tc.path, body)
		}
	}

	// SetRules swaps the rules while the proxy runs.
	rs, err := proxy.CompileRules([]proxy.Rule{{Path: "/records/", AnyActivities: []string{"B0360"}}})
	if err != nil {
		t.Fatal(err)
	}
	rg.px.SetRules(rs)
	if resp, body := get(t, bobC, rg.url+"/records/7", nil); resp.StatusCode != 200 {
		t.Errorf("after SetRules, bob RMM GET /records/7: %s: %s", resp.Status, body)
	}
}

// TestUncleanPaths: a path an upstream might normalise into another rule's
// is refused before any rule is looked at.
func TestUncleanPaths(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	rg := newRig(t, up.URL, []proxy.Rule{{Path: "/static/", Public: true}, {Path: "/admin/", JobRoles: []string{"R8000"}}}, nil)
	for _, p := range []string{
		"/static/../admin/users", "/static/%2e%2e/admin/users", "/static/..;/admin/users",
		"/static//x", "/static/./x", "/static/x/..", "/static/%2fadmin", "/static/%5C..%5Cadmin", "/static/a%00b",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(rg.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		// Written by hand: net/http's client would clean some of these.
		_, _ = io.WriteString(conn, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", p, resp.Status)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream reached %d times", n)
	}
}

// TestUpstreamDown: 502 with a page that says what happened.
func TestUpstreamDown(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	addr := up.URL
	up.Close()
	rg := newRig(t, addr, nil, nil)
	c := client(t)
	rg.login(t, c, alice, aliceRole)
	resp, body := get(t, c, rg.url+"/records", map[string]string{"Accept": "text/html"})
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("%s, want 502", resp.Status)
	}
	if !strings.Contains(body, "not answering") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("502 page: %s %q", resp.Header.Get("Content-Type"), body)
	}
	if strings.Contains(body, strings.TrimPrefix(addr, "http://")) {
		t.Errorf("502 page shows the upstream's address: %q", body)
	}
}

// TestStreaming: a response the upstream streams reaches the client part
// by part, before the upstream has finished.
func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: second\n\n")
	}))
	defer up.Close()
	defer close(release)
	rg := newRig(t, up.URL, nil, nil)
	c := client(t)
	rg.login(t, c, alice, aliceRole)
	resp, err := c.Get(rg.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
}

// TestWebSocket: a handshake from the proxy's origin is passed through and
// the connection carries bytes both ways; one from another origin is
// refused before the upstream.
func TestWebSocket(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Cis-Uid") != alice {
			http.Error(w, "no user", http.StatusForbidden)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	}))
	defer up.Close()
	rg := newRig(t, up.URL, nil, nil)
	c := client(t)
	rg.login(t, c, alice, aliceRole)
	u, _ := url.Parse(rg.url)
	cookie := c.Jar.Cookies(u)[0]

	handshake := func(origin string) (*http.Response, *bufio.Reader, net.Conn) {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_, _ = io.WriteString(conn, "GET /socket HTTP/1.1\r\nHost: "+u.Host+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: "+origin+"\r\nCookie: "+cookie.String()+"\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp, br, conn
	}
	resp, _, _ := handshake("http://evil.example")
	if resp.StatusCode != http.StatusForbidden || hits.Load() != 0 {
		t.Errorf("cross-origin handshake: %s, upstream hits %d; want 403 and none", resp.Status, hits.Load())
	}
	resp, br, conn := handshake(rg.url)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("same-origin handshake: %s", resp.Status)
	}
	_, _ = io.WriteString(conn, "hello\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo hello\n" {
		t.Errorf("through the socket: %q, %v", line, err)
	}
}

// TestCrossOriginPost: an unsafe request from another site is refused
// before the upstream (the session cookie would otherwise carry it).
func TestCrossOriginPost(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	rg := newRig(t, up.URL, nil, nil)
	c := client(t)
	rg.login(t, c, alice, aliceRole)
	req, _ := http.NewRequest(http.MethodPost, rg.url+"/records/7/notes", strings.NewReader("x=1"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || hits.Load() != 0 {
		t.Errorf("cross-site POST: %s, upstream hits %d", resp.Status, hits.Load())
	}
	req, _ = http.NewRequest(http.MethodPost, rg.url+"/records/7/notes", strings.NewReader("x=1"))
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || hits.Load() != 1 {
		t.Errorf("same-origin POST: %s, upstream hits %d", resp.Status, hits.Load())
	}
}

// TestLoginPage: the page takes the return path and the agent's address
// into the form, and its policy lets the script talk to the agent only.
func TestLoginPage(t *testing.T) {
	rg := newRig(t, "http://127.0.0.1:1", nil, func(c *proxy.Config) {
		c.Login = proxy.LoginPage{Ticket: true, AgentURL: "http://127.0.0.1:7444", Title: "Records"}
	})
	resp, body := get(t, client(t), rg.url+proxy.LoginPagePath+"?return=/records%3Fward%3D7%22%3E", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	for _, want := range []string{`action="/cis/login"`, `name="return" value="/records?ward=7&#34;&gt;"`, `data-agent="http://127.0.0.1:7444"`, "Log in to Records", `src="/cis/login.js"`} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %s:\n%s", want, body)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src http://127.0.0.1:7444", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	resp, js := get(t, client(t), rg.url+proxy.LoginJSPath, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(js, `agent + "/ticket"`) {
		t.Errorf("login.js: %s", resp.Status)
	}
}

// TestHealth: 200 while ready, 503 when the store is not.
func TestHealth(t *testing.T) {
	var down atomic.Bool
	rg := newRig(t, "http://127.0.0.1:1", nil, func(c *proxy.Config) {
		c.Ready = func(ctx context.Context) error {
			if down.Load() {
				return errors.New("redis: connection refused")
			}
			return nil
		}
	})
	if resp, body := get(t, client(t), rg.url+proxy.HealthPath, nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("health: %s %q", resp.Status, body)
	}
	down.Store(true)
	if resp, _ := get(t, client(t), rg.url+proxy.HealthPath, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("health with the store down: %s", resp.Status)
	}
}
