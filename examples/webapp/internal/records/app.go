package records

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opencis/cisauth/middleware"
)

// DefaultAgentURL is where the workstation agent (cis-agent) serves its
// local Ticket API.
const DefaultAgentURL = "http://127.0.0.1:7444"

// NoAgent as Config.AgentURL turns the agent off: the login page only
// offers the field to paste a ticket.
const NoAgent = "none"

// DefaultSessionCheck is how often an open page asks whether its session
// is still alive.
const DefaultSessionCheck = 15 * time.Second

// LoginPath is the app's login page (the middleware's LoginURL).
const LoginPath = "/login"

// Config configures the app.
type Config struct {
	// CIS configures the middleware (Env or Validator, Store, Cookie,
	// Revalidate, SSOLogout, Logger, Registerer …); New sets its LoginURL
	// to LoginPath and leaves the endpoints at their default paths.
	CIS middleware.Config
	// AgentURL is the base URL of the workstation agent's Ticket API
	// (DefaultAgentURL if empty, NoAgent for none). The login page's script
	// asks AgentURL + "/ticket"; the page's CSP allows fetches to its
	// origin only.
	AgentURL string
	// SessionCheck is how often an open page asks /cis/session whether the
	// session is still alive (DefaultSessionCheck if zero); a session that
	// ended (card pulled, logged out elsewhere) is shown as logged out
	// within SessionCheck plus CIS.Revalidate.
	SessionCheck time.Duration
}

// App is the example app: an http.Handler. It is safe for concurrent use.
type App struct {
	m            *middleware.Middleware
	h            http.Handler
	agentURL     string // "" when off
	agentOrigin  string
	sessionCheck time.Duration
	ssoLogout    bool
	list, record *feature
	admin        *feature
	features     []*feature
	audit        audit
	csp          string
	pages        map[string]*template.Template
	revalidate   time.Duration
	now          func() time.Time
}

// New checks cfg and builds the app and its middleware.
func New(cfg Config) (*App, error) {
	a := &App{sessionCheck: cfg.SessionCheck, ssoLogout: cfg.CIS.SSOLogout != nil, revalidate: cfg.CIS.Revalidate, now: cfg.CIS.Now}
	if a.revalidate == 0 {
		a.revalidate = middleware.DefaultRevalidate
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.sessionCheck < 0 {
		return nil, errors.New("records: negative SessionCheck")
	}
	if a.sessionCheck == 0 {
		a.sessionCheck = DefaultSessionCheck
	}
	if err := a.setAgent(cfg.AgentURL); err != nil {
		return nil, err
	}
	if cfg.CIS.LoginPath != "" || cfg.CIS.RefreshPath != "" || cfg.CIS.LogoutPath != "" || cfg.CIS.SessionPath != "" {
		return nil, errors.New("records: the app's pages use the middleware's default endpoint paths; leave them empty")
	}
	var err error
	if a.pages, err = parsePages(); err != nil {
		return nil, err
	}
	mc := cfg.CIS
	mc.LoginURL = LoginPath
	m, err := middleware.New(mc)
	if err != nil {
		return nil, err
	}
	a.m = m
	a.list = anyActivity("Patient list", "/patients", ActivityViewPatient, ActivityClinicalRecord)
	a.record = activity("Patient records", "", ActivityClinicalRecord)
	a.admin = jobRole("Access audit (administration)", "/admin", AdminJobRole)
	a.features = []*feature{a.list, a.record, a.admin}
	a.csp = contentSecurityPolicy(a.agentOrigin)
	a.h = a.routes()
	return a, nil
}

// setAgent checks and keeps the agent's base URL and origin.
func (a *App) setAgent(raw string) error {
	switch raw {
	case NoAgent:
		return nil
	case "":
		raw = DefaultAgentURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(u.Host, "'\" ;,") {
		return fmt.Errorf("records: agent URL %q: want http(s)://host:port, or %q", raw, NoAgent)
	}
	a.agentOrigin = u.Scheme + "://" + u.Host
	a.agentURL = a.agentOrigin + strings.TrimSuffix(u.EscapedPath(), "/")
	return nil
}

// ServeHTTP serves the app.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.h.ServeHTTP(w, r) }

// routes lays the app out: static files and the public pages outside the
// session requirement, the rest behind it, everything with the security
// headers.
func (a *App) routes() http.Handler {
	private := http.NewServeMux()
	private.HandleFunc("GET /{$}", a.home)
	private.Handle("GET /patients", a.guarded(a.list, http.HandlerFunc(a.patientList)))
	private.Handle("GET /patients/{nhs}", a.guarded(a.record, http.HandlerFunc(a.patientRecord)))
	private.Handle("GET /admin", a.guarded(a.admin, http.HandlerFunc(a.adminPage)))
	private.HandleFunc("GET /role", a.rolePage)
	private.HandleFunc("/", a.notFound)

	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticFiles())
	mux.Handle("GET "+LoginPath, a.m.Optional(http.HandlerFunc(a.loginPage)))
	mux.Handle("GET /logged-out", a.m.Optional(http.HandlerFunc(a.loggedOutPage)))
	mux.Handle("/", a.m.Handler(private)) // the middleware's /cis/ endpoints too
	return securityHeaders(a.csp, mux)
}

// contentSecurityPolicy allows the app's own scripts, styles and images,
// fetches to the app and the agent, form posts to the app, and nothing
// else: no inline script, no framing, no plugins.
func contentSecurityPolicy(agentOrigin string) string {
	connect := "'self'"
	if agentOrigin != "" {
		connect += " " + agentOrigin
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src " + connect +
		"; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}

// securityHeaders sets the headers every answer carries, the middleware's
// own pages included.
func securityHeaders(csp string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}
