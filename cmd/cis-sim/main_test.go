package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
)

func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	badUsers := filepath.Join(dir, "users.yaml")
	os.WriteFile(badUsers, []byte("users:\n  - uid: \"123\"\n"), 0o600)
	badCA := filepath.Join(dir, "ca.pem")
	os.WriteFile(badCA, []byte("junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--fail-rate", "2"}, 2, "-fail-rate"},
		{[]string{"--maintenance", "Mon 20:00"}, 2, "-maintenance"},
		{[]string{"--session-time", "0s"}, 2, "-session-time"},
		{[]string{"--notify-timeout", "0s"}, 2, "-notify-timeout"},
		{[]string{"--notify-role-change=maybe"}, 2, "-notify-role-change"},
		{[]string{"--latency", "soon"}, 2, "-latency"},
		{[]string{"--nope"}, 2, "-nope"},
		{[]string{"--log-level", "loud"}, 2, "-log-level"},
		{[]string{"--addr", "nowhere"}, 2, "-addr"},
		{[]string{"extra"}, 2, "unexpected argument"},
		{[]string{"--state-dir", dir, "--users", badUsers}, 1, badUsers + ":2: uid \"123\""},
		{[]string{"--state-dir", dir, "--card-ca", badCA}, 1, badCA + ":2:"},
		{[]string{"--state-dir", dir, "--card-ca", filepath.Join(dir, "missing.pem")}, 1, "missing.pem"},
		{[]string{"--oidc-client", "demo:secret"}, 2, "-oidc-client"},
		{[]string{"--oidc-client", "demo:secret:http://app.example/cb"}, 2, "loopback"},
		{[]string{"--oidc-code-ttl", "0s"}, 2, "-oidc-code-ttl"},
		{[]string{"--state-dir", dir, "--oidc-clients", filepath.Join(dir, "missing-clients.yaml")}, 1, "missing-clients.yaml"},
		{[]string{"--state-dir", dir, "--oidc-agent-url", "ftp://agent"}, 1, "agent URL"},
		{[]string{"--state-dir", dir, "--oidc-demo-redirect", "https://app.example/cb#x"}, 1, "fragment"},
	} {
		var stderr strings.Builder
		code := run(context.Background(), tc.args, &stderr, nil)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
	var stderr strings.Builder
	if code := run(context.Background(), []string{"-h"}, &stderr, nil); code != 0 || !strings.Contains(stderr.String(), "--card-ca") && !strings.Contains(stderr.String(), "-card-ca") {
		t.Errorf("-h: exit %d\n%s", code, stderr.String())
	}
}

func TestNotifyFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.notifyTimeout != cissim.DefaultNotifyTimeout || o.notifyRole {
		t.Fatalf("defaults: %v %+v", err, o)
	}
	o, err = parseFlags([]string{"--notify-timeout", "750ms", "--notify-role-change"}, io.Discard)
	if err != nil || o.notifyTimeout != 750*time.Millisecond || !o.notifyRole {
		t.Fatalf("set: %v %+v", err, o)
	}
}

// TestServeWritesStateAndServesTLS runs the command in-process: it must
// create the state dir, write env.yaml loadable by cis.LoadEnvironment, and
// serve TLS that verifies against that environment's roots.
func TestServeWritesStateAndServesTLS(t *testing.T) {
	state := filepath.Join(t.TempDir(), "a", "state")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--state-dir", state, "--hostname", "cis-sim.test", "--admin", "--log-level", "warn",
			"--oidc-client", "flag.apps.national:s3cret:http://127.0.0.1:9/cb"}, io.Discard, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("exited %d", code)
	}
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d", code)
		}
	}()
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir: %v %v", err, fi)
	}
	for _, f := range []string{"ca-key.pem", "card-ca-key.pem"} {
		if fi, err := os.Stat(filepath.Join(state, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	env, err := cis.LoadEnvironment(filepath.Join(state, "env.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	if env.GASURL != "https://cis-sim.test:"+port || len(env.Roots) != 1 {
		t.Fatalf("env %+v", env)
	}
	// Verify the server's certificate against the env roots for the
	// hostname, while dialling the loopback address.
	tr := &http.Transport{TLSClientConfig: env.TLSConfig()}
	tr.TLSClientConfig.ServerName = "cis-sim.test"
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = client.Get("https://" + addr + "/_sim/sessions")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin: %v %v", err, resp)
	}
	resp.Body.Close()
	for _, name := range []string{"localhost", "127.0.0.1"} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(env.Roots), ServerName: name})
		if err != nil {
			t.Fatalf("TLS as %s: %v", name, err)
		}
		conn.Close()
	}
	// The CIS2 provider: a client given by flag is registered beside the
	// demo client, which env.yaml names.
	if env.OIDC.ClientID != cissim.OIDCDemoClientID || env.OIDC.Issuer != env.GASURL+cissim.OIDCRealmPath {
		t.Errorf("oidc block %+v", env.OIDC)
	}
	for id, want := range map[string]int{"flag.apps.national": 200, cissim.OIDCDemoClientID: 200, "nobody": 400} {
		redirect := "http://127.0.0.1:9/cb"
		if id == cissim.OIDCDemoClientID {
			redirect = env.OIDC.RedirectURL
		}
		q := "response_type=code&scope=openid&client_id=" + id + "&redirect_uri=" + url.QueryEscape(redirect)
		resp, err := client.Get("https://" + addr + cissim.OIDCRealmPath + "/authorize?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("authorize as %s: HTTP %d, want %d", id, resp.StatusCode, want)
		}
	}
	// The card CA files are where cis-vcard looks for them.
	c, k := cissim.CardCAFiles(state)
	if _, _, err := cissim.LoadCA(c, k); err != nil {
		t.Fatal(err)
	}
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
