package agent

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSettingsFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte(`
env: dev
role: "555000000101"
mode: session-lock
keep_alive: 4m
lock_timeout: 1h
mobility:
  away_lock: 10m
allowed_origins: [https://app.example.nhs.uk]
pin_entry: [web]
`), 0o600)
	s, err := LoadSettings(path, envMap(map[string]string{"CIS_AGENT_MODE": "mobility", "CIS_AGENT_READERS": "A 00 00, B 00 00",
		"CIS_AGENT_REAUTHENTICATE_AFTER": "2h"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Env != "dev" || s.Mode != "mobility" || s.KeepAlive != 4*time.Minute || s.LockTimeout != time.Hour ||
		s.Mobility.AwayLock != 10*time.Minute || s.Mobility.ReauthenticateAfter != 2*time.Hour ||
		len(s.Readers) != 2 || s.Readers[1] != "B 00 00" || s.Role != "555000000101" {
		t.Fatalf("file + environment: %+v", s)
	}
	s.Override(Settings{Mode: "normal", Listen: "127.0.0.1:0", PKCS11Module: "/x/opensc-pkcs11.so"})
	b, err := s.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Agent.Mode != ModeNormal || b.Agent.Env.Name != "dev" || b.Agent.Hash != crypto.SHA1 || b.Agent.Module != "/x/opensc-pkcs11.so" ||
		b.Server.Addr != "127.0.0.1:0" || b.Terminal || !b.Web || len(b.Server.AllowedOrigins) != 1 ||
		b.Agent.AwayLock != 10*time.Minute || b.Agent.KeepAlive != 4*time.Minute {
		t.Fatalf("built %+v", b)
	}
	if !strings.HasSuffix(b.Server.Socket, "agent.sock") || !strings.HasSuffix(b.Server.SecretFile, "secret") {
		t.Errorf("default paths %q %q", b.Server.Socket, b.Server.SecretFile)
	}
	// The settings write back as a file that reads the same.
	y, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSettings(y)
	if err != nil || back.KeepAlive != s.KeepAlive || back.Mode != s.Mode || back.Mobility != s.Mobility {
		t.Fatalf("round trip: %v\n%s", err, y)
	}
}

func TestSettingsRefusals(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":    "env: dev\npin: 1234\n",
		"env and inline": "env: dev\nenvironment: {name: x, gas_url: 'http://127.0.0.1:1', ssb_url: 'http://127.0.0.1:1'}\n",
		"not YAML":       "env: [dev\n",
	} {
		if _, err := ParseSettings([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadSettings(filepath.Join(t.TempDir(), "none.yaml"), envMap(nil)); err == nil {
		t.Error("a named config file that is missing was accepted")
	}
	if _, err := LoadSettings("", envMap(map[string]string{"CIS_AGENT_PIN": "1234"})); err == nil ||
		!strings.Contains(err.Error(), "never read from the environment") {
		t.Errorf("PIN in the environment: %v", err)
	}
	base := Settings{Env: "dev", PKCS11Module: "/x.so"}
	for name, mod := range map[string]func(*Settings){
		"no environment": func(s *Settings) { s.Env = "" },
		"bad env":        func(s *Settings) { s.Env = "/nonexistent/env.yaml" },
		"bad mode":       func(s *Settings) { s.Mode = "relaxed" },
		"bad hash":       func(s *Settings) { s.Hash = "md5" },
		"bad ssb mode":   func(s *Settings) { s.SSBMode = "test" },
		"bad device id":  func(s *Settings) { s.DeviceID = "ABCDEFGH" },
		"bad pin entry":  func(s *Settings) { s.PINEntry = []string{"argv"} },
		"web, no TCP":    func(s *Settings) { s.Listen = "off" },
		"bad log level":  func(s *Settings) { s.LogLevel = "loud" },
	} {
		s := base
		mod(&s)
		if _, err := s.Build(nil); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}

// TestInlineEnvironment: an environment written in the config, its trust
// anchor file taken relative to the config file.
func TestInlineEnvironment(t *testing.T) {
	dir := t.TempDir()
	roots, err := cis.Preset("dev")
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "ca.pem"), roots)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(`
environment:
  name: mine
  gas_url: https://gas.example.nhs.uk
  ssb_url: https://sbapi.example.nhs.uk
  trust_anchors:
    - file: ca.pem
pkcs11_module: /x/opensc-pkcs11.so
`), 0o600)
	s, err := LoadSettings(filepath.Join(dir, "config.yaml"), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.ResolveEnvironment()
	if err != nil || env.Name != "mine" || len(env.Roots) != 2 || env.GASURL != "https://gas.example.nhs.uk" {
		t.Fatalf("inline environment: %+v, %v", env, err)
	}
	// CIS_AGENT_ENV replaces it.
	s, _ = LoadSettings(filepath.Join(dir, "config.yaml"), envMap(map[string]string{"CIS_AGENT_ENV": "local"}))
	if env, err := s.ResolveEnvironment(); err != nil || env.Name != "local" {
		t.Errorf("CIS_AGENT_ENV over an inline environment: %+v, %v", env, err)
	}
}
