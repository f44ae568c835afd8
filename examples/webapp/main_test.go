package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/logtest"
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

// The command against the simulator's env.yaml, as make demo runs it: it
// serves, a login works, and a cancelled context stops it cleanly.
func TestServesTheApp(t *testing.T) {
	srv := cistest.NewServer(t)
	envFile, err := cissim.WriteEnvFile(t.TempDir(), srv.Env())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls := make(chan string, 1)
	done := make(chan int, 1)
	var stderr logtest.Buffer
	go func() {
		done <- run(ctx, []string{"--env", envFile, "--listen", "127.0.0.1:0", "--insecure-cookie", "--agent-url", "none"},
			&stderr, func(u string) { urls <- u })
	}()
	var base string
	select {
	case base = <-urls:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, stderr.String())
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, base+"/cis/login", nil)
	req.Header.Set("X-CIS-Ticket", srv.MustLogin(t, "555000000001", "555000000101").Reveal())
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %s\n%s", resp.Status, stderr.String())
	}
	// The plain-HTTP cookie: no Secure, no __Host- prefix.
	if c := resp.Cookies(); len(c) != 1 || c[0].Name != "cis_session" || c[0].Secure || !c[0].HttpOnly {
		t.Errorf("session cookie %+v", c)
	}
	resp, err = client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Jones Alice Dr") {
		t.Errorf("home: %s\n%s", resp.Status, body)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after cancel: %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "AQIC") {
		t.Errorf("a ticket in the log:\n%s", stderr.String())
	}
}
