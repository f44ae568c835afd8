package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/logtest"
	"github.com/opencis/cisauth/internal/redistest"
)

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--env is required"},
		{[]string{"--env", "local"}, "plain HTTP needs --insecure-cookie"},
		{[]string{"--env", "local", "--insecure-cookie", "--listen", "0.0.0.0:8080"}, "--insecure-cookie only on a loopback address"},
		{[]string{"--env", "local", "--insecure-cookie", "--listen", "app.example:8080"}, "--insecure-cookie only on a loopback address"},
		{[]string{"--env", "local", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--env", "local", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--insecure-cookie"}, "--insecure-cookie is for plain HTTP"},
		{[]string{"--env", "local", "--insecure-cookie", "--redis", "redis://127.0.0.1:6379"}, "--redis needs --cookie-keys"},
		{[]string{"--env", "local", "--insecure-cookie", "--listen", "8080"}, "--listen"},
		{[]string{"--env", "local", "--insecure-cookie", "extra"}, "unexpected argument"},
		{[]string{"--env", "local", "--insecure-cookie", "--cis2", "on"}, `--cis2 "on": want auto or off`},
		{[]string{"--env", "local", "--insecure-cookie", "--cis2", "off", "--oidc-client-id", "x"}, "--oidc-* flags with --cis2 off"},
		{[]string{"--env", "local", "--insecure-cookie", "--oidc-client-secret-file", "s", "--oidc-key-file", "k"}, "not both"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stderr, nil); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "keys")
	if err := os.WriteFile(short, []byte("# rotate yearly\ntooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--env", filepath.Join(dir, "missing.yaml"), "--insecure-cookie"}, "environment file"},
		{[]string{"--env", "local", "--insecure-cookie", "--agent-url", "ftp://x"}, "agent URL"},
		{[]string{"--env", "local", "--insecure-cookie", "--cookie-keys", short}, "at least 32"},
		{[]string{"--env", "local", "--insecure-cookie", "--cookie-keys", filepath.Join(dir, "none")}, "--cookie-keys"},
		// CIS2: flags without an oidc block; a preset without this app's
		// registration; a provider that cannot be reached.
		{[]string{"--env", "local", "--insecure-cookie", "--oidc-client-id", "x"}, `environment "local" has no oidc block`},
		{[]string{"--env", "cis2-int", "--insecure-cookie"}, "no client id"},
		{[]string{"--env", "cis2-int", "--insecure-cookie"}, "--cis2 off starts without CIS2"},
		{[]string{"--env", providerDown(t), "--insecure-cookie"}, "CIS2 discovery: cis: service unavailable"},
		{[]string{"--env", providerDown(t), "--insecure-cookie", "--oidc-key-file", filepath.Join(dir, "none.pem")}, "client key file"},
		{[]string{"--env", providerDown(t), "--insecure-cookie", "--oidc-client-secret-file", filepath.Join(dir, "none")}, "client secret file"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stderr, nil); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// providerDown writes an environment file whose CIS2 provider does not
// answer.
func providerDown(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "env.yaml")
	env := "name: down\noidc:\n  issuer: http://" + addr + cissim.OIDCRealmPath + "\n  client_id: app.apps.national\n" +
		"  client_secret_file: secret\n  redirect_url: http://127.0.0.1:8080/cis/oidc/callback\n"
	if err := os.WriteFile(p, []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs the command with args in the background until the test ends
// and returns its URL and its log.
func start(t *testing.T, args ...string) (string, *logtest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan int, 1)
	stderr := &logtest.Buffer{}
	go func() { done <- run(ctx, args, stderr, func(u string) { urls <- u }) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d after cancel: %s", code, stderr.String())
		}
		if strings.Contains(stderr.String(), "AQIC") {
			t.Errorf("a ticket in the log:\n%s", stderr.String())
		}
	})
	select {
	case u := <-urls:
		return u, stderr
	case code := <-done:
		done <- code
		t.Fatalf("exited %d: %s", code, stderr.String())
		return "", nil
	}
}

// envFile writes the simulator's environment as cis-sim does.
func envFile(t *testing.T, srv *cistest.Server) string {
	t.Helper()
	p, err := cissim.WriteEnvFile(t.TempDir(), srv.Env())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// login posts a ticket as a thick client would and returns the client
// holding the session cookie.
func login(t *testing.T, base string, ticket string) (*http.Client, *http.Response) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, base+"/cis/login", nil)
	req.Header.Set("X-CIS-Ticket", ticket)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s", resp.Status)
	}
	return client, resp
}

// The command against the simulator's env.yaml, as make demo runs it: it
// serves, a login works, and a cancelled context stops it cleanly.
func TestServesTheApp(t *testing.T) {
	srv := cistest.NewServer(t)
	base, _ := start(t, "--env", envFile(t, srv), "--listen", "127.0.0.1:0", "--insecure-cookie", "--agent-url", "none")
	client, resp := login(t, base, srv.MustLogin(t, "555000000001", "555000000101").Reveal())
	// The plain-HTTP cookie: no Secure, no __Host- prefix.
	if c := resp.Cookies(); len(c) != 1 || c[0].Name != "cis_session" || c[0].Secure || !c[0].HttpOnly {
		t.Errorf("session cookie %+v", c)
	}
	if status, body := get(t, client, base+"/"); status != http.StatusOK || !strings.Contains(body, "Jones Alice Dr") {
		t.Errorf("home: %d\n%s", status, body)
	}
}

// CIS2 beside the ticket login, through the flags an application's own
// registration goes in: the environment file names only the provider.
func TestServesCIS2Logins(t *testing.T) {
	srv := cistest.NewServer(t)
	client := srv.MustOIDCClient(t, "http://127.0.0.1:8080/cis/oidc/callback")
	dir := t.TempDir()
	env, err := cissim.WriteEnvFile(dir, srv.OIDCEnv())
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "client-secret")
	if err := os.WriteFile(secret, []byte(client.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, logs := start(t, "--env", env, "--listen", "127.0.0.1:0", "--insecure-cookie", "--agent-url", "none",
		"--oidc-client-id", client.ID, "--oidc-client-secret-file", secret, "--oidc-redirect-url", client.RedirectURL)
	if !strings.Contains(logs.String(), "CIS2 logins on") {
		t.Errorf("no CIS2 in the log:\n%s", logs.String())
	}
	browser := srv.Browser() // keeps cookies, stops at redirects
	if status, body := get(t, browser, base+"/login"); status != http.StatusOK || !strings.Contains(body, `id="cis2-login"`) || !strings.Contains(body, `id="ticket"`) {
		t.Fatalf("login page: %d\n%s", status, body)
	}
	resp, err := browser.Get(base + "/cis/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authURL := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(authURL, srv.OIDCIssuer()+"/authorize?") {
		t.Fatalf("CIS2 login: %s to %q", resp.Status, authURL)
	}
	cb := srv.MustAuthorize(t, browser, authURL, srv.MustLogin(t, "555000000001", "555000000101"), "")
	// The provider sends the browser to the registered URL (port 8080);
	// this instance listens elsewhere on the same host, which has the
	// login cookie (cookies are per host, not port).
	resp, err = browser.Get(base + cb.Path + "?" + cb.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("callback: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if status, body := get(t, browser, base+"/"); status != http.StatusOK || !strings.Contains(body, "NHS CIS2 (OpenID Connect)") ||
		!strings.Contains(body, "Jones Alice Dr") {
		t.Errorf("home after the CIS2 login: %d\n%s", status, body)
	}

	// --cis2 off: the same environment, no CIS2.
	off, _ := start(t, "--env", env, "--listen", "127.0.0.1:0", "--insecure-cookie", "--agent-url", "none", "--cis2", "off")
	if status, body := get(t, browser, off+"/login"); status != http.StatusOK || strings.Contains(body, "cis2-login") {
		t.Errorf("login page with --cis2 off: %d\n%s", status, body)
	}
}

// get fetches u with client and returns the status and the body.
func get(t *testing.T, client *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Two instances sharing Redis and cookie keys: a session made on one is
// served by the other, and a logout on one ends it on both.
func TestRedisFleet(t *testing.T) {
	redisURL := redistest.URL(t)
	prefix := redistest.Prefix(t)
	srv := cistest.NewServer(t)
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("# the first signs\n0123456789abcdef0123456789abcdef-current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--env", envFile(t, srv), "--listen", "127.0.0.1:0", "--insecure-cookie", "--agent-url", "none",
		"--redis", redisURL, "--redis-prefix", prefix, "--cookie-keys", keys}
	a, _ := start(t, args...)
	b, _ := start(t, args...)
	client, _ := login(t, a, srv.MustLogin(t, "555000000001", "555000000101").Reveal())
	// The cookie jar is per host:port; hand the cookie to the other instance.
	ua, _ := url.Parse(a)
	ub, _ := url.Parse(b)
	client.Jar.SetCookies(ub, client.Jar.Cookies(ua))
	if status, body := get(t, client, b+"/"); status != http.StatusOK || !strings.Contains(body, "Jones Alice Dr") {
		t.Fatalf("the other instance: %d\n%s", status, body)
	}
	req, _ := http.NewRequest(http.MethodPost, a+"/cis/logout", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if status, _ := get(t, client, b+"/"); status != http.StatusUnauthorized {
		t.Errorf("after logout on one instance the other answers %d", status)
	}
}
