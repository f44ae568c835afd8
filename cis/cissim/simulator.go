package cissim

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
)

// Defaults for a zero Config field.
const (
	DefaultSessionTime    = 10 * time.Hour // sso_session_time 600 minutes
	DefaultMaxSessionTime = 10 * time.Hour // sso_max_session_time 600 minutes
	DefaultChallengeTTL   = 2 * time.Minute
	DefaultMaxSessions    = 1_000_000
	DefaultMaxChallenges  = 100_000
)

// Config configures a Simulator. The zero value of each field has a
// documented default; Users and CardCAs are required.
type Config struct {
	// Users are the people the simulator knows (required). The slice is
	// copied.
	Users []cis.User
	// CardCAs are the certificate authorities card certificates must chain
	// to (required).
	CardCAs []*x509.Certificate
	// BaseURL is the simulator's own externally visible base URL
	// (scheme://host[:port]), used in sso_logout_url, reply_url,
	// error_url, the DTD reference and as the SAML Issuer. Empty means:
	// taken from each request (scheme from TLS, host from the Host header).
	BaseURL string
	// SessionTime is the idle timeout of an SSO session (default 10h);
	// MaxSessionTime its longest life (default 10h). The gpOBJECT
	// sso_session_time/sso_max_session_time carry them in minutes.
	SessionTime, MaxSessionTime time.Duration
	// ChallengeTTL is how long an activate challenge may be answered
	// (default 2 minutes).
	ChallengeTTL time.Duration
	// NotifyTimeout bounds each session notification POSTed to a listener
	// registered with AddSessionListener (default DefaultNotifyTimeout).
	// NotifyWorkers is how many are sent at once (default
	// DefaultNotifyWorkers), NotifyQueue how many may wait (default
	// DefaultNotifyQueue); past that they are dropped and counted.
	NotifyTimeout              time.Duration
	NotifyWorkers, NotifyQueue int
	// NotifyRoleChange also notifies a session's listeners (type 6,
	// property changed) when a role is selected on it. Off by default: the
	// real service is not known to do it.
	NotifyRoleChange bool
	// NotifyClient sends session notifications (default: a client of its
	// own with no proxy, no redirects, no kept-alive connections and the
	// system's trust roots). NotifyTimeout applies either way.
	NotifyClient *http.Client
	// Latency is added to every protocol request (not /healthz, /metrics
	// or /_sim/).
	Latency time.Duration
	// FailRate is the fraction (0..1) of protocol requests answered with
	// HTTP 500.
	FailRate float64
	// Maintenance lists weekly slots answered with 503 and a maintenance page.
	Maintenance []cis.MaintenanceSlot
	// Admin enables the /_sim/ admin API (loopback clients only).
	Admin bool
	// Hostnames are the names the simulator is reached by besides loopback
	// addresses and localhost (cis-sim's --hostname values). The admin API
	// answers only requests whose Host is one of those, or the host of
	// BaseURL: a web page that rebinds its own name to 127.0.0.1 gets 403.
	Hostnames []string
	// MaxSessions caps live SSO sessions (default 1,000,000); logins past
	// it fail. MaxChallenges caps outstanding challenges (default 100,000).
	MaxSessions, MaxChallenges int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the source of challenges, tickets and keys (default
	// crypto/rand).
	Rand io.Reader
	// Logger receives one line per login, logout and failure (default:
	// discard). Tickets are never logged.
	Logger *slog.Logger
	// Registerer receives the simulator's metrics (default: a private
	// registry). If it is also a prometheus.Gatherer, /metrics serves it.
	Registerer prometheus.Registerer
	// OIDC configures the CIS2 (OpenID Connect) provider served under
	// OIDCRealmPath (see OIDCConfig).
	OIDC OIDCConfig
}

// Simulator is the GAS/SSB simulator: an http.Handler serving the real
// service's paths. It is safe for concurrent use.
type Simulator struct {
	cfg        Config
	users      []cis.User
	byUID      map[string]int
	saml       []userSAML
	cardPool   *x509.CertPool
	base       string // BaseURL without trailing slash, or ""
	hosts      ownHosts
	issuerAttr []byte
	sessions   *sessionStore
	challenges *challengeStore
	ids        assertionIDs
	times      atomic.Pointer[samlTimes]
	macKey     [32]byte
	forced     atomic.Bool // maintenance switched on by hand
	listeners  *listenerStore
	notifier   *notifier
	notids     atomic.Uint64 // notid of session notifications
	mux        *http.ServeMux
	metrics    *metrics
	oidc       *oidcProvider
	log        *slog.Logger
	bufs       sync.Pool
}

// New checks cfg, fills in defaults and returns a Simulator.
func New(cfg Config) (*Simulator, error) {
	if err := checkUsers(cfg.Users); err != nil {
		return nil, fmt.Errorf("cissim: users: %w", err)
	}
	if len(cfg.CardCAs) == 0 {
		return nil, errors.New("cissim: no card CA configured")
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("cissim: BaseURL %q: want scheme://host[:port]", cfg.BaseURL)
		}
	}
	hosts, err := newOwnHosts(cfg.Hostnames, cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.FailRate < 0 || cfg.FailRate > 1 {
		return nil, fmt.Errorf("cissim: FailRate %v: want 0..1", cfg.FailRate)
	}
	if cfg.Latency < 0 {
		return nil, errors.New("cissim: negative Latency")
	}
	setDefault(&cfg.SessionTime, DefaultSessionTime)
	setDefault(&cfg.MaxSessionTime, DefaultMaxSessionTime)
	setDefault(&cfg.ChallengeTTL, DefaultChallengeTTL)
	if cfg.SessionTime < 0 || cfg.MaxSessionTime < 0 || cfg.ChallengeTTL < 0 {
		return nil, errors.New("cissim: negative session time or challenge TTL")
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxChallenges <= 0 {
		cfg.MaxChallenges = DefaultMaxChallenges
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var gatherer prometheus.Gatherer
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, gatherer = reg, reg
	} else if g, ok := cfg.Registerer.(prometheus.Gatherer); ok {
		gatherer = g
	}
	cfg.Users = append([]cis.User(nil), cfg.Users...)
	cfg.CardCAs = append([]*x509.Certificate(nil), cfg.CardCAs...)
	cfg.Maintenance = append([]cis.MaintenanceSlot(nil), cfg.Maintenance...)
	cfg.Hostnames = append([]string(nil), cfg.Hostnames...)

	s := &Simulator{
		cfg:        cfg,
		users:      cfg.Users,
		byUID:      make(map[string]int, len(cfg.Users)),
		cardPool:   x509.NewCertPool(),
		base:       strings.TrimRight(cfg.BaseURL, "/"),
		hosts:      hosts,
		sessions:   newSessionStore(cfg.SessionTime, cfg.MaxSessionTime, cfg.MaxSessions),
		challenges: newChallengeStore(cfg.MaxChallenges),
		log:        cfg.Logger,
	}
	s.bufs.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	for i := range s.users {
		s.byUID[s.users[i].UID] = i
		s.saml = append(s.saml, renderUserSAML(&s.users[i]))
	}
	for _, c := range cfg.CardCAs {
		s.cardPool.AddCert(c)
	}
	issuer := s.base
	if issuer == "" {
		issuer = "http://cis-sim"
	}
	s.issuerAttr = appendAttrValue(nil, issuer)
	if _, err := io.ReadFull(cfg.Rand, s.macKey[:]); err != nil {
		return nil, fmt.Errorf("cissim: random: %w", err)
	}
	if _, err := io.ReadFull(cfg.Rand, s.ids.prefix[:]); err != nil {
		return nil, fmt.Errorf("cissim: random: %w", err)
	}
	if err := s.initNotify(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer, gatherer, s.sessions)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.oidc, err = newOIDCProvider(s, cfg.OIDC); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// ServeHTTP serves the simulator's endpoints.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Simulator) routes() {
	mux := http.NewServeMux()
	p := func(pattern, name string, h http.HandlerFunc) { mux.Handle(pattern, s.protocol(name, h)) }
	p("POST /login/authactivate", "authactivate", s.handleActivate)
	p("POST /login/authvalidate", "authvalidate", s.handleValidate)
	p("/login/authlogout", "authlogout", s.handleLogout) // POST, and GET with a body
	p("GET /login/dtd", "dtd", s.handleDTD)
	p("GET /login/error", "error", s.handleErrorPage)
	p("GET /saml/RoleSelectionGP.jsp", "roleselection", s.handleRoleSelection)
	p("GET /saml/RoleAssertion", "roleassertion", s.handleRoleAssertion)
	p("POST /amserver/sessionservice", "sessionservice", s.handleSessionService)
	p("POST /amserver/namingservice", "namingservice", s.handleNamingService)
	p("GET /ssb/DeviceIDLogger", "deviceidlogger", s.handleDeviceIDLogger)
	s.oidc.routes(p)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", s.metrics.handler())
	if s.cfg.Admin {
		s.adminRoutes(mux)
	}
	s.mux = mux
}

// now is the simulator's clock.
func (s *Simulator) now() time.Time { return s.cfg.Now() }

// baseURL is the externally visible base URL for r.
func (s *Simulator) baseURL(r *http.Request) string {
	if s.base != "" {
		return s.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Simulator) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *Simulator) putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}

// writeBody answers with a fixed body and Content-Length.
func writeBody(w http.ResponseWriter, code int, contentType string, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	w.Write(body)
}
