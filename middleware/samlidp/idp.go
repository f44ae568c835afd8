package samlidp

import (
	"crypto"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/opencis/cisauth/cis"
)

// Paths of the bridge's endpoints under Config.ExternalURL.
const (
	MetadataPath = "/saml/metadata"
	SSOPath      = "/saml/sso"
)

// Defaults and bounds of Config.
const (
	// DefaultAssertionLifetime is Config.AssertionLifetime when zero, the
	// default revalidation interval of cis-proxy.
	DefaultAssertionLifetime = 60 * time.Second
	// DefaultClockSkew is Config.ClockSkew when zero (at most a quarter of
	// the assertion lifetime).
	DefaultClockSkew = 5 * time.Second
	// MaxRelayState is the longest RelayState accepted, in bytes. SAML
	// asks senders to keep it to 80; some send URLs.
	MaxRelayState = 512

	maxPostBody = 64 << 10 // an HTTP-POST AuthnRequest form
	maxQuery    = 16 << 10 // an HTTP-Redirect AuthnRequest query
)

var (
	// ErrNoServiceProviders means the Config registers no service
	// provider: the bridge is off.
	ErrNoServiceProviders = errors.New("samlidp: no service provider metadata: the SAML bridge is off")
	// ErrDuplicateEntityID means two service providers have the same
	// entity ID.
	ErrDuplicateEntityID = errors.New("samlidp: two service providers with the same entity ID")

	errSimpleSign = errors.New("samlidp: the HTTP-POST-SimpleSign binding is not supported; use HTTP-Redirect or HTTP-POST")
)

// Config configures the bridge. New refuses a Config without a signing key,
// its certificate and at least one service provider: the bridge is off
// unless all are given, and it never makes a key of its own.
type Config struct {
	// ExternalURL is the URL people reach the bridge by (cis-proxy's
	// --external-url): https, or http to a loopback host for
	// development, with no query or fragment; a path is a prefix. The
	// entity ID is ExternalURL + MetadataPath, single sign-on is at
	// ExternalURL + SSOPath.
	ExternalURL string

	// Key signs assertions and responses: RSA of at least MinRSABits (see
	// LoadKeyPair). Any crypto.Signer with an RSA public key will do,
	// one in an HSM included.
	Key crypto.Signer
	// Certificate is Key's certificate, published in the metadata. It must
	// be valid now and not signed with SHA-1.
	Certificate *x509.Certificate

	// ServiceProviders are the service providers that may ask for
	// assertions (see LoadServiceProvider). Entity IDs must be unique.
	ServiceProviders []*ServiceProvider

	// Identity returns the person signed in on r and the role they
	// selected, from the CIS session (cis-proxy plugs in its
	// middleware's session), or ok false when r has no session. With ok
	// true, user.UID and selectedRole.ID are set.
	Identity func(r *http.Request) (user cis.User, selectedRole cis.RoleProfile, ok bool)
	// Login sends the person to sign in and come back to returnTo, a path
	// on this origin (it starts with a single "/"; never an absolute URL)
	// that repeats the service provider's request. It writes the response
	// (typically a redirect to the login page with returnTo in a query
	// parameter that the login page checks is same-origin).
	Login func(w http.ResponseWriter, r *http.Request, returnTo string)

	// AssertionLifetime bounds each assertion's validity window
	// (NotOnOrAfter - NotBefore). cis-proxy passes its revalidation
	// interval. Zero means DefaultAssertionLifetime.
	AssertionLifetime time.Duration
	// ClockSkew is how far before its IssueInstant an assertion's
	// NotBefore lies, for service providers whose clock is behind; it is
	// part of AssertionLifetime. Zero means DefaultClockSkew, or a quarter
	// of AssertionLifetime if that is less; it must be less than half of
	// AssertionLifetime.
	ClockSkew time.Duration
	// SPSessionLifetime, if positive, is put in each assertion as
	// SessionNotOnOrAfter (IssueInstant + SPSessionLifetime): the time
	// by which the service provider should end the session it makes from
	// the assertion and come back for a new one, which ends once the CIS
	// session has. Zero leaves it out.
	SPSessionLifetime time.Duration

	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger gets one record per refused request, never a SAML message or
	// assertion; nil discards them.
	Logger *slog.Logger
}

// IdP is the SAML 2.0 identity provider bridge, an http.Handler for
// MetadataPath and SSOPath under Config.ExternalURL (anything else is 404).
// It is safe for concurrent use.
type IdP struct {
	cfg         Config
	now         func() time.Time
	log         *slog.Logger
	lifetime    time.Duration
	metadataURL url.URL
	ssoURL      url.URL
	sps         map[string]*ServiceProvider
	csp         string
	saml        *saml.IdentityProvider
}

// New checks cfg and returns the bridge. It fails with an error matching
// ErrNoSigningKey or ErrNoServiceProviders when the bridge is off for lack of
// them, ErrWeakKey for a key under MinRSABits, ErrDuplicateEntityID, and a
// plain error for anything else wrong.
func New(cfg Config) (*IdP, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if err := checkSigningPair(cfg.Key, cfg.Certificate, now()); err != nil {
		return nil, err
	}
	if len(cfg.ServiceProviders) == 0 {
		return nil, ErrNoServiceProviders
	}
	base, err := parseExternalURL(cfg.ExternalURL)
	if err != nil {
		return nil, err
	}
	if cfg.Identity == nil || cfg.Login == nil {
		return nil, errors.New("samlidp: Config.Identity and Config.Login are required")
	}
	lifetime, skew := cfg.AssertionLifetime, cfg.ClockSkew
	if lifetime == 0 {
		lifetime = DefaultAssertionLifetime
	}
	if skew == 0 {
		skew = min(DefaultClockSkew, lifetime/4)
	}
	if lifetime < 0 || skew < 0 || 2*skew >= lifetime || cfg.SPSessionLifetime < 0 {
		return nil, fmt.Errorf("samlidp: assertion lifetime %s and clock skew %s: want a positive lifetime more than twice the skew", lifetime, skew)
	}
	idp := &IdP{
		cfg:         cfg,
		now:         now,
		log:         cfg.Logger,
		lifetime:    lifetime,
		metadataURL: withPath(base, base.Path+MetadataPath),
		ssoURL:      withPath(base, base.Path+SSOPath),
		sps:         make(map[string]*ServiceProvider, len(cfg.ServiceProviders)),
		csp:         contentSecurityPolicy(),
	}
	if idp.log == nil {
		idp.log = slog.New(slog.DiscardHandler)
	}
	for _, sp := range cfg.ServiceProviders {
		if sp == nil {
			return nil, errors.New("samlidp: a nil ServiceProvider")
		}
		id := sp.EntityID()
		if idp.sps[id] != nil {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateEntityID, id)
		}
		if err := sp.checkCurrent(now()); err != nil {
			return nil, err
		}
		idp.sps[id] = sp
	}
	idp.saml = &saml.IdentityProvider{
		Signer:                  cfg.Key,
		Certificate:             cfg.Certificate,
		Logger:                  slog.NewLogLogger(idp.log.Handler(), slog.LevelWarn),
		MetadataURL:             idp.metadataURL,
		SSOURL:                  idp.ssoURL,
		ServiceProviderProvider: spRegistry{idp},
		SessionProvider:         sessionProvider{idp},
		AssertionMaker:          assertionMaker{lifetime: lifetime, skew: skew, spSession: cfg.SPSessionLifetime},
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
		ResponseFormTemplate:    responseForm,
		Clock:                   dsigClock(now),
		OnError:                 idp.fail,
		NameIDFormats:           []saml.NameIDFormat{saml.UnspecifiedNameIDFormat},
		AssertionEncrypter:      assertionEncrypter(),
		RejectSHA1Signatures:    true,
	}
	return idp, nil
}

// parseExternalURL checks Config.ExternalURL and returns it without a
// trailing slash.
func parseExternalURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("samlidp: external URL: %w", err)
	}
	switch {
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("samlidp: external URL %q: want scheme://host[:port][/path], nothing more", s)
	case u.Scheme == "http" && !cis.IsLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("samlidp: external URL %q: plain http only on a loopback host; use https", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("samlidp: external URL %q: scheme %q, want https", s, u.Scheme)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if strings.Contains(u.Path, "//") || strings.Contains(u.Path, `\`) || strings.Contains(u.Path+"/", "/../") || strings.Contains(u.Path+"/", "/./") {
		return nil, fmt.Errorf("samlidp: external URL %q: path is not clean", s)
	}
	return u, nil
}

func withPath(u *url.URL, p string) url.URL {
	c := *u
	c.Path = p
	return c
}

// EntityID returns the IdP's entity ID, the URL of its metadata.
func (idp *IdP) EntityID() string { return idp.metadataURL.String() }

// SSOURL returns the URL of the single sign-on service.
func (idp *IdP) SSOURL() string { return idp.ssoURL.String() }

// ServeHTTP serves the metadata (GET, HEAD; no session needed) and single
// sign-on (GET: HTTP-Redirect binding; POST: HTTP-POST binding).
func (idp *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case idp.metadataURL.Path:
		idp.serveMetadata(w, r)
	case idp.ssoURL.Path:
		idp.serveSSO(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (idp *IdP) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	md := idp.saml.Metadata()
	// crewjam also lists the signing certificate for encryption; the
	// bridge decrypts nothing, so it offers no encryption key.
	for i := range md.IDPSSODescriptors {
		rd := &md.IDPSSODescriptors[i].RoleDescriptor
		kept := rd.KeyDescriptors[:0]
		for _, kd := range rd.KeyDescriptors {
			if kd.Use != "encryption" {
				kept = append(kept, kd)
			}
		}
		rd.KeyDescriptors = kept
	}
	buf, err := xml.MarshalIndent(md, "", "  ")
	if err != nil {
		idp.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(buf)
}

func (idp *IdP) serveSSO(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header(), idp.csp)
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > maxQuery {
			idp.fail(w, r, http.StatusRequestURITooLong, fmt.Errorf("samlidp: query of %d bytes", len(r.URL.RawQuery)))
			return
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxPostBody)
	default:
		w.Header().Set("Allow", "GET, POST")
		idp.fail(w, r, http.StatusMethodNotAllowed, fmt.Errorf("samlidp: method %s", r.Method))
		return
	}
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		idp.fail(w, r, status, err)
		return
	}
	if r.PostForm.Has("SigAlg") || r.PostForm.Has("Signature") {
		idp.fail(w, r, http.StatusBadRequest, errSimpleSign)
		return
	}
	if n := len(r.Form.Get("RelayState")); n > MaxRelayState {
		idp.fail(w, r, http.StatusBadRequest, fmt.Errorf("samlidp: RelayState of %d bytes, at most %d", n, MaxRelayState))
		return
	}
	idp.saml.ServeSSO(w, r)
}

// fail answers a request the bridge will not serve, and logs why (the
// cause, never a SAML message). It is crewjam's OnError too.
func (idp *IdP) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	idp.log.LogAttrs(r.Context(), level, "samlidp: request refused",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("error", err))
	http.Error(w, "Sign-in refused: "+reason(status, err), status)
}

// reason is what the person is told, in words for them.
func reason(status int, err error) string {
	switch {
	case errors.Is(err, saml.ErrUnknownServiceProvider):
		return "the application that sent you here is not registered with this sign-in service."
	case errors.Is(err, saml.ErrUnknownAssertionConsumerService), errors.Is(err, errACSNotRegistered):
		return "the application asked for the answer at an address it has not registered."
	case errors.Is(err, saml.ErrExpired):
		return "the application's sign-in request has expired. Go back to the application and try again."
	case errors.Is(err, errSimpleSign):
		return "the application used a SAML binding this service does not support (HTTP-POST-SimpleSign)."
	case status >= 500:
		return "an internal error; try again later."
	}
	return "the application's sign-in request is not valid."
}

// spRegistry is crewjam's ServiceProviderProvider over the registered
// service providers.
type spRegistry struct{ idp *IdP }

func (reg spRegistry) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	sp := reg.idp.sps[id]
	if sp == nil {
		return nil, os.ErrNotExist
	}
	if err := sp.checkCurrent(reg.idp.now()); err != nil {
		return nil, err
	}
	return sp.metadata, nil
}
