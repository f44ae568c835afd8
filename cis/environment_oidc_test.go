package cis

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCIS2Presets(t *testing.T) {
	want := map[string]string{
		"cis2-dev":  "https://am.nhsdev.auth-ptl.cis2.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/oidc",
		"cis2-int":  "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
		"cis2-live": "https://am.nhsidentity.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare",
	}
	for name, issuer := range want {
		env, err := ResolveEnvironment(name)
		if err != nil {
			t.Fatal(err)
		}
		if env.Name != name || env.OIDC.Issuer != issuer || env.GASURL != "" || env.SSBURL != "" {
			t.Errorf("%s: %+v", name, env)
		}
		if len(env.OIDC.Roots) != 0 || env.OIDC.TLSConfig().RootCAs != nil {
			t.Errorf("%s: a CIS2 preset verifies against the system roots", name)
		}
		if err := env.Check(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !slices.Contains(PresetNames(), name) {
			t.Errorf("%s missing from PresetNames", name)
		}
		// An OIDC-only environment starts no legacy client.
		if _, err := NewGASClient(GASConfig{Env: env}); err == nil {
			t.Errorf("%s: GAS client without a GAS URL", name)
		}
		if _, err := NewSSBClient(SSBConfig{Env: env}); err == nil {
			t.Errorf("%s: SSB client without an SSB URL", name)
		}
	}
}

func TestParseEnvironmentOIDC(t *testing.T) {
	dir := t.TempDir()
	root, err := devCerts.ReadFile("certs/nhs-ptl-root-authority.pem")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM := strings.ReplaceAll(strings.TrimSpace(string(root)), "\n", `\n`)
	doc := `name: both
gas_url: https://gas.example
ssb_url: https://ssb.example
trust_anchors:
  - pem: "` + rootPEM + `"
oidc:
  issuer: https://am.example:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare
  client_id: 999999999999.apps.national
  key_file: keys/client.pem
  key_id: k1
  redirect_url: https://app.example/cis/oidc/callback
  post_logout_redirect_url: https://app.example/
  scopes: [openid, profile]
  acr_values: [AAL3_ANY]
  amr: [N3_SMARTCARD]
  trust_anchors:
    - pem: "` + rootPEM + `"
`
	env, err := ParseEnvironment([]byte(doc), dir)
	if err != nil {
		t.Fatal(err)
	}
	o := env.OIDC
	if o.ClientID != "999999999999.apps.national" || o.KeyFile != filepath.Join(dir, "keys/client.pem") || o.KeyID != "k1" ||
		o.RedirectURL != "https://app.example/cis/oidc/callback" || len(o.Roots) != 1 || !slices.Equal(o.Scopes, []string{"openid", "profile"}) ||
		!slices.Equal(o.AMR, []string{"N3_SMARTCARD"}) || o.PostLogoutRedirectURL != "https://app.example/" {
		t.Fatalf("%+v", o)
	}
	if env.OIDC.TLSConfig().RootCAs == nil {
		t.Error("named anchors are not used")
	}
	// Round trip through the form cis-sim writes.
	b, err := env.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseEnvironment(b, "/elsewhere")
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if again.OIDC.Issuer != o.Issuer || again.OIDC.KeyFile != o.KeyFile || len(again.OIDC.Roots) != 1 || again.OIDC.ClientID != o.ClientID {
		t.Errorf("round trip: %+v", again.OIDC)
	}
	// The copy shares nothing.
	c := o.Clone()
	c.Scopes[0] = "x"
	if o.Scopes[0] != "openid" {
		t.Error("Clone shares Scopes")
	}

	// OIDC only: no gas_url, ssb_url or top-level anchors needed.
	only, err := ParseEnvironment([]byte("name: c\noidc:\n  issuer: http://127.0.0.1:7443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare\n  client_secret_file: s.txt\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if only.OIDC.ClientSecretFile != filepath.Join(dir, "s.txt") {
		t.Errorf("secret file %q", only.OIDC.ClientSecretFile)
	}
}

func TestParseEnvironmentOIDCErrors(t *testing.T) {
	const iss = "https://am.example/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
	tests := map[string]string{
		"no issuer":              "name: x\noidc:\n  client_id: a\n",
		"plain http remote":      "name: x\noidc:\n  issuer: http://am.example/openam\n",
		"secret and key":         "name: x\noidc:\n  issuer: " + iss + "\n  client_secret_file: a\n  key_file: b\n",
		"no openid scope":        "name: x\noidc:\n  issuer: " + iss + "\n  scopes: [profile]\n",
		"space in acr":           "name: x\noidc:\n  issuer: " + iss + "\n  acr_values: [\"AAL3 ANY\"]\n",
		"amr star and more":      "name: x\noidc:\n  issuer: " + iss + "\n  amr: [\"*\", N3_SMARTCARD]\n",
		"redirect plain http":    "name: x\noidc:\n  issuer: " + iss + "\n  redirect_url: http://app.example/cb\n",
		"redirect with fragment": "name: x\noidc:\n  issuer: " + iss + "\n  redirect_url: https://app.example/cb#x\n",
		"unknown key":            "name: x\noidc:\n  issuer: " + iss + "\n  client_secret: inline\n",
		"colon in client id":     "name: x\noidc:\n  issuer: " + iss + "\n  client_id: a:b\n",
		"missing anchor file":    "name: x\noidc:\n  issuer: " + iss + "\n  trust_anchors:\n    - file: nope.pem\n",
		"half legacy":            "name: x\ngas_url: http://127.0.0.1\noidc:\n  issuer: " + iss + "\n",
	}
	for name, doc := range tests {
		if _, err := ParseEnvironment([]byte(doc), t.TempDir()); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	// Plain http to a loopback issuer is fine (the simulator with --http).
	if _, err := ParseEnvironment([]byte("name: x\noidc:\n  issuer: http://localhost:7443/openam\n"), ""); err != nil {
		t.Error(err)
	}
}
