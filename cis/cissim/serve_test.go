package cissim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
)

// Serve runs the simulator as the command does: on a socket, over TLS from
// the state directory's CA, with an env.yaml a client can use as it is.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan cissim.Running, 1)
	done := make(chan error, 1)
	go func() {
		done <- cissim.Serve(ctx, cissim.ServeConfig{
			Addr: "127.0.0.1:0", StateDir: t.TempDir(), Hostnames: []string{"cis-sim.test"},
			Ready: func(r cissim.Running) { ready <- r },
		})
	}()
	var r cissim.Running
	select {
	case r = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not become ready")
	}
	env, err := cis.LoadEnvironment(r.EnvFile)
	if err != nil {
		t.Fatal(err)
	}
	if env.GASURL != r.URL || r.URL != "https://cis-sim.test:"+r.Addr[len("127.0.0.1:"):] {
		t.Errorf("env.yaml GAS URL %q, Running %+v", env.GASURL, r)
	}
	// The certificate names 127.0.0.1 as well as the configured host name.
	resp, err := env.NewHTTPClient(5 * time.Second).Get("https://" + r.Addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}

// serveOnce runs Serve on stateDir until the test ends and returns what it
// started.
func serveOnce(t *testing.T, cfg cissim.ServeConfig) cissim.Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan cissim.Running, 1)
	done := make(chan error, 1)
	cfg.Addr, cfg.Ready = "127.0.0.1:0", func(r cissim.Running) { ready <- r }
	go func() { done <- cissim.Serve(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case r := <-ready:
		return r
	case err := <-done:
		done <- err
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not become ready")
	}
	return cissim.Running{}
}

// The env.yaml that Serve writes is enough for a CIS2 relying party: the
// issuer, the demo client and its secret file, the TLS CA. A whole login
// runs through it, with a ticket from a GAS login by a card of the state
// directory's card CA.
func TestServeOIDC(t *testing.T) {
	dir := t.TempDir()
	r := serveOnce(t, cissim.ServeConfig{StateDir: dir})
	env, err := cis.LoadEnvironment(r.EnvFile)
	if err != nil {
		t.Fatal(err)
	}
	if env.OIDC.Issuer != r.URL+cissim.OIDCRealmPath || env.OIDC.ClientID != cissim.OIDCDemoClientID ||
		env.OIDC.ClientSecretFile != filepath.Join(dir, cissim.OIDCDemoSecretFile) || len(env.OIDC.Roots) != 1 ||
		env.OIDC.RedirectURL != "http://127.0.0.1:8080/cis/oidc/callback" || env.OIDC.PostLogoutRedirectURL != "http://127.0.0.1:8080/" {
		t.Fatalf("oidc block %+v", env.OIDC)
	}
	ctx := context.Background()
	rp, err := cis2.New(ctx, cis2.Config{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	// A card login through GAS, as the agent does.
	ca, caKey, err := cissim.LoadOrCreateCardCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	cert, err := cissim.IssueCardCert(ca, caKey, "555000000001", key.Public(), time.Time{}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gas, err := cis.NewGASClient(cis.GASConfig{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := gas.Login(ctx, key, cert)
	if err != nil {
		t.Fatal(err)
	}
	req, err := rp.Begin(cis2.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: env.TLSConfig()},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cb, err := cistest.Authorize(ctx, browser, req.URL, sess.Ticket, "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := rp.Finish(ctx, &req.Pending, cb.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if l.User.UID != "555000000001" || l.SelectedRoleID != "555000000101" {
		t.Errorf("%+v", l)
	}
}

// The signing key is kept in the state directory across restarts; a
// rotation makes a new one and keeps the old one in the JWKS.
func TestServeOIDCKeyRotation(t *testing.T) {
	dir := t.TempDir()
	kids := func(cfg cissim.ServeConfig) []string {
		cfg.StateDir = dir
		r := serveOnce(t, cfg)
		resp, err := r.Env.OIDC.NewHTTPClient(5 * time.Second).Get(r.Env.OIDC.Issuer + "/connect/jwk_uri")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	first := kids(cissim.ServeConfig{})
	again := kids(cissim.ServeConfig{})
	rotated := kids(cissim.ServeConfig{OIDCRotateKey: true})
	if len(first) != 1 || !slices.Equal(first, again) {
		t.Fatalf("restart changed the key: %v %v", first, again)
	}
	if len(rotated) != 2 || rotated[1] != first[0] || rotated[0] == first[0] {
		t.Fatalf("after rotation %v (before %v)", rotated, first)
	}
}
