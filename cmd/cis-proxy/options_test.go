package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/internal/proxy"
)

// required are the two flags every command line needs.
var required = []string{"--env", "local", "--upstream", "http://127.0.0.1:3000"}

func withRequired(args ...string) []string { return append(slices.Clone(required), args...) }

func TestOptionsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--env is required"},
		{[]string{"--upstream", "http://127.0.0.1:3000"}, "--env is required"},
		{[]string{"--env", "local"}, "--upstream is required"},
		{[]string{"--env", "local", "--upstream", "ftp://127.0.0.1/"}, `--upstream "ftp://127.0.0.1/"`},
		{[]string{"--env", "local", "--upstream", "http://"}, "want an http or https URL"},
		{[]string{"--env", "local", "--upstream", "127.0.0.1:3000"}, "want an http or https URL"},
		{[]string{"--env", "local", "--upstream", "http://127.0.0.1:3000/?a=1"}, "without query"},
		{[]string{"--env", "local", "--upstream", "http://u:p@127.0.0.1:3000"}, "want an http or https URL"},
		{[]string{"--env", "local", "--upstream", "http://[::1"}, "--upstream"},
		{withRequired("--tls-cert", "c.pem"), "--tls-cert and --tls-key go together"},
		{withRequired("--tls-key", "k.pem"), "--tls-cert and --tls-key go together"},
		{withRequired("--external-url", "http://records.example.nhs.uk"), "plain http only on a loopback address"},
		{withRequired("--external-url", "http://10.1.2.3:8090"), "plain http only on a loopback address"},
		{withRequired("--listen", "10.1.2.3:8090"), "plain http only on a loopback address"},
		{withRequired("--external-url", "https://records.example.nhs.uk/app"), "without a path"},
		{withRequired("--external-url", "https://records.example.nhs.uk/?x"), "without a path"},
		{withRequired("--external-url", "ws://127.0.0.1:8090"), "want an http(s) origin"},
		{withRequired("--listen", "0.0.0.0:8090"), "give --external-url"},
		{withRequired("--listen", ":8090"), "give --external-url"},
		{withRequired("--listen", "[::]:8090"), "give --external-url"},
		{withRequired("--listen", "8090"), `--listen "8090"`},
		{withRequired("--cis2", "on"), `--cis2 "on": want auto or off`},
		{withRequired("--revalidate", "0s"), "--revalidate must be positive"},
		{withRequired("--revalidate", "-1m"), "--revalidate must be positive"},
		{withRequired("--revalidate", "soon"), "invalid value"},
		{withRequired("--log-level", "loud"), `--log-level "loud": want debug`},
		{withRequired("--no-such-flag"), "not defined"},
		{withRequired("extra"), `unexpected argument "extra"`},
	} {
		_, err := parseOptions(tc.args, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want a usage error with %q", tc.args, err, tc.want)
		}
	}
}

func TestOptionsAccepted(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		check func(*options) bool
	}{
		{required, func(o *options) bool {
			return o.external.String() == "http://127.0.0.1:8090" && o.upstream.String() == "http://127.0.0.1:3000" &&
				o.file.Listen == defaultListen && o.file.AgentURL == defaultAgentURL && o.file.MetricsListen == defaultMetricsListen &&
				o.file.RedisPrefix == defaultRedisPrefix && o.file.Revalidate == time.Minute && *o.file.Notify && !*o.file.SSOLogout &&
				o.cis2 == "auto" && o.logLevel == slog.LevelInfo
		}},
		// The external URL defaults from --listen, https with a certificate.
		{withRequired("--listen", "localhost:9000"), func(o *options) bool { return o.external.String() == "http://localhost:9000" }},
		{withRequired("--listen", "[::1]:9000"), func(o *options) bool { return o.external.String() == "http://[::1]:9000" }},
		{withRequired("--listen", "127.0.0.1:8443", "--tls-cert", "c.pem", "--tls-key", "k.pem"), func(o *options) bool {
			return o.external.String() == "https://127.0.0.1:8443"
		}},
		// Listening everywhere behind an https name.
		{withRequired("--listen", "0.0.0.0:8090", "--external-url", "https://records.example.nhs.uk/"), func(o *options) bool {
			return o.external.String() == "https://records.example.nhs.uk"
		}},
		{withRequired("--external-url", "http://localhost:8090"), func(o *options) bool { return o.external.String() == "http://localhost:8090" }},
		{withRequired("--upstream", "https://app.internal:8443/base"), func(o *options) bool {
			return o.upstream.String() == "https://app.internal:8443/base"
		}},
		{withRequired("--agent-url", "none"), func(o *options) bool { return o.file.AgentURL == "" }},
		{withRequired("--agent-url", "NONE"), func(o *options) bool { return o.file.AgentURL == "" }},
		{withRequired("--agent-url", "http://127.0.0.1:7555"), func(o *options) bool { return o.file.AgentURL == "http://127.0.0.1:7555" }},
		{withRequired("--metrics-listen", "off"), func(o *options) bool { return o.file.MetricsListen == "" }},
		{withRequired("--metrics-listen", "127.0.0.1:0"), func(o *options) bool { return o.file.MetricsListen == "127.0.0.1:0" }},
		{withRequired("--cis2", "off"), func(o *options) bool { return o.cis2 == off }},
		{withRequired("--cis2", "auto"), func(o *options) bool { return o.cis2 == "auto" }},
		{withRequired("--notify=false", "--sso-logout"), func(o *options) bool { return !*o.file.Notify && *o.file.SSOLogout }},
		{withRequired("--trusted-origin", "https://a.example", "--trusted-origin", "https://b.example"), func(o *options) bool {
			return slices.Equal(o.file.TrustedOrigins, []string{"https://a.example", "https://b.example"})
		}},
		{withRequired("--sp-metadata", "a.xml", "--sp-metadata", "b.xml", "--idp-key", "k", "--idp-cert", "c"), func(o *options) bool {
			return slices.Equal(o.file.SAML.SPMetadata, []string{"a.xml", "b.xml"}) && o.file.SAML.IDPKey == "k" && o.file.SAML.IDPCert == "c"
		}},
		{withRequired("--log-level", "debug", "--revalidate", "30s", "--title", "Records"), func(o *options) bool {
			return o.logLevel == slog.LevelDebug && o.file.Revalidate == 30*time.Second && o.title == "Records"
		}},
	} {
		o, err := parseOptions(tc.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !tc.check(o) {
			t.Errorf("%q: options %+v, external %v, upstream %v", tc.args, o.file, o.external, o.upstream)
		}
	}
}

// A flag given on the command line wins over the file; the file wins over
// a flag's default; relative names in the file are relative to its
// directory, whatever the working directory.
func TestOptionsFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", `
env: env.yaml
listen: 127.0.0.1:9999
upstream: http://127.0.0.1:3000
upstream_ca: ca.pem
revalidate: 30s
cookie_keys: keys/cookie
tls_cert: /etc/tls.crt
tls_key: tls.key
agent_url: none
metrics_listen: "off"
notify: false
sso_logout: true
redis_prefix: "records:"
title: From the file
cis2: "off"
log_level: debug
trusted_origins: [https://portal.example.nhs.uk]
rules:
  - path: /static/
    public: true
saml:
  idp_key: idp/key.pem
  idp_cert: idp/cert.pem
  sp_metadata: [sp/one.xml, /srv/two.xml]
`)
	o, err := parseOptions([]string{"--config", cfg, "--upstream", "http://127.0.0.1:4000", "--revalidate", "1m", "--notify", "--title", "Records"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f := o.file
	for _, c := range []struct{ name, got, want string }{
		{"upstream (flag given)", o.upstream.String(), "http://127.0.0.1:4000"},
		{"listen (file)", f.Listen, "127.0.0.1:9999"},
		{"external URL (from the file's listen, https with its certificate)", o.external.String(), "https://127.0.0.1:9999"},
		{"env (relative)", f.Env, filepath.Join(dir, "env.yaml")},
		{"upstream_ca", f.UpstreamCA, filepath.Join(dir, "ca.pem")},
		{"cookie_keys", f.CookieKeys, filepath.Join(dir, "keys/cookie")},
		{"tls_cert (absolute)", f.TLSCert, "/etc/tls.crt"},
		{"tls_key", f.TLSKey, filepath.Join(dir, "tls.key")},
		{"agent_url none", f.AgentURL, ""},
		{"metrics_listen off", f.MetricsListen, ""},
		{"redis_prefix", f.RedisPrefix, "records:"},
		{"idp_key", f.SAML.IDPKey, filepath.Join(dir, "idp/key.pem")},
		{"idp_cert", f.SAML.IDPCert, filepath.Join(dir, "idp/cert.pem")},
		{"sp_metadata", strings.Join(f.SAML.SPMetadata, " "), filepath.Join(dir, "sp/one.xml") + " /srv/two.xml"},
		{"trusted_origins", strings.Join(f.TrustedOrigins, " "), "https://portal.example.nhs.uk"},
		{"title (flag given)", o.title, "Records"},
		{"cis2 (file)", o.cis2, off},
		{"log_level (file)", o.logLevel.String(), "DEBUG"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
	if f.Revalidate != time.Minute {
		t.Errorf("revalidate %s: --revalidate 1m was given (the default's value, but given)", f.Revalidate)
	}
	if !*f.Notify || !*f.SSOLogout {
		t.Errorf("notify %v (--notify given), sso_logout %v (file)", *f.Notify, *f.SSOLogout)
	}
	if len(f.Rules) != 1 || f.Rules[0].Path != "/static/" {
		t.Errorf("rules %+v", f.Rules)
	}

	// Repeatable flags given replace the file's list; an env preset name
	// in the file stays a name.
	cfg2 := writeFile(t, dir, "preset.yaml", "env: local\nupstream: http://127.0.0.1:3000\ntrusted_origins: [https://a.example]\nsaml: {sp_metadata: [a.xml]}\n")
	o, err = parseOptions([]string{"--config", cfg2, "--trusted-origin", "https://b.example", "--sp-metadata", "b.xml", "--idp-key", "k", "--idp-cert", "c"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.file.Env != "local" || !slices.Equal(o.file.TrustedOrigins, []string{"https://b.example"}) || !slices.Equal(o.file.SAML.SPMetadata, []string{"b.xml"}) {
		t.Errorf("env %q, origins %q, SPs %q", o.file.Env, o.file.TrustedOrigins, o.file.SAML.SPMetadata)
	}
	// The flags' defaults where the file is silent.
	if o.file.Listen != defaultListen || o.file.Revalidate != time.Minute || !*o.file.Notify {
		t.Errorf("defaults: %+v", o.file)
	}
}

// Every flag but --config is also a key of the file (docs/cis-proxy.md).
func TestOptionsEveryFlagInTheFile(t *testing.T) {
	var o options
	var v flagValues
	fs := newFlagSet(io.Discard, &o, &v)
	var f proxy.File
	keys := fileKeys(f)
	aliases := map[string]string{"trusted_origin": "trusted_origins", "idp_key": "saml.idp_key", "idp_cert": "saml.idp_cert", "sp_metadata": "saml.sp_metadata"}
	fs.VisitAll(func(fl *flagDef) {
		if fl.Name == "config" {
			return
		}
		key := strings.ReplaceAll(fl.Name, "-", "_")
		if a, ok := aliases[key]; ok {
			key = a
		}
		if !keys[key] {
			t.Errorf("flag --%s has no key %q in the configuration file", fl.Name, key)
		}
	})
}

// A file that cannot be used stops the command with an error naming it:
// exit status 1 (a usage error is 2).
func TestOptionsBadFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown.yaml", "upstream: http://127.0.0.1:3000\nlisten_addr: 127.0.0.1:1\n", "field listen_addr not found"},
		{"misspelt-rule.yaml", "rules:\n  - path: /admin/\n    activity: [B0264]\n", "field activity not found"},
		{"bad-code.yaml", "rules:\n  - path: /admin/\n    activities: [B0264, B-264]\n", `rules[0] (path "/admin/"): activities`},
		{"bad-job-role.yaml", "rules:\n  - path: /a/\n  - path: /admin/\n    job_roles: [\"S1:G2\"]\n", `rules[1] (path "/admin/"): job_roles`},
		{"bad-path.yaml", "rules:\n  - path: admin\n", `rules[0] (path "admin")`},
		{"public-and-more.yaml", "rules:\n  - path: /a/\n    public: true\n    orgs: [RCJ]\n", "a public rule cannot"},
		{"twice.yaml", "rules:\n  - path: /a/\n  - path: /A/\n", "rules[1]"},
		{"yaml.yaml", "rules: [\n", "yaml"},
		{"two-docs.yaml", "env: local\n---\nenv: dev\n", "more than one YAML document"},
	} {
		p := writeFile(t, dir, tc.name, tc.body)
		args := withRequired("--config", p)
		_, err := parseOptions(args, io.Discard)
		if err == nil || !errors.Is(err, proxy.ErrFile) || errors.Is(err, errUsage) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming the file and %q", tc.name, err, tc.want)
			continue
		}
		var stderr bytes.Buffer
		if code := run(context.Background(), args, &stderr, nil, nil); code != 1 || !strings.Contains(stderr.String(), p) {
			t.Errorf("%s: exit %d, %q", tc.name, code, stderr.String())
		}
	}
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := parseOptions(withRequired("--config", missing), io.Discard); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}

// Exit status: 2 and the reason for a usage error, 0 for --help, 1 for a
// proxy that cannot start.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "cis-proxy: usage: --env is required"},
		{withRequired("--cis2", "on"), 2, "want auto or off"},
		{withRequired("--bogus"), 2, "flag provided but not defined: -bogus"},
		{[]string{"--help"}, 0, "-upstream URL"},
		{[]string{"--help"}, 0, "usage: cis-proxy --env NAME|FILE --upstream URL"},
		{[]string{"--env", filepath.Join(t.TempDir(), "none.yaml"), "--upstream", "http://127.0.0.1:3000", "--metrics-listen", "off", "--listen", "127.0.0.1:0"}, 1, "none.yaml"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tc.args, &stderr, nil, nil); code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

type flagDef = flag.Flag

// fileKeys lists the YAML keys of a configuration file, nested ones as
// "parent.key".
func fileKeys(v any) map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			keys[prefix+name] = true
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(f.Type, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeOf(v), "")
	return keys
}
