package cissim

import (
	"bytes"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/pemfile"
)

// OIDCClient is a relying party registered with the simulator's provider.
type OIDCClient struct {
	// ID is the client id, e.g. "999999999999.apps.national".
	ID string
	// Secret authenticates the client with client_secret_basic or
	// client_secret_post. Empty if it uses PublicKeys.
	Secret string
	// PublicKeys verify its private_key_jwt client assertions (RSA,
	// ECDSA or Ed25519).
	PublicKeys []crypto.PublicKey
	// RedirectURIs are the only URIs codes are sent to (exact match).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the only URIs the end-session endpoint
	// sends a browser back to.
	PostLogoutRedirectURIs []string
}

// Limits on client registrations.
const (
	maxClientText  = 2048
	maxClientURIs  = 100
	maxClientKeys  = 10
	maxClients     = 10_000
	maxClientsFile = 1 << 20
)

// ParseOIDCClientFlag parses the --oidc-client flag's ID:SECRET:REDIRECT_URI
// (the redirect URI may itself hold colons; the id and secret may not).
func ParseOIDCClientFlag(v string) (OIDCClient, error) {
	id, rest, ok1 := strings.Cut(v, ":")
	secret, redirect, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || id == "" || secret == "" || redirect == "" {
		return OIDCClient{}, errors.New("want ID:SECRET:REDIRECT_URI")
	}
	c := OIDCClient{ID: id, Secret: secret, RedirectURIs: []string{redirect}}
	return c, c.check()
}

// check validates a registration.
func (c *OIDCClient) check() error {
	if c.ID == "" || len(c.ID) > 256 || strings.ContainsAny(c.ID, " \t\r\n:") || !printable(c.ID) {
		return fmt.Errorf("client id %q: want up to 256 printable characters, no white space or colon", c.ID)
	}
	if c.Secret == "" && len(c.PublicKeys) == 0 {
		return fmt.Errorf("client %s: give a secret or a public key", c.ID)
	}
	if len(c.Secret) > maxClientText || !printable(c.Secret) {
		return fmt.Errorf("client %s: secret: up to %d printable characters", c.ID, maxClientText)
	}
	if len(c.PublicKeys) > maxClientKeys {
		return fmt.Errorf("client %s: more than %d keys", c.ID, maxClientKeys)
	}
	if len(c.RedirectURIs) == 0 {
		return fmt.Errorf("client %s: no redirect URI", c.ID)
	}
	if len(c.RedirectURIs)+len(c.PostLogoutRedirectURIs) > maxClientURIs {
		return fmt.Errorf("client %s: more than %d URIs", c.ID, maxClientURIs)
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
		if err := checkOIDCURL(u); err != nil {
			return fmt.Errorf("client %s: %w", c.ID, err)
		}
	}
	return nil
}

// checkOIDCURL accepts an absolute https URL, or http to a loopback host,
// with no fragment or user info, as OAuth wants redirect URIs.
func checkOIDCURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case len(s) > maxClientText || err != nil || u.Host == "" || u.Fragment != "" || u.User != nil || !printable(s):
		return fmt.Errorf("URI %q: want an absolute URL with no fragment or user info", s)
	case u.Scheme == "https", u.Scheme == "http" && cis.IsLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("URI %q: want https, or http to a loopback host", s)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// clientRegistry holds the registered clients.
type clientRegistry struct {
	mu sync.RWMutex
	m  map[string]*OIDCClient
}

// add registers c; a client with c's id already registered must have the
// same credentials, and gains c's URIs.
func (r *clientRegistry) add(c OIDCClient) error {
	if err := c.check(); err != nil {
		return fmt.Errorf("cissim: OIDC %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]*OIDCClient)
	}
	old, ok := r.m[c.ID]
	if !ok {
		if len(r.m) >= maxClients {
			return fmt.Errorf("cissim: more than %d OIDC clients", maxClients)
		}
		cp := c
		cp.PublicKeys = slices.Clone(c.PublicKeys)
		cp.RedirectURIs = slices.Clone(c.RedirectURIs)
		cp.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
		r.m[c.ID] = &cp
		return nil
	}
	if old.Secret != c.Secret || len(c.PublicKeys) > 0 {
		return fmt.Errorf("cissim: OIDC client %s registered twice with different credentials", c.ID)
	}
	merged := *old
	merged.RedirectURIs = appendNew(slices.Clone(old.RedirectURIs), c.RedirectURIs)
	merged.PostLogoutRedirectURIs = appendNew(slices.Clone(old.PostLogoutRedirectURIs), c.PostLogoutRedirectURIs)
	if err := merged.check(); err != nil {
		return fmt.Errorf("cissim: OIDC %w", err)
	}
	r.m[c.ID] = &merged
	return nil
}

func appendNew(dst, src []string) []string {
	for _, s := range src {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// get returns the client with id, or nil. The result must not be changed.
func (r *clientRegistry) get(id string) *OIDCClient {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.m[id]
}

// secretMatches compares a presented secret in constant time.
func (c *OIDCClient) secretMatches(s string) bool {
	return c.Secret != "" && subtle.ConstantTimeCompare([]byte(c.Secret), []byte(s)) == 1
}

// clientsFile is the YAML form of --oidc-clients:
//
//	clients:
//	  - id: 999999999999.apps.national
//	    secret: s3cret                  # client_secret_basic / _post
//	    public_key_file: client.pub.pem # or: private_key_jwt (PUBLIC KEY or CERTIFICATE PEM)
//	    redirect_uris: [https://app.example/cis/oidc/callback]
//	    post_logout_redirect_uris: [https://app.example/]
type clientsFile struct {
	Clients []clientEntry `yaml:"clients"`
}

type clientEntry struct {
	ID                     string   `yaml:"id"`
	Secret                 string   `yaml:"secret,omitempty"`
	PublicKeyFile          string   `yaml:"public_key_file,omitempty"`
	PublicKeyPEM           string   `yaml:"public_key_pem,omitempty"`
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris,omitempty"`
}

// LoadOIDCClients reads a clients file (YAML; see docs/cis-sim.md).
func LoadOIDCClients(path string) ([]OIDCClient, error) {
	b, err := pemfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cissim: OIDC clients file: %w", err)
	}
	cs, err := ParseOIDCClients(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("cissim: %s: %w", path, err)
	}
	return cs, nil
}

// ParseOIDCClients parses a clients file's contents; public key files are
// taken relative to dir. Unknown keys, anchors and aliases are errors.
func ParseOIDCClients(b []byte, dir string) ([]OIDCClient, error) {
	if len(b) > maxClientsFile {
		return nil, fmt.Errorf("larger than %d bytes", maxClientsFile)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	if err := (usersParser{file: "clients"}).checkDepth(&root, 0); err != nil {
		return nil, err
	}
	var f clientsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if len(f.Clients) > maxClients {
		return nil, fmt.Errorf("more than %d clients", maxClients)
	}
	var out []OIDCClient
	for i, e := range f.Clients {
		c := OIDCClient{ID: e.ID, Secret: e.Secret, RedirectURIs: e.RedirectURIs, PostLogoutRedirectURIs: e.PostLogoutRedirectURIs}
		var keyPEM []byte
		switch {
		case e.PublicKeyFile != "" && e.PublicKeyPEM != "":
			return nil, fmt.Errorf("clients[%d]: give public_key_file or public_key_pem, not both", i)
		case e.PublicKeyFile != "":
			p := e.PublicKeyFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			var err error
			if keyPEM, err = pemfile.ReadFile(p); err != nil {
				return nil, fmt.Errorf("clients[%d]: %w", i, err)
			}
		case e.PublicKeyPEM != "":
			keyPEM = []byte(e.PublicKeyPEM)
		}
		if keyPEM != nil {
			k, err := parsePublicKeyPEM(keyPEM)
			if err != nil {
				return nil, fmt.Errorf("clients[%d]: public key: %w", i, err)
			}
			c.PublicKeys = []crypto.PublicKey{k}
		}
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("clients[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// parsePublicKeyPEM reads the first PUBLIC KEY or CERTIFICATE block.
func parsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return nil, errors.New("no PUBLIC KEY or CERTIFICATE PEM block")
		}
		switch blk.Type {
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(blk.Bytes)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, err
			}
			return c.PublicKey, nil
		}
	}
}
