package main

import (
	"fmt"
	"slices"

	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/middleware/samlidp"
)

// newIdP builds the SAML bridge from the settings in effect, checked by
// options.check: nil when it is off, which the log says.
func (in *instance) newIdP() (*samlidp.IdP, error) {
	s := in.o.file.SAML
	if s.IDPKey == "" { // all three or none: options.check
		in.log.Info("SAML bridge off: give --idp-key, --idp-cert and --sp-metadata to turn it on")
		return nil, nil
	}
	key, cert, err := samlidp.LoadKeyPair(s.IDPKey, s.IDPCert)
	if err != nil {
		return nil, fmt.Errorf("SAML bridge: %w", err)
	}
	var sps []*samlidp.ServiceProvider
	for _, p := range s.SPMetadata {
		sp, err := samlidp.LoadServiceProvider(p)
		if err != nil {
			return nil, fmt.Errorf("SAML bridge: %w", err)
		}
		sps = append(sps, sp)
	}
	idp, err := samlidp.New(samlidp.Config{
		ExternalURL: in.o.external.String(), Key: key, Certificate: cert, ServiceProviders: sps,
		Identity: proxy.SAMLIdentity, Login: proxy.SAMLLogin,
		AssertionLifetime: in.o.file.Revalidate, Logger: in.log,
	})
	if err != nil {
		return nil, fmt.Errorf("SAML bridge: %w", err)
	}
	in.log.Info("SAML bridge on", "entity_id", idp.EntityID(), "service_providers", len(sps))
	return idp, nil
}

// reload reads --config again and puts its rules and SAML bridge in
// place. Requests in flight finish under the old ones; connections stay
// open. A file that does not load, or whose rules or bridge do not build,
// changes nothing: the log says why. Settings that only a restart can
// change (addresses, environment, Redis, cookies) are logged if they
// differ, and left as they are.
func (in *instance) reload() {
	if in.o.configPath == "" {
		in.log.Info("reload: no --config to reload")
		return
	}
	cur := in.o
	failed := func(err error) {
		in.log.Error("reload failed: keeping the running configuration", "config", cur.configPath, "error", err)
	}
	f, err := proxy.LoadFile(cur.configPath)
	if err != nil {
		failed(err)
		return
	}
	next := *cur
	next.file = overlay(*f, cur.flags, cur.set)
	if err := next.check(); err != nil {
		failed(err)
		return
	}
	rules, err := proxy.CompileRules(next.file.Rules)
	if err != nil {
		failed(err)
		return
	}
	if changed := restartOnly(cur.file, next.file); len(changed) > 0 {
		in.log.Warn("reload: these settings change only with a restart; running on with the old values", "settings", changed)
		next.file = keepRestartOnly(cur.file, next.file)
	}
	// The running URLs, always: check derived them again, without the
	// port a --listen with port 0 was given (options.listening).
	next.external, next.upstream = cur.external, cur.upstream
	in.o = &next
	idp, err := in.newIdP()
	if err != nil {
		in.o = cur
		failed(err)
		return
	}
	in.px.SetRules(rules)
	in.px.SetSAML(idp)
	in.log.Info("reloaded", "config", in.o.configPath, "rules", rules.Len(), "saml", idp != nil)
}

// restartOnly names the settings that differ between a and b and that a
// reload does not change.
func restartOnly(a, b proxy.File) []string {
	var out []string
	diff := func(name string, x, y string) {
		if x != y {
			out = append(out, name)
		}
	}
	diff("listen", a.Listen, b.Listen)
	diff("upstream", a.Upstream, b.Upstream)
	diff("upstream_ca", a.UpstreamCA, b.UpstreamCA)
	diff("external_url", a.ExternalURL, b.ExternalURL)
	diff("env", a.Env, b.Env)
	diff("tls_cert", a.TLSCert, b.TLSCert)
	diff("tls_key", a.TLSKey, b.TLSKey)
	diff("redis", a.Redis, b.Redis)
	diff("redis_prefix", a.RedisPrefix, b.RedisPrefix)
	diff("cookie_keys", a.CookieKeys, b.CookieKeys)
	diff("agent_url", a.AgentURL, b.AgentURL)
	diff("metrics_listen", a.MetricsListen, b.MetricsListen)
	diff("cis2", a.CIS2, b.CIS2)
	diff("title", a.Title, b.Title)
	diff("log_level", a.LogLevel, b.LogLevel)
	if a.Revalidate != b.Revalidate {
		out = append(out, "revalidate")
	}
	if *a.Notify != *b.Notify {
		out = append(out, "notify")
	}
	if *a.SSOLogout != *b.SSOLogout {
		out = append(out, "sso_logout")
	}
	if !slices.Equal(a.TrustedOrigins, b.TrustedOrigins) {
		out = append(out, "trusted_origins")
	}
	return out
}

// keepRestartOnly is b with a's restart-only settings.
func keepRestartOnly(a, b proxy.File) proxy.File {
	a.Rules, a.SAML = b.Rules, b.SAML
	return a
}
