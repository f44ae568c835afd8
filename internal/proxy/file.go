package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opencis/cisauth/cis"
)

// ErrFile is matched (errors.Is) by every error ParseFile and LoadFile
// return for a configuration file that cannot be used.
var ErrFile = errors.New("cis-proxy configuration")

// MaxFileSize bounds a configuration file.
const MaxFileSize = 1 << 20

// File is cis-proxy's configuration file (YAML). Every key is optional; a
// flag given on the command line wins over the same key here. Unknown keys
// are refused, so that a misspelt rule cannot silently protect nothing.
//
//	upstream: http://127.0.0.1:3000
//	external_url: https://records.example.nhs.uk
//	env: dev
//	rules:
//	  - path: /static/
//	    public: true
//	  - path: /records/
//	    activities: [B0264]
//	  - path: /admin/
//	    job_roles: [R8000]
//	saml:
//	  idp_key: idp-key.pem
//	  idp_cert: idp-cert.pem
//	  sp_metadata: [sp1.xml]
//
// Relative file names are relative to the file's directory.
type File struct {
	Listen         string        `yaml:"listen"`
	Upstream       string        `yaml:"upstream"`
	UpstreamCA     string        `yaml:"upstream_ca"`
	ExternalURL    string        `yaml:"external_url"`
	Env            string        `yaml:"env"`
	Revalidate     time.Duration `yaml:"revalidate"`
	TLSCert        string        `yaml:"tls_cert"`
	TLSKey         string        `yaml:"tls_key"`
	Redis          string        `yaml:"redis"`
	RedisPrefix    string        `yaml:"redis_prefix"`
	CookieKeys     string        `yaml:"cookie_keys"`
	AgentURL       string        `yaml:"agent_url"`
	MetricsListen  string        `yaml:"metrics_listen"`
	Notify         *bool         `yaml:"notify"`
	SSOLogout      *bool         `yaml:"sso_logout"`
	TrustedOrigins []string      `yaml:"trusted_origins"`
	CIS2           string        `yaml:"cis2"`      // auto or off
	Title          string        `yaml:"title"`     // the application's name on the login page
	LogLevel       string        `yaml:"log_level"` // debug, info, warn, error
	// Rules say who may reach which paths (see Rule); paths no rule
	// matches need a CIS session and nothing more.
	Rules []Rule   `yaml:"rules"`
	SAML  SAMLFile `yaml:"saml"`
}

// SAMLFile configures the SAML 2.0 identity provider bridge. The bridge is
// on when IDPKey, IDPCert and at least one SPMetadata are given.
type SAMLFile struct {
	IDPKey     string   `yaml:"idp_key"`
	IDPCert    string   `yaml:"idp_cert"`
	SPMetadata []string `yaml:"sp_metadata"`
}

// Rule guards the paths under Path. A request is checked against the one
// rule whose Path matches it longest (see Rules); within a rule every
// condition given must hold.
type Rule struct {
	// Path is a path ending in "/" (it and every path under it) or an exact
	// path. Matching ignores ASCII case, because some upstreams do.
	Path string `yaml:"path"`
	// Public lets requests without a session through (a session, if any,
	// is still forwarded). It excludes the conditions below.
	Public bool `yaml:"public"`
	// Activities must all be in the selected role.
	Activities []string `yaml:"activities"`
	// AnyActivities: at least one must be in the selected role.
	AnyActivities []string `yaml:"any_activities"`
	// JobRoles: the selected role's job role must be one of these (a full
	// code "S8000:G8000:R8003" or its job role part "R8003").
	JobRoles []string `yaml:"job_roles"`
	// Orgs: the selected role must be at one of these organisations (ODS
	// codes).
	Orgs []string `yaml:"orgs"`
}

// ParseFile parses a configuration file's contents, checks its rules and
// makes relative file names absolute against dir.
func ParseFile(b []byte, dir string) (*File, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFile, MaxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	f := &File{}
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrFile, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrFile)
	}
	if f.Revalidate < 0 {
		return nil, fmt.Errorf("%w: revalidate %s is negative", ErrFile, f.Revalidate)
	}
	if _, err := CompileRules(f.Rules); err != nil {
		return nil, err
	}
	for _, p := range []*string{&f.UpstreamCA, &f.TLSCert, &f.TLSKey, &f.CookieKeys, &f.SAML.IDPKey, &f.SAML.IDPCert} {
		*p = resolve(dir, *p)
	}
	for i := range f.SAML.SPMetadata {
		if f.SAML.SPMetadata[i] == "" {
			return nil, fmt.Errorf("%w: saml.sp_metadata[%d] is empty", ErrFile, i)
		}
		f.SAML.SPMetadata[i] = resolve(dir, f.SAML.SPMetadata[i])
	}
	// An environment file is a path too (env.yaml next to this file is
	// that one, whatever the working directory); a preset name stays a
	// name for cis.ResolveEnvironment.
	if !slices.Contains(cis.PresetNames(), f.Env) {
		f.Env = resolve(dir, f.Env)
	}
	return f, nil
}

// LoadFile reads and parses the configuration file at path.
func LoadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFile, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFile, path, err)
	}
	f, err := ParseFile(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
