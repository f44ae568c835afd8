package main

import (
	"bytes"
	"context"
	"io"
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
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stderr, nil); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
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

// home returns the home page as client sees it.
func home(t *testing.T, client *http.Client, base string) (int, string) {
	t.Helper()
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
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
	if status, body := home(t, client, base); status != http.StatusOK || !strings.Contains(body, "Jones Alice Dr") {
		t.Errorf("home: %d\n%s", status, body)
	}
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
	if status, body := home(t, client, b); status != http.StatusOK || !strings.Contains(body, "Jones Alice Dr") {
		t.Fatalf("the other instance: %d\n%s", status, body)
	}
	req, _ := http.NewRequest(http.MethodPost, a+"/cis/logout", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if status, _ := home(t, client, b); status != http.StatusUnauthorized {
		t.Errorf("after logout on one instance the other answers %d", status)
	}
}
