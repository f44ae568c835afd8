package cis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults of NamingConfig.
const (
	// DefaultNamingTTL is how long a session service URL found through the
	// naming service is used before the naming service is asked again.
	DefaultNamingTTL = time.Hour
	// DefaultNamingRetry is how long the environment's own session service
	// URL stands in after the naming service could not be used.
	DefaultNamingRetry = time.Minute
	// DefaultOpenSSOUserAgent is the User-Agent of requests to the naming
	// and session services unless a config names another.
	DefaultOpenSSOUserAgent = "cisauth-opensso/1"
)

// NamingConfig configures a NamingClient. Only Env is required.
type NamingConfig struct {
	// Env is the CIS environment: its naming service
	// (Env.Endpoints().NamingService, on the SSB) is asked, its session
	// service (Env.Endpoints().SessionService) is the fallback, and its
	// trust anchors verify TLS.
	Env Environment
	// HTTPClient sends the requests; nil means Env.NewHTTPClient(Timeout).
	// A client given here is refused (ErrUnverifiedTransport) unless it
	// verifies TLS against exactly Env's trust anchors, as for SSBConfig.
	HTTPClient *http.Client
	// WrapTransport, if not nil, wraps the client's (verified) transport,
	// e.g. to count requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Timeout bounds each request (DefaultTimeout if zero).
	Timeout time.Duration
	// TTL is how long a session service URL found through the naming
	// service is kept (DefaultNamingTTL if zero).
	TTL time.Duration
	// Retry is how long the environment's session service URL is used
	// after a failed lookup before the naming service is asked again
	// (DefaultNamingRetry if zero).
	Retry time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives a warning when the naming service cannot be used
	// (nil discards them).
	Logger *slog.Logger
	// UserAgent is sent with each request (DefaultOpenSSOUserAgent if
	// empty).
	UserAgent string
}

// NamingClient finds the OpenSSO session service of a CIS environment the
// way OpenSSO clients do, through the naming service, and remembers the
// answer. It is safe for concurrent use.
type NamingClient struct {
	openSSO
	endpoint string // the naming service
	fallback string // the environment's own session service
	ttl      time.Duration
	retry    time.Duration
	group    singleflight.Group

	mu     sync.Mutex
	cached string
	until  time.Time
}

// NewNamingClient checks cfg and returns a client.
func NewNamingClient(cfg NamingConfig) (*NamingClient, error) {
	e := cfg.Env
	for _, u := range []struct{ name, url string }{{"ssb url", e.SSBURL}, {"gas url", e.GASURL}} {
		if err := checkBaseURL(u.url); err != nil {
			return nil, fmt.Errorf("cis: naming client: environment %q: %s: %w", e.Name, u.name, err)
		}
	}
	if (strings.HasPrefix(e.SSBURL, "https:") || strings.HasPrefix(e.GASURL, "https:")) && len(e.Roots) == 0 {
		return nil, fmt.Errorf("cis: naming client: environment %q: https needs trust anchors", e.Name)
	}
	if cfg.Timeout < 0 || cfg.TTL < 0 || cfg.Retry < 0 {
		return nil, errors.New("cis: naming client: negative duration")
	}
	c := &NamingClient{
		openSSO:  openSSO{env: e, timeout: cfg.Timeout, now: cfg.Now, log: cfg.Logger, ua: cfg.UserAgent},
		endpoint: e.Endpoints().NamingService, fallback: e.Endpoints().SessionService,
		ttl: cfg.TTL, retry: cfg.Retry,
	}
	setDefaultDuration(&c.timeout, DefaultTimeout)
	setDefaultDuration(&c.ttl, DefaultNamingTTL)
	setDefaultDuration(&c.retry, DefaultNamingRetry)
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.ua == "" {
		c.ua = DefaultOpenSSOUserAgent
	}
	var err error
	if c.client, err = e.httpClient(cfg.HTTPClient, c.timeout, cfg.WrapTransport); err != nil {
		return nil, fmt.Errorf("cis: naming client: %w", err)
	}
	return c, nil
}

func setDefaultDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

const namingOp = "naming service"

// GetNamingProfile asks the naming service for its profile, without the
// cache. Errors wrap ErrMalformed, ErrTooLarge, ErrTimeout, ErrTrust,
// ErrUnavailable or ErrMaintenance.
func (c *NamingClient) GetNamingProfile(ctx context.Context) (*NamingProfile, error) {
	body, err := c.post(ctx, c.endpoint, NamingProfileRequest(), namingOp, MaxNamingResponseSize)
	if err != nil {
		return nil, err
	}
	return ParseNamingProfileResponse(body)
}

// SessionServiceURL returns the URL of the session service: the one the
// naming service names (NamingProfile.SessionServiceURL), kept for the
// TTL, or — while the naming service cannot be reached or gives no usable
// URL — the environment's own (Env.Endpoints().SessionService), for the
// Retry interval, after logging why. It never fails. Callers asking at
// once share one lookup, bounded by the client's timeout whatever ctx
// says.
func (c *NamingClient) SessionServiceURL(ctx context.Context) string {
	if u := c.fresh(); u != "" {
		return u
	}
	v, _, _ := c.group.Do("", func() (any, error) {
		// A lookup that ended between fresh and Do has filled the cache.
		if u := c.fresh(); u != "" {
			return u, nil
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		u, ttl := c.lookup(lctx), c.ttl
		if u == c.fallback {
			ttl = c.retry
		}
		c.mu.Lock()
		c.cached, c.until = u, c.now().Add(ttl)
		c.mu.Unlock()
		return u, nil
	})
	return v.(string)
}

// fresh returns the cached URL if it is still good, else "".
func (c *NamingClient) fresh() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now().Before(c.until) {
		return c.cached
	}
	return ""
}

// lookup asks the naming service; the fallback if that fails.
func (c *NamingClient) lookup(ctx context.Context) string {
	p, err := c.GetNamingProfile(ctx)
	var u string
	if err == nil {
		u, err = p.SessionServiceURL(c.endpoint)
	}
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "naming service not usable; using the environment's session service URL",
			slog.String("session_service", c.fallback), slog.Duration("retry_in", c.retry), slog.String("error", err.Error()))
		return c.fallback
	}
	return u
}

// openSSO sends PLL requests (RequestSet in, ResponseSet out) to OpenSSO
// services: the naming service and the session service.
type openSSO struct {
	env     Environment
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
	log     *slog.Logger
	ua      string
}

// post sends body to endpoint and returns the body of a 2xx answer, at
// most limit bytes. Neither the request body (it may carry a ticket) nor
// the answer appears in an error.
func (o *openSSO) post(ctx context.Context, endpoint string, body []byte, op string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("cis: %s: cannot build the request: %w", op, ErrUnavailable)
	}
	req.Header.Set("Content-Type", "text/xml;charset=UTF-8")
	req.Header.Set("User-Agent", o.ua)
	resp, answer, err := roundTrip(ctx, o.client, req, op, limit)
	if err != nil {
		if !errors.Is(err, ErrTooLarge) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrTrust) {
			if me := o.env.maintenanceError(o.now(), nil, nil, err); me != nil {
				return nil, me
			}
		}
		return nil, err
	}
	if err := o.env.statusError(o.now(), op, resp, answer); err != nil {
		return nil, err
	}
	return answer, nil
}
