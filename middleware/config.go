package middleware

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
)

// Validator tells who an SSO ticket belongs to and which role they
// selected, by fetching the RoleAssertion from the SSB. *cis.SSBClient
// satisfies it; tests use the simulator (package cis/cistest) or a fake.
//
// Validate must be safe for concurrent use. It is called with a context
// bounded by Config.ValidationTimeout, at most once at a time per ticket;
// the assertion it returns is not modified afterwards. Errors should be the
// ones package cis returns (they are sorted with cis.HTTPStatus).
type Validator interface {
	Validate(ctx context.Context, t cis.Ticket) (*cis.Assertion, error)
}

// SSOLogout ends an SSO session at GAS. *cis.GASClient satisfies it. The
// middleware calls it on POST to the logout path with a *cis.Session that
// holds only the ticket and the user id: the server knows no more (GAS's
// logout endpoint needs only the ticket; the empty LogoutURL makes the GAS
// client use the environment's logout endpoint).
type SSOLogout interface {
	Logout(ctx context.Context, s *cis.Session) error
}

// Defaults of Config and CookieConfig.
const (
	DefaultRevalidate        = 60 * time.Second
	DefaultValidationTimeout = 10 * time.Second
	DefaultSessionMaxAge     = 10 * time.Hour
	DefaultCookieName        = "cis_session"
	DefaultLoginPath         = "/cis/login"
	DefaultRefreshPath       = "/cis/refresh"
	DefaultLogoutPath        = "/cis/logout"
	DefaultSessionPath       = "/cis/session"
	// MaxSkew bounds Config.Skew: the SSB's window is a few minutes wide
	// and one public sample is an hour off, but a larger allowance would
	// let a stale assertion through.
	MaxSkew = 2 * time.Hour
	// MinCookieKeyLen is the shortest cookie signing key accepted.
	MinCookieKeyLen = 32
)

// Config configures a Middleware. The zero value of every field is a
// usable default (said on each field) except that Validator or Env must
// say where tickets are validated. New copies the Config; changing it
// afterwards has no effect.
type Config struct {
	// Validator validates tickets. Nil means an SSB client for Env built by
	// New over Env.NewHTTPClient (TLS verified against Env's trust anchors
	// only), whose transport is wrapped to count requests and time them
	// (cisauth_ssb_requests_total, cisauth_ssb_request_duration_seconds).
	Validator Validator
	// Env is the CIS environment whose SSB New asks when Validator is nil.
	// It is not used otherwise.
	Env cis.Environment
	// Store keeps sessions server side. Nil means a new MemoryStore (one
	// instance; sessions are lost on restart). Use a RedisStore for a
	// fleet. A Store serves one Middleware.
	Store Store
	// Cookie sets the session cookie: see CookieConfig.
	Cookie CookieConfig
	// Revalidate is how often a session's RoleAssertion is fetched again
	// (DefaultRevalidate, 60 s, if zero). A request to a session whose
	// last validation is older waits for a new one: logout and card removal
	// end the web session within this interval.
	Revalidate time.Duration
	// Skew is the clock skew allowed around an assertion's validity window
	// (cis.DefaultSkew, 5 minutes, if zero; at most MaxSkew).
	Skew time.Duration
	// ValidationTimeout bounds each RoleAssertion fetch
	// (DefaultValidationTimeout, 10 s, if zero). Callers waiting for the
	// same ticket share one fetch.
	ValidationTimeout time.Duration
	// SSOLogout, if set, also ends the SSO session at GAS on logout, and
	// then every web session of that ticket. Nil: logout ends only this web
	// session; the card and the SSO session stay logged in.
	SSOLogout SSOLogout
	// LoginPath, RefreshPath, LogoutPath and SessionPath are the paths the
	// middleware answers itself (DefaultLoginPath "/cis/login",
	// DefaultRefreshPath "/cis/refresh", DefaultLogoutPath "/cis/logout",
	// DefaultSessionPath "/cis/session" if empty).
	LoginPath, RefreshPath, LogoutPath, SessionPath string
	// LoginURL is where an HTML request (Accept: text/html) without a
	// session is redirected (303, GET and HEAD only), with the path it
	// asked for as the query parameter "return". It may be a path or an
	// absolute URL. Empty: such requests get a 401 page saying to log in,
	// or, with CIS2 enabled, are sent to CIS2.LoginPath (a browser has no
	// other way in without a login page of the application's).
	LoginURL string
	// Notify turns on session notifications from CIS (OpenSSO session
	// listeners): a logout, an SSO timeout or an administrator's expiry
	// then ends the web session within about a second instead of at the
	// next revalidation. Off unless Notify.ExternalURL is set; see
	// NotifyConfig.
	Notify NotifyConfig
	// TrustedOrigins are origins ("https://portal.example.nhs.uk") allowed
	// to post to the login, refresh and logout paths from another origin
	// (see http.CrossOriginProtection.AddTrustedOrigin). None by default.
	TrustedOrigins []string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives one record per login, logout, role change and
	// failure, never a ticket, cookie or session id (nil discards them).
	Logger *slog.Logger
	// Registerer receives the middleware's metrics (nil: a private
	// registry, so nothing is exported).
	Registerer prometheus.Registerer
	// CIS2 enables logins through NHS CIS2 (OpenID Connect) beside, or
	// instead of, the legacy ticket login: see CIS2Config. Its zero value
	// leaves CIS2 off.
	CIS2 CIS2Config
}

// CookieConfig sets the session cookie. The cookie holds only a signed
// random session id; everything else stays on the server. It is always
// HttpOnly, Path=/ and host-only (no Domain).
type CookieConfig struct {
	// Name is the cookie name (DefaultCookieName if empty). When the cookie
	// is Secure (the default) the name gets the "__Host-" prefix, so that
	// browsers accept it only from this host, over HTTPS, for the whole
	// site.
	Name string
	// Keys sign the cookie (HMAC-SHA256), each at least MinCookieKeyLen
	// bytes: the first signs, all of them verify, so a new key goes first
	// and the old one stays last until the cookies it signed have expired.
	// Empty means one random key made by New: fine for one instance, but
	// every cookie dies with the process. A fleet, or an instance that must
	// keep its sessions across a restart, needs the same keys on every
	// instance (New refuses a RedisStore without Keys): LoadCookieKeys
	// reads them from a keys file, SharedCookieKeys makes them once and
	// shares them through the fleet's Redis.
	Keys [][]byte
	// MaxAge is the longest life of a web session, tied to the SSO session
	// (DefaultSessionMaxAge, the ten hours of a smartcard session, if
	// zero): the cookie's Max-Age, the signature's own expiry and the
	// server-side record all end then. Revalidation ends it earlier when
	// the SSO session ends.
	MaxAge time.Duration
	// SameSite is http.SameSiteLaxMode (the default) or
	// http.SameSiteStrictMode. None is refused.
	SameSite http.SameSite
	// Insecure drops the Secure attribute and the "__Host-" prefix, for
	// plain-HTTP development on localhost only.
	Insecure bool
}

// settings is a checked Config with its defaults filled in.
type settings struct {
	Config
	cookieName string
	loginURL   *url.URL
}

func checkConfig(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	if s.Validator == nil && s.Env.SSBURL == "" && s.CIS2.RelyingParty == nil {
		return nil, errors.New("middleware: Config needs a Validator, an Env with an SSB URL, or CIS2.RelyingParty")
	}
	if s.Revalidate < 0 || s.Skew < 0 || s.ValidationTimeout < 0 || s.Cookie.MaxAge < 0 {
		return nil, errors.New("middleware: negative duration in Config")
	}
	if s.Revalidate == 0 {
		s.Revalidate = DefaultRevalidate
	}
	if s.Skew == 0 {
		s.Skew = cis.DefaultSkew
	}
	if s.Skew > MaxSkew {
		return nil, fmt.Errorf("middleware: Skew %s is more than MaxSkew %s", s.Skew, MaxSkew)
	}
	if s.ValidationTimeout == 0 {
		s.ValidationTimeout = DefaultValidationTimeout
	}
	if s.Cookie.MaxAge == 0 {
		s.Cookie.MaxAge = DefaultSessionMaxAge
	}
	if s.Cookie.MaxAge < time.Minute || s.Revalidate >= s.Cookie.MaxAge {
		return nil, fmt.Errorf("middleware: Cookie.MaxAge %s must be at least a minute and longer than Revalidate %s", s.Cookie.MaxAge, s.Revalidate)
	}
	switch s.Cookie.SameSite {
	case 0, http.SameSiteDefaultMode:
		s.Cookie.SameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	default:
		return nil, errors.New("middleware: Cookie.SameSite must be Lax or Strict")
	}
	if err := checkCookieKeys(&s.Cookie); err != nil {
		return nil, err
	}
	name := s.Cookie.Name
	if name == "" {
		name = DefaultCookieName
	}
	if !validCookieName(name) || strings.HasPrefix(strings.ToLower(name), "__host-") || strings.HasPrefix(strings.ToLower(name), "__secure-") {
		return nil, fmt.Errorf("middleware: Cookie.Name %q: want a cookie token without a __Host-/__Secure- prefix (added when Secure)", name)
	}
	if !s.Cookie.Insecure {
		name = "__Host-" + name
	}
	s.cookieName = name
	for _, p := range []*string{&s.LoginPath, &s.RefreshPath, &s.LogoutPath, &s.SessionPath} {
		if !strings.HasPrefix(*p, "/") && *p != "" {
			return nil, fmt.Errorf("middleware: endpoint path %q does not start with /", *p)
		}
	}
	setDefault(&s.LoginPath, DefaultLoginPath)
	setDefault(&s.RefreshPath, DefaultRefreshPath)
	setDefault(&s.LogoutPath, DefaultLogoutPath)
	setDefault(&s.SessionPath, DefaultSessionPath)
	paths := map[string]bool{s.LoginPath: true, s.RefreshPath: true, s.LogoutPath: true, s.SessionPath: true}
	if len(paths) != 4 {
		return nil, errors.New("middleware: login, refresh, logout and session paths must differ")
	}
	if err := checkCIS2(&s.CIS2, paths); err != nil {
		return nil, err
	}
	if s.LoginURL != "" {
		u, err := url.Parse(s.LoginURL)
		if err != nil || u.RawQuery != "" || u.Fragment != "" || (u.Scheme == "" && !strings.HasPrefix(u.Path, "/")) ||
			(u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http") || (u.Scheme != "" && u.Host == "") {
			return nil, fmt.Errorf("middleware: LoginURL %q: want a path or an http(s) URL without query", s.LoginURL)
		}
		s.loginURL = u
	} else if s.CIS2.RelyingParty != nil {
		// A browser cannot log in with a ticket without a page of the
		// application's: the CIS2 login is the way in.
		s.loginURL = &url.URL{Path: s.CIS2.LoginPath}
	}
	if err := checkNotify(s); err != nil {
		return nil, err
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Registerer == nil {
		s.Registerer = prometheus.NewRegistry()
	}
	return s, nil
}

func setDefault(p *string, d string) {
	if *p == "" {
		*p = d
	}
}

func checkCookieKeys(c *CookieConfig) error {
	for i, k := range c.Keys {
		if len(k) < MinCookieKeyLen {
			return fmt.Errorf("middleware: Cookie.Keys[%d] is %d bytes, want at least %d", i, len(k), MinCookieKeyLen)
		}
	}
	if len(c.Keys) == 0 {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return fmt.Errorf("middleware: cookie key: %w", err)
		}
		c.Keys = [][]byte{k}
		return nil
	}
	// Copy: the caller's slices must not change our keys later.
	keys := make([][]byte, len(c.Keys))
	for i, k := range c.Keys {
		keys[i] = append([]byte(nil), k...)
	}
	c.Keys = keys
	return nil
}

// validCookieName reports whether name is an RFC 6265 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
