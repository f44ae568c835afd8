package cis

import (
	"crypto/tls"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/opencis/cisauth/internal/pemfile"
)

//go:embed certs/*.pem
var devCerts embed.FS

// Environment describes a CIS deployment: where GAS and the SSB are, which
// certificate authorities their TLS certificates must chain to, and when they
// are in maintenance. Presets are returned by value; a caller may change its
// copy freely.
type Environment struct {
	// Name labels the environment ("dev", "local", or a file's name field).
	Name string
	// GASURL is the base URL of the Government Authentication Service
	// (https://host[:port], no path); /login/* is appended.
	GASURL string
	// SSBURL is the base URL of the Spine Security Broker: /saml/* and
	// /amserver/* are appended.
	SSBURL string
	// PortalURL is the environment's portal page, informational.
	PortalURL string
	// Roots are the only certificates GAS and SSB TLS server certificates
	// are verified against. An https URL with no roots cannot be used.
	Roots []*x509.Certificate
	// Maintenance lists the weekly maintenance slots.
	Maintenance []MaintenanceSlot
	// OIDC, when its Issuer is set, describes the environment's CIS2
	// (OpenID Connect) provider. An environment may have only this (GAS
	// and SSB URLs empty), only the legacy services, or both.
	OIDC OIDCSettings
}

// Endpoints are the absolute URLs of an environment's services.
type Endpoints struct {
	Activate       string `json:"activate"`
	Validate       string `json:"validate"`
	Logout         string `json:"logout"`
	RoleSelection  string `json:"role_selection"`
	RoleAssertion  string `json:"role_assertion"`
	NamingService  string `json:"naming_service"`
	SessionService string `json:"session_service"`
	DeviceIDLogger string `json:"device_id_logger"`
	Portal         string `json:"portal"`
}

// Endpoints returns the service URLs derived from the base URLs.
func (e Environment) Endpoints() Endpoints {
	gas := strings.TrimRight(e.GASURL, "/")
	ssb := strings.TrimRight(e.SSBURL, "/")
	return Endpoints{
		Activate:       gas + "/login/authactivate",
		Validate:       gas + "/login/authvalidate",
		Logout:         gas + "/login/authlogout",
		RoleSelection:  ssb + "/saml/RoleSelectionGP.jsp",
		RoleAssertion:  ssb + "/saml/RoleAssertion",
		NamingService:  ssb + "/amserver/namingservice",
		SessionService: gas + "/amserver/sessionservice",
		DeviceIDLogger: ssb + "/ssb/DeviceIDLogger",
		Portal:         e.PortalURL,
	}
}

// DefaultSimulatorAddr is where cis-sim listens unless told otherwise.
const DefaultSimulatorAddr = "127.0.0.1:7443"

// Preset returns a built-in environment by name: "dev" (the NHS development
// environment, reachable only over HSCN), "local" (cis-sim at its default
// address), or one of the CIS2 issuers "cis2-dev", "cis2-int" and
// "cis2-live" (OIDC only, verified against the system roots, with no client
// id: the application supplies its client id, credential and redirect URL,
// see package cis2). The local preset has no trust anchors: the
// simulator's CA is written to its state directory, so use the env.yaml it
// writes there instead when it serves HTTPS (its default).
func Preset(name string) (Environment, error) {
	if env, ok := cis2Preset(name); ok {
		return env, nil
	}
	switch name {
	case "dev":
		roots, err := devRoots()
		if err != nil {
			return Environment{}, err
		}
		core, err := ParseMaintenanceSlot("Spine Core", "Tue 20:00-Wed 06:00")
		if err != nil {
			return Environment{}, err
		}
		cisSlot, err := ParseMaintenanceSlot("Spine CIS", "Mon 20:00-Tue 06:00")
		if err != nil {
			return Environment{}, err
		}
		return Environment{
			Name:        "dev",
			GASURL:      "https://gas.vn03.national.ncrs.nhs.uk",
			SSBURL:      "https://sbapi.vn03.national.ncrs.nhs.uk",
			PortalURL:   "https://portal.vn03.national.ncrs.nhs.uk",
			Roots:       roots,
			Maintenance: []MaintenanceSlot{cisSlot, core},
		}, nil
	case "local":
		u := "http://" + DefaultSimulatorAddr
		return Environment{Name: "local", GASURL: u, SSBURL: u, PortalURL: u + "/"}, nil
	}
	return Environment{}, fmt.Errorf("cis: unknown environment preset %q (want %s or the path of an environment file)", name, strings.Join(PresetNames(), ", "))
}

// PresetNames lists the names Preset accepts.
func PresetNames() []string { return []string{"dev", "local", "cis2-dev", "cis2-int", "cis2-live"} }

func devRoots() ([]*x509.Certificate, error) {
	var roots []*x509.Certificate
	for _, f := range []string{"certs/nhs-ptl-root-authority.pem", "certs/nhs-dev-level-1c.pem"} {
		b, err := devCerts.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cis: embedded trust anchor: %w", err)
		}
		c, err := ParseCertificatesPEM(b)
		if err != nil {
			return nil, fmt.Errorf("cis: embedded trust anchor %s: %w", f, err)
		}
		roots = append(roots, c...)
	}
	return roots, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block in b. It fails if
// there is none or one does not parse (saying on which line it starts).
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	return pemfile.ParseCertificates(b)
}

// ResolveEnvironment returns the preset called nameOrFile, or else loads the
// environment file at that path. This is what every --env flag takes.
func ResolveEnvironment(nameOrFile string) (Environment, error) {
	for _, n := range PresetNames() {
		if nameOrFile == n {
			return Preset(n)
		}
	}
	if nameOrFile == "" {
		return Environment{}, fmt.Errorf("cis: no environment given (want %s or the path of an environment file)", strings.Join(PresetNames(), ", "))
	}
	return LoadEnvironment(nameOrFile)
}

// EnvironmentFile is the YAML form of an Environment:
//
//	name: my-env
//	gas_url: https://gas.example.nhs.uk
//	ssb_url: https://sbapi.example.nhs.uk
//	portal_url: https://portal.example.nhs.uk
//	trust_anchors:
//	  - file: ca.pem            # relative to the environment file
//	  - pem: |
//	      -----BEGIN CERTIFICATE-----
//	      …
//	maintenance:
//	  - name: Spine CIS
//	    slot: Mon 20:00-Tue 06:00   # Europe/London
//	oidc:                           # CIS2, see OIDCEntry
//	  issuer: https://…
//
// gas_url and ssb_url may be left out when the file has an oidc block.
type EnvironmentFile struct {
	Name         string             `yaml:"name"`
	GASURL       string             `yaml:"gas_url,omitempty"`
	SSBURL       string             `yaml:"ssb_url,omitempty"`
	PortalURL    string             `yaml:"portal_url,omitempty"`
	TrustAnchors []TrustAnchorEntry `yaml:"trust_anchors,omitempty"`
	Maintenance  []MaintenanceEntry `yaml:"maintenance,omitempty"`
	OIDC         *OIDCEntry         `yaml:"oidc,omitempty"`
}

// TrustAnchorEntry names a PEM file or holds PEM text inline.
type TrustAnchorEntry struct {
	File string `yaml:"file,omitempty"`
	PEM  string `yaml:"pem,omitempty"`
}

// MaintenanceEntry is one maintenance slot in an environment file.
type MaintenanceEntry struct {
	Name string `yaml:"name,omitempty"`
	Slot string `yaml:"slot"`
}

// maxEnvFile bounds the size of an environment file.
const maxEnvFile = 1 << 20

// LoadEnvironment reads an environment file (see EnvironmentFile).
func LoadEnvironment(path string) (Environment, error) {
	b, err := readFileLimited(path, maxEnvFile)
	if err != nil {
		return Environment{}, fmt.Errorf("cis: environment file: %w", err)
	}
	env, err := ParseEnvironment(b, filepath.Dir(path))
	if err != nil {
		return Environment{}, fmt.Errorf("cis: environment file %s: %w", path, err)
	}
	return env, nil
}

// ParseEnvironment parses an environment file's contents; relative trust
// anchor file names are taken relative to dir. Unknown keys are an error.
func ParseEnvironment(b []byte, dir string) (Environment, error) {
	var f EnvironmentFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Environment{}, err
	}
	env := Environment{Name: f.Name, GASURL: f.GASURL, SSBURL: f.SSBURL, PortalURL: f.PortalURL}
	if f.OIDC == nil || f.GASURL != "" || f.SSBURL != "" {
		for what, u := range map[string]string{"gas_url": f.GASURL, "ssb_url": f.SSBURL} {
			if err := checkBaseURL(u); err != nil {
				return Environment{}, fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	roots, err := parseTrustAnchors(f.TrustAnchors, dir)
	if err != nil {
		return Environment{}, err
	}
	env.Roots = roots
	if f.OIDC != nil {
		if env.OIDC, err = parseOIDCEntry(f.OIDC, dir); err != nil {
			return Environment{}, err
		}
	}
	for i, m := range f.Maintenance {
		s, err := ParseMaintenanceSlot(m.Name, m.Slot)
		if err != nil {
			return Environment{}, fmt.Errorf("maintenance[%d]: %w", i, err)
		}
		env.Maintenance = append(env.Maintenance, s)
	}
	if err := env.Check(); err != nil {
		return Environment{}, err
	}
	return env, nil
}

// parseTrustAnchors reads trust anchor entries; relative file names are
// taken relative to dir.
func parseTrustAnchors(entries []TrustAnchorEntry, dir string) ([]*x509.Certificate, error) {
	var roots []*x509.Certificate
	for i, ta := range entries {
		var data []byte
		switch {
		case ta.File != "" && ta.PEM != "":
			return nil, fmt.Errorf("trust_anchors[%d]: give file or pem, not both", i)
		case ta.File != "":
			var err error
			if data, err = readFileLimited(relativeTo(dir, ta.File), maxEnvFile); err != nil {
				return nil, fmt.Errorf("trust_anchors[%d]: %w", i, err)
			}
		case ta.PEM != "":
			data = []byte(ta.PEM)
		default:
			return nil, fmt.Errorf("trust_anchors[%d]: give file or pem", i)
		}
		certs, err := ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("trust_anchors[%d]: %w", i, err)
		}
		roots = append(roots, certs...)
	}
	return roots, nil
}

// MarshalYAML returns the environment as an environment file with its trust
// anchors inline, the form cis-sim writes to its state directory.
func (e Environment) MarshalYAML() ([]byte, error) {
	f := EnvironmentFile{Name: e.Name, GASURL: e.GASURL, SSBURL: e.SSBURL, PortalURL: e.PortalURL}
	for _, c := range e.Roots {
		f.TrustAnchors = append(f.TrustAnchors, TrustAnchorEntry{PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))})
	}
	for _, s := range e.Maintenance {
		f.Maintenance = append(f.Maintenance, MaintenanceEntry{Name: s.Name, Slot: s.String()})
	}
	f.OIDC = oidcEntry(e.OIDC)
	return yaml.Marshal(f)
}

func checkBaseURL(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an http or https URL with a host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: no query, fragment or user info allowed", s)
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%q: plain http is allowed only to a loopback host (127.0.0.0/8, ::1, localhost); use https", s)
	}
	return nil
}

// IsLoopbackHost reports whether host (a URL's host name, without port) is
// localhost or a loopback IP address (127.0.0.0/8, ::1): the only hosts this
// package talks to over plain HTTP. Tickets and unsigned assertions travel
// in clear text there, so nothing else may go without TLS.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback() && ip.Zone() == ""
}

// Check reports whether the environment is usable: both base URLs valid
// (plain http only to a loopback host), and trust anchors present if either
// uses https; and its OIDC settings, if any, valid (see OIDCSettings.Check).
// An environment with OIDC settings may have no GAS and SSB URLs at all.
func (e Environment) Check() error {
	if e.OIDC.Enabled() {
		if err := e.OIDC.Check(); err != nil {
			return fmt.Errorf("cis: environment %q: oidc: %w", e.Name, err)
		}
		if e.GASURL == "" && e.SSBURL == "" {
			return nil
		}
	}
	if err := checkBaseURL(e.GASURL); err != nil {
		return fmt.Errorf("cis: environment %q: gas url: %w", e.Name, err)
	}
	if err := checkBaseURL(e.SSBURL); err != nil {
		return fmt.Errorf("cis: environment %q: ssb url: %w", e.Name, err)
	}
	if (strings.HasPrefix(e.GASURL, "https:") || strings.HasPrefix(e.SSBURL, "https:")) && len(e.Roots) == 0 {
		return fmt.Errorf("cis: environment %q: https needs trust anchors (TLS is verified against them and nothing else)", e.Name)
	}
	return nil
}

// TLSConfig returns a client TLS configuration that verifies servers against
// the environment's trust anchors only (never the system roots), TLS 1.2+.
func (e Environment) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	for _, c := range e.Roots {
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// MaintenanceAt reports whether t falls in one of the environment's
// maintenance slots, and if so which one and when it ends.
func (e Environment) MaintenanceAt(t time.Time) (slot MaintenanceSlot, ends time.Time, in bool) {
	for _, s := range e.Maintenance {
		if end, ok := s.Contains(t); ok {
			return s, end, true
		}
	}
	return MaintenanceSlot{}, time.Time{}, false
}

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, limit, ErrTooLarge)
	}
	return b, nil
}
