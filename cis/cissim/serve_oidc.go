package cissim

import (
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencis/cisauth/internal/pemfile"
)

// The CIS2 provider's files in the state directory and its demo client.
const (
	OIDCKeyFile         = "oidc-signing-key.pem"          // ID token signing key, PKCS#8, 0600
	OIDCPreviousKeyFile = "oidc-signing-key.previous.pem" // the key before the last rotation, still in the JWKS
	OIDCDemoSecretFile  = "oidc-demo-client-secret"       // the demo client's secret, 0600
	// OIDCDemoClientID is the client cis-sim registers unless told not to;
	// env.yaml's oidc block names it.
	OIDCDemoClientID = "cis-sim-demo.apps.national"
)

// DefaultOIDCDemoRedirectURIs are the demo client's redirect URIs unless
// configured: the middleware's callback on the example app's port.
func DefaultOIDCDemoRedirectURIs() []string {
	return []string{"http://127.0.0.1:8080/cis/oidc/callback", "http://localhost:8080/cis/oidc/callback"}
}

// LoadOrCreateOIDCKeys returns the provider's signing key from stateDir,
// creating an RSA-2048 key if there is none, and the previous key if one is
// kept. With rotate, the current key becomes the previous one (the one
// before is dropped) and a new key is made: relying parties find it in the
// JWKS by its kid, and tokens signed with the old key still verify until
// the next rotation.
func LoadOrCreateOIDCKeys(stateDir string, rotate bool) (current crypto.Signer, previous []crypto.Signer, err error) {
	if err := EnsureStateDir(stateDir); err != nil {
		return nil, nil, err
	}
	cur, prev := filepath.Join(stateDir, OIDCKeyFile), filepath.Join(stateDir, OIDCPreviousKeyFile)
	current, err = readKey(cur)
	switch {
	case errors.Is(err, os.ErrNotExist):
		current = nil
	case err != nil:
		return nil, nil, err
	}
	if current == nil || rotate {
		if current != nil {
			if err := writeKey(prev, current); err != nil {
				return nil, nil, err
			}
		}
		if current, err = GenerateOIDCKey(); err != nil {
			return nil, nil, err
		}
		if err := writeKey(cur, current); err != nil {
			return nil, nil, err
		}
	}
	p, err := readKey(prev)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, nil, err
	default:
		previous = []crypto.Signer{p}
	}
	return current, previous, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := pemfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := pemfile.ParsePrivateKey(b)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("cissim: %s: %w", path, err)
	}
	return k, nil
}

// DemoOIDCClient returns the demo client with the given redirect URIs
// (DefaultOIDCDemoRedirectURIs if none) and, as post-logout redirect URIs,
// their origins with path "/". Its secret is kept in stateDir
// (OIDCDemoSecretFile), made at random the first time.
func DemoOIDCClient(stateDir string, redirects []string) (OIDCClient, error) {
	if len(redirects) == 0 {
		redirects = DefaultOIDCDemoRedirectURIs()
	}
	p := filepath.Join(stateDir, OIDCDemoSecretFile)
	b, err := pemfile.ReadFile(p)
	secret := strings.TrimSpace(string(b))
	switch {
	case errors.Is(err, os.ErrNotExist) || (err == nil && secret == ""):
		if _, secret, err = newOpaque(); err != nil {
			return OIDCClient{}, err
		}
		if err := writeFileAtomic(p, []byte(secret+"\n"), 0o600); err != nil {
			return OIDCClient{}, err
		}
	case err != nil:
		return OIDCClient{}, fmt.Errorf("cissim: demo client secret: %w", err)
	}
	c := OIDCClient{ID: OIDCDemoClientID, Secret: secret, RedirectURIs: redirects}
	for _, r := range redirects {
		if i := strings.Index(r, "://"); i >= 0 {
			if j := strings.IndexByte(r[i+3:], '/'); j >= 0 {
				c.PostLogoutRedirectURIs = appendNew(c.PostLogoutRedirectURIs, []string{r[:i+3+j] + "/"})
			}
		}
	}
	return c, c.check()
}
