package cissim_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
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
