package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/middleware"
	"github.com/opencis/cisauth/middleware/samlidp"
)

// Paths the proxy answers itself, before anything reaches the upstream.
// The middleware's endpoints (/cis/login, /cis/logout, /cis/session,
// /cis/refresh, /cis/notify, /cis/oidc/…) and, while it is on, the SAML
// bridge's (/saml/metadata, /saml/sso) are answered too: an upstream's own
// paths there are out of reach. With the bridge off, /saml/… paths go
// upstream like any other.
const (
	HealthPath    = "/cis/healthz"
	LoginPagePath = middleware.DefaultLoginPath // GET: the page; POST: the middleware's login
	LoginJSPath   = "/cis/login.js"
)

// Config configures a Proxy. Upstream and Middleware are required.
type Config struct {
	// Upstream is the application's base URL (http or https). A path
	// in it is a prefix put before every request's path.
	Upstream *url.URL
	// Middleware finds each request's CIS session and answers the login,
	// logout and session endpoints. Build it with LoginURL LoginPagePath so
	// that a browser without a session comes to the login page.
	Middleware *middleware.Middleware
	// Rules guard paths (nil: every path needs a CIS session, nothing
	// more). SetRules replaces them while the proxy runs.
	Rules *Rules
	// SAML, if not nil, is the SAML 2.0 identity provider bridge, served at
	// samlidp.MetadataPath and samlidp.SSOPath. Build it with Identity set
	// to SAMLIdentity and Login to SAMLLogin. SetSAML replaces it.
	SAML *samlidp.IdP
	// ExternalURL is the proxy's address as users reach it: the origin a
	// WebSocket handshake must come from. Nil: the request's own Host.
	ExternalURL *url.URL
	// TrustedOrigins may also send unsafe requests and open WebSockets
	// (e.g. "https://portal.example.nhs.uk").
	TrustedOrigins []string
	// Login configures the login page.
	Login LoginPage
	// Transport reaches the upstream (nil: NewTransport(nil)).
	Transport http.RoundTripper
	// Ready, if set, is called by the health check: an error makes it
	// answer 503 (e.g. the session store is unreachable).
	Ready func(ctx context.Context) error
	// Logger gets a record per upstream failure and refused request (nil
	// discards them).
	Logger *slog.Logger
	// Registerer receives the proxy's metrics (nil: none exported).
	Registerer prometheus.Registerer
}

// Proxy is an http.Handler: cis-proxy's whole request path. It is safe for
// concurrent use.
type Proxy struct {
	mw       *middleware.Middleware
	routes   atomic.Pointer[routeTable]
	saml     atomic.Pointer[samlidp.IdP]
	rp       *httputil.ReverseProxy
	cop      *http.CrossOriginProtection
	origins  map[string]bool // lower-case origins a WebSocket may come from
	external string          // lower-case origin of ExternalURL, or ""
	login    *loginPage
	samlH    http.Handler // the bridge inside the middleware's Optional
	ready    func(ctx context.Context) error
	log      *slog.Logger
	metrics  *metrics
}

// routeTable is Rules with each rule's handler chain: the middleware
// (required or optional session), the rule's guards, then the upstream.
type routeTable struct {
	rules    *Rules
	handlers []http.Handler
	fallback http.Handler // no rule matched: a session, nothing more
}

// New checks cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Upstream == nil || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") || cfg.Upstream.Host == "" {
		return nil, errors.New("proxy: Config.Upstream must be an http or https URL")
	}
	if cfg.Middleware == nil {
		return nil, errors.New("proxy: Config.Middleware is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("proxy: metrics: %w", err)
	}
	p := &Proxy{mw: cfg.Middleware, ready: cfg.Ready, log: log, metrics: m, origins: map[string]bool{}}
	p.cop = http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := p.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("proxy: TrustedOrigins: %w", err)
		}
		p.origins[strings.ToLower(o)] = true
	}
	if u := cfg.ExternalURL; u != nil {
		p.external = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	if p.login, err = newLoginPage(cfg.Login); err != nil {
		return nil, err
	}
	tr := cfg.Transport
	if tr == nil {
		tr = NewTransport(nil)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite(cfg.Upstream),
		Transport:      tr,
		BufferPool:     NewBufferPool(),
		ErrorHandler:   p.upstreamError,
		ModifyResponse: p.countResponse,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	p.samlH = p.mw.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idp := p.saml.Load(); idp != nil {
			idp.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	rules := cfg.Rules
	if rules == nil {
		rules = &Rules{}
	}
	p.SetRules(rules)
	p.SetSAML(cfg.SAML)
	return p, nil
}

// NewTransport returns the transport New uses when Config.Transport is nil:
// a pool of kept-alive connections sized for one busy upstream, TLS
// verified against roots (nil: the system's).
func NewTransport(roots *x509.CertPool) *http.Transport {
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if roots != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return t
}

// copyBufferSize is the size of the buffers a response body is copied
// through: ReverseProxy's own.
const copyBufferSize = 32 << 10

// bufferPool is an httputil.BufferPool of copyBufferSize buffers.
type bufferPool struct{ p sync.Pool }

// NewBufferPool returns the buffer pool New gives its ReverseProxy: without
// one, ReverseProxy allocates (and zeroes) a 32 KiB buffer for every
// response it copies, which under load costs more CPU in allocation and
// garbage collection than the proxy's own work on the request.
func NewBufferPool() httputil.BufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

// Put takes back a buffer Get gave; anything else is left to the garbage
// collector.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}

// SetRules replaces the rules; requests already past the rules keep the
// old ones.
func (p *Proxy) SetRules(rs *Rules) {
	t := &routeTable{rules: rs, fallback: p.mw.Handler(p.rp)}
	for _, r := range rs.rules {
		var h http.Handler = p.rp // past the middleware and the rule: upstream
		for i := len(r.guards) - 1; i >= 0; i-- {
			h = r.guards[i].Handler(h)
		}
		if r.public {
			h = p.mw.Optional(h)
		} else {
			h = p.mw.Handler(h)
		}
		t.handlers = append(t.handlers, h)
	}
	p.routes.Store(t)
}

// SetSAML replaces the SAML bridge (nil turns it off).
func (p *Proxy) SetSAML(idp *samlidp.IdP) { p.saml.Store(idp) }

// ServeHTTP serves one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; {
	case path == HealthPath:
		p.health(w, r)
		return
	case path == LoginPagePath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		p.login.serveHTML(w, r)
		return
	case path == LoginJSPath:
		p.login.serveJS(w, r)
		return
	case path == samlidp.MetadataPath || path == samlidp.SSOPath:
		if p.saml.Load() != nil {
			p.samlH.ServeHTTP(w, r)
			return
		}
	}
	if !cleanRequestPath(r.URL) {
		p.refuse(w, r, "path", http.StatusBadRequest, "The address is not a clean path (it has \"//\", \".\" or \"..\" segments, a backslash or an encoded slash).")
		return
	}
	if isWebSocket(r) && !p.sameOrigin(r) {
		p.refuse(w, r, "websocket_origin", http.StatusForbidden, "A WebSocket from another site was refused.")
		return
	}
	if err := p.cop.Check(r); err != nil {
		p.refuse(w, r, "cross_origin", http.StatusForbidden, "This request came from another site and was refused.")
		return
	}
	t := p.routes.Load()
	if i := t.rules.match(r.URL.Path); i >= 0 {
		t.handlers[i].ServeHTTP(w, r)
		return
	}
	t.fallback.ServeHTTP(w, r)
}

// health answers the health check: 200 while the proxy can serve, 503
// when Config.Ready fails. It says nothing about the upstream.
func (p *Proxy) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if p.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.ready(ctx); err != nil {
			p.log.LogAttrs(r.Context(), slog.LevelWarn, "health check failed", slog.String("error", err.Error()))
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// isWebSocket reports whether r asks to become a WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// sameOrigin reports whether a WebSocket handshake comes from the proxy's
// own origin or a trusted one. Browsers always send Origin with one; a
// handshake without Origin comes from a program, which no page can make
// send the user's cookie.
func (p *Proxy) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	o = strings.ToLower(o)
	if p.origins[o] {
		return true
	}
	if p.external != "" {
		return o == p.external
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
