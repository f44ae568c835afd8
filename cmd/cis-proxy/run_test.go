package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/proxytest"
)

// The command serves: a login through it reaches the upstream with the
// X-CIS-* headers of the selected role, spoofed ones gone; its health
// check answers; its metrics show the proxy's and the middleware's.
func TestServes(t *testing.T) {
	sim := cistest.NewServer(t)
	up := proxytest.EchoUpstream(t)
	p := start(t, baseArgs(envFile(t, sim), up.URL)...)
	if !strings.HasPrefix(p.url, "http://127.0.0.1:") || strings.HasSuffix(p.url, ":0") || p.metrics == "" {
		t.Fatalf("addresses %q, %q", p.url, p.metrics)
	}
	p.waitLog(t, "cis-proxy serving", "external_url="+p.url)

	c := newClient(t)
	if status, _ := get(t, c, p.url+"/records"); status != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", status)
	}
	login(t, sim, c, p.url, alice, aliceRole)
	status, body := do(t, c, http.MethodGet, p.url+"/records/1", map[string]string{"X-CIS-UID": "999999999999", "X_CIS_Role_ID": "1"})
	if status != http.StatusOK {
		t.Fatalf("GET /records/1: %d %s", status, body)
	}
	s := proxytest.Saw(t, body)
	if s.Path != "/records/1" || s.Header.Get("X-CIS-UID") != alice || s.Header.Get("X-CIS-Role-ID") != aliceRole ||
		s.Header.Get("X-CIS-Org-Code") != "RCJ" || s.Header.Get("X-CIS-Activities") != "B0264,B0360" || len(s.Header.Values("X-CIS-UID")) != 1 {
		t.Errorf("upstream saw %s %v", s.Path, s.Header)
	}
	for k := range s.Header {
		if strings.HasPrefix(strings.ToUpper(k), "X_CIS") {
			t.Errorf("spoofed header %s reached the upstream", k)
		}
	}

	if status, body := get(t, c, p.url+"/cis/healthz"); status != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("health: %d %q", status, body)
	}
	status, metrics := get(t, c, "http://"+p.metrics+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("metrics: %d", status)
	}
	for _, want := range []string{`cisproxy_upstream_responses_total{class="2xx"} 1`, "cisauth_logins_total", "go_goroutines", "process_"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The metrics stay off the proxy's own listener: /metrics there is
	// the upstream's path like any other.
	if status, body := get(t, c, p.url+"/metrics"); status != http.StatusOK || proxytest.Saw(t, body).Path != "/metrics" {
		t.Errorf("/metrics on the proxy: %d %s", status, body)
	}
}

// --metrics-listen off: no metrics listener.
func TestMetricsOff(t *testing.T) {
	sim := cistest.NewServer(t)
	p := start(t, append(baseArgs(envFile(t, sim), proxytest.EchoUpstream(t).URL), "--metrics-listen", "off")...)
	if p.metrics != "" {
		t.Errorf("metrics at %q with --metrics-listen off", p.metrics)
	}
	p.waitLog(t, "cis-proxy serving", `metrics=""`)
}

// Graceful shutdown: a request in flight when the context ends completes
// with its 200; new connections are refused afterwards; run returns 0.
func TestGracefulShutdown(t *testing.T) {
	sim := cistest.NewServer(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	t.Cleanup(up.Close)
	p := start(t, baseArgs(envFile(t, sim), up.URL)...)
	c := newClient(t)
	login(t, sim, c, p.url, alice, aliceRole)

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Get(p.url + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-arrived
	p.cancel()
	p.waitLog(t, "cis-proxy stopping")
	// Shutdown closes the listeners before it waits for requests in
	// flight: once they are closed, no new connection gets in.
	waitRefused(t, p.url)
	select {
	case code := <-p.done:
		t.Fatalf("run returned %d with a request in flight", code)
	default:
	}
	close(release)
	if r := <-res; r.err != nil || r.status != http.StatusOK || r.body != "finished" {
		t.Errorf("request in flight: %d %q %v", r.status, r.body, r.err)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d; log:\n%s", code, p.log)
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://")); err == nil {
		t.Error("a connection accepted after exit")
	}
}

// waitRefused waits until a new connection to the proxy at u is refused.
func waitRefused(t *testing.T, u string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var d net.Dialer
	for ctx.Err() == nil {
		conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(u, "http://"))
		if err != nil {
			return
		}
		conn.Close()
	}
	t.Fatalf("new connections still accepted %s after the stop", waitFor)
}

// TestSecureCookieBehindHTTPS: with an https --external-url (a TLS
// terminator in front) the session cookie is Secure with the __Host-
// prefix; with a plain-http loopback one it is neither (TestServes), so
// the proxy also works for development.
func TestSecureCookieBehindHTTPS(t *testing.T) {
	sim := cistest.NewServer(t)
	up := proxytest.EchoUpstream(t)
	p := start(t, append(baseArgs(envFile(t, sim), up.URL), "--external-url", "https://records.example.nhs.uk", "--notify=false")...)
	resp := proxytest.Login(t, http.DefaultClient, p.url+"/cis/login", sim.MustLogin(t, alice, aliceRole))
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("login: cookies %v, want one", cookies)
	}
	if c := cookies[0]; c.Name != "__Host-"+cookieName || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie %+v, want Secure, HttpOnly, __Host-, Path=/, no Domain", c)
	}
}
