package cis

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// OIDCSettings describe a CIS2 (OpenID Connect) provider and this
// application's registration with it: the environment's `oidc` block.
// Package cis only holds and checks them; package cis/cis2 is the relying
// party that uses them (cis imports nothing of OpenID Connect).
//
// Secrets are never held here, only the names of the files that hold them,
// so an Environment can be printed and logged.
type OIDCSettings struct {
	// Issuer is the provider's issuer URL, compared exactly with the
	// discovery document and every ID token (CIS2's include ":443").
	// Empty means the environment has no CIS2 provider.
	Issuer string
	// ClientID is this application's client id at the provider, e.g.
	// "999999999999.apps.national". Presets leave it empty: the
	// application's configuration supplies it (see package cis2).
	ClientID string
	// ClientSecretFile names a file holding the client secret
	// (client_secret_basic). KeyFile names a PEM private key (PKCS#8,
	// PKCS#1 or SEC 1) for private_key_jwt. At most one of the two.
	ClientSecretFile, KeyFile string
	// KeyID is the "kid" put in private_key_jwt client assertions, if the
	// provider wants one.
	KeyID string
	// RedirectURL is this application's registered callback URL.
	RedirectURL string
	// PostLogoutRedirectURL is where the provider sends the browser after
	// an RP-initiated logout (optional; registered with the provider).
	PostLogoutRedirectURL string
	// Scopes asked for; empty means cis2.DefaultScopes. Must hold "openid".
	Scopes []string
	// ACRValues sent as acr_values; empty means cis2.DefaultACRValues.
	ACRValues []string
	// AMR lists the authentication methods the ID token's amr must name one
	// of; empty means cis2.SmartcardAMR; the single value "*" accepts any.
	AMR []string
	// Roots are the certificate authorities the provider's TLS certificate
	// must chain to. Empty means the system roots (CIS2 hosts are on the
	// public internet with publicly trusted certificates); never
	// unverified.
	Roots []*x509.Certificate
}

// Enabled reports whether the settings name a provider.
func (o OIDCSettings) Enabled() bool { return o.Issuer != "" }

// Clone returns a copy that shares no slice with o.
func (o OIDCSettings) Clone() OIDCSettings {
	o.Scopes = slices.Clone(o.Scopes)
	o.ACRValues = slices.Clone(o.ACRValues)
	o.AMR = slices.Clone(o.AMR)
	o.Roots = slices.Clone(o.Roots)
	return o
}

// Check reports whether the settings are usable as far as they go: the
// issuer and the redirect URLs are https (plain http only to a loopback
// host), at most one client credential file, "openid" among the scopes,
// and no white space inside a scope, acr or amr value. A missing client
// id or redirect URL is not an error here (presets have neither); the
// relying party requires them.
func (o OIDCSettings) Check() error {
	if err := checkBaseURL(o.Issuer); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	for what, u := range map[string]string{"redirect_url": o.RedirectURL, "post_logout_redirect_url": o.PostLogoutRedirectURL} {
		if u == "" {
			continue
		}
		if err := checkBaseURL(u); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if o.ClientSecretFile != "" && o.KeyFile != "" {
		return errors.New("give client_secret_file or key_file, not both")
	}
	if len(o.Scopes) > 0 && !slices.Contains(o.Scopes, "openid") {
		return errors.New(`scopes: "openid" is required`)
	}
	for what, vs := range map[string][]string{"scopes": o.Scopes, "acr_values": o.ACRValues, "amr": o.AMR} {
		for _, v := range vs {
			if v == "" || strings.ContainsAny(v, " \t\r\n\"\\") || len(v) > 256 {
				return fmt.Errorf("%s: bad value %q", what, v)
			}
		}
	}
	if slices.Contains(o.AMR, "*") && len(o.AMR) > 1 {
		return errors.New(`amr: "*" (any method) stands alone`)
	}
	if strings.ContainsAny(o.ClientID, " \t\r\n:") {
		return fmt.Errorf("client_id %q: no white space or colon", o.ClientID)
	}
	return nil
}

// TLSConfig returns a client TLS configuration that verifies the provider
// against Roots, or the system roots when Roots is empty; TLS 1.2+.
func (o OIDCSettings) TLSConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(o.Roots) > 0 {
		c.RootCAs = x509.NewCertPool()
		for _, r := range o.Roots {
			c.RootCAs.AddCert(r)
		}
	}
	return c
}

// NewHTTPClient returns an HTTP client for the provider: TLS verified as
// TLSConfig says, no proxy from the environment, no redirects followed,
// every request bounded by timeout (DefaultTimeout if zero).
func (o OIDCSettings) NewHTTPClient(timeout time.Duration) *http.Client {
	return newHTTPClient(o.TLSConfig(), timeout)
}

// Presets for the CIS2 issuers (shared/spec/cis2.md). The issuer strings
// carry ":443" exactly as the ID tokens do.
const (
	CIS2IssuerLive = "https://am.nhsidentity.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
	CIS2IssuerInt  = "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare"
	CIS2IssuerDev  = "https://am.nhsdev.auth-ptl.cis2.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/oidc"
)

// cis2Preset returns the CIS2-only environment called name, if it is one.
func cis2Preset(name string) (Environment, bool) {
	issuer := map[string]string{"cis2-dev": CIS2IssuerDev, "cis2-int": CIS2IssuerInt, "cis2-live": CIS2IssuerLive}[name]
	if issuer == "" {
		return Environment{}, false
	}
	return Environment{Name: name, OIDC: OIDCSettings{Issuer: issuer}}, true
}

// OIDCEntry is the `oidc` block of an environment file:
//
//	oidc:
//	  issuer: https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443/openam/oauth2/realms/root/realms/NHSIdentity/realms/Healthcare
//	  client_id: 999999999999.apps.national
//	  client_secret_file: cis2-secret.txt   # or key_file: cis2-key.pem (private_key_jwt)
//	  redirect_url: https://app.example.nhs.uk/cis/oidc/callback
//	  scopes: [openid, profile, nationalrbacaccess, associatedorgs, selectedrole]
//	  acr_values: [AAL3_ANY]
//	  amr: [N3_SMARTCARD]
//	  trust_anchors: []                     # empty: the system roots
//
// File names are relative to the environment file.
type OIDCEntry struct {
	Issuer                string             `yaml:"issuer"`
	ClientID              string             `yaml:"client_id,omitempty"`
	ClientSecretFile      string             `yaml:"client_secret_file,omitempty"`
	KeyFile               string             `yaml:"key_file,omitempty"`
	KeyID                 string             `yaml:"key_id,omitempty"`
	RedirectURL           string             `yaml:"redirect_url,omitempty"`
	PostLogoutRedirectURL string             `yaml:"post_logout_redirect_url,omitempty"`
	Scopes                []string           `yaml:"scopes,omitempty"`
	ACRValues             []string           `yaml:"acr_values,omitempty"`
	AMR                   []string           `yaml:"amr,omitempty"`
	TrustAnchors          []TrustAnchorEntry `yaml:"trust_anchors,omitempty"`
}

// parseOIDCEntry turns the file's block into settings; relative file names
// are taken relative to dir.
func parseOIDCEntry(e *OIDCEntry, dir string) (OIDCSettings, error) {
	o := OIDCSettings{
		Issuer: e.Issuer, ClientID: e.ClientID, KeyID: e.KeyID,
		RedirectURL: e.RedirectURL, PostLogoutRedirectURL: e.PostLogoutRedirectURL,
		Scopes: e.Scopes, ACRValues: e.ACRValues, AMR: e.AMR,
		ClientSecretFile: relativeTo(dir, e.ClientSecretFile), KeyFile: relativeTo(dir, e.KeyFile),
	}
	roots, err := parseTrustAnchors(e.TrustAnchors, dir)
	if err != nil {
		return OIDCSettings{}, fmt.Errorf("oidc: %w", err)
	}
	o.Roots = roots
	if err := o.Check(); err != nil {
		return OIDCSettings{}, fmt.Errorf("oidc: %w", err)
	}
	return o, nil
}

func relativeTo(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// oidcEntry is the inverse of parseOIDCEntry, with trust anchors inline.
func oidcEntry(o OIDCSettings) *OIDCEntry {
	if !o.Enabled() {
		return nil
	}
	e := &OIDCEntry{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecretFile: o.ClientSecretFile, KeyFile: o.KeyFile,
		KeyID: o.KeyID, RedirectURL: o.RedirectURL, PostLogoutRedirectURL: o.PostLogoutRedirectURL,
		Scopes: o.Scopes, ACRValues: o.ACRValues, AMR: o.AMR,
	}
	for _, c := range o.Roots {
		e.TrustAnchors = append(e.TrustAnchors, TrustAnchorEntry{PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))})
	}
	return e
}
