package cis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultSSBUserAgent is the User-Agent the SSB client sends unless its
// config names another.
const DefaultSSBUserAgent = "cisauth-ssb/1"

// SSBConfig configures an SSBClient. Only Env is required.
type SSBConfig struct {
	// Env is the CIS environment whose SSB is asked and whose trust anchors
	// verify its TLS certificate.
	Env Environment
	// HTTPClient sends the requests. Nil means Env.NewHTTPClient(Timeout):
	// TLS verified against Env.Roots only, no redirects. A client given
	// here is copied with redirects turned off, and refused
	// (ErrUnverifiedTransport) unless, for an https environment, its
	// Transport is an *http.Transport verifying against exactly Env.Roots
	// (such as Env.NewHTTPClient's): it can tune timeouts and pools, never
	// bypass the trust anchors.
	HTTPClient *http.Client
	// WrapTransport, if not nil, wraps the client's (verified) transport,
	// e.g. to count requests or time them; it must call the transport it
	// is given.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Timeout bounds each request (DefaultTimeout if zero); it is applied
	// as a context deadline even with a caller's HTTPClient.
	Timeout time.Duration
	// MaxResponse bounds the response body read (MaxAssertionSize if zero
	// or larger).
	MaxResponse int64
	// Skew is the clock skew allowed around the assertion's validity window
	// (DefaultSkew if zero; negative is an error).
	Skew time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives debug and warning records, never the ticket (nil
	// discards them).
	Logger *slog.Logger
	// UserAgent is sent with each request (DefaultSSBUserAgent if empty).
	UserAgent string
}

// SSBClient asks the Spine Security Broker who an SSO ticket belongs to. It
// is safe for concurrent use.
type SSBClient struct {
	env      Environment
	client   *http.Client
	endpoint string
	timeout  time.Duration
	limit    int64
	skew     time.Duration
	now      func() time.Time
	log      *slog.Logger
	ua       string
}

// NewSSBClient checks cfg and returns a client.
func NewSSBClient(cfg SSBConfig) (*SSBClient, error) {
	if err := checkBaseURL(cfg.Env.SSBURL); err != nil {
		return nil, fmt.Errorf("cis: SSB client: environment %q: ssb url: %w", cfg.Env.Name, err)
	}
	if strings.HasPrefix(cfg.Env.SSBURL, "https:") && len(cfg.Env.Roots) == 0 {
		return nil, fmt.Errorf("cis: SSB client: environment %q: https needs trust anchors", cfg.Env.Name)
	}
	if cfg.Skew < 0 {
		return nil, fmt.Errorf("cis: SSB client: negative clock skew %s", cfg.Skew)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("cis: SSB client: negative timeout %s", cfg.Timeout)
	}
	c := &SSBClient{
		env:      cfg.Env,
		endpoint: cfg.Env.Endpoints().RoleAssertion,
		timeout:  cfg.Timeout,
		limit:    cfg.MaxResponse,
		skew:     cfg.Skew,
		now:      cfg.Now,
		log:      cfg.Logger,
		ua:       cfg.UserAgent,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	var err error
	if c.client, err = cfg.Env.httpClient(cfg.HTTPClient, c.timeout, cfg.WrapTransport); err != nil {
		return nil, fmt.Errorf("cis: SSB client: %w", err)
	}
	if c.limit <= 0 || c.limit > MaxAssertionSize {
		c.limit = MaxAssertionSize
	}
	if c.skew == 0 {
		c.skew = DefaultSkew
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.ua == "" {
		c.ua = DefaultSSBUserAgent
	}
	return c, nil
}

const roleAssertionOp = "SSB RoleAssertion"

// RoleAssertion fetches the raw RoleAssertion for t: GET
// <ssb>/saml/RoleAssertion?token=<t URL-encoded>, the body bounded by the
// configured size. It does not parse it; errors never contain the ticket.
// An empty ticket fails with ErrSessionInvalid without a request.
func (c *SSBClient) RoleAssertion(ctx context.Context, t Ticket) ([]byte, error) {
	if err := checkTicket(roleAssertionOp, t); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"?token="+url.QueryEscape(t.Reveal()), nil)
	if err != nil {
		// The URL holds the ticket: do not quote err.
		return nil, fmt.Errorf("cis: %s: cannot build the request: %w", roleAssertionOp, ErrUnavailable)
	}
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "text/xml, application/xml")
	resp, body, err := roundTrip(ctx, c.client, req, roleAssertionOp, c.limit)
	if err != nil {
		// A trust failure stays ErrTrust even in a maintenance slot: a
		// certificate that does not verify is never "just maintenance".
		if !errors.Is(err, ErrTooLarge) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrTrust) {
			if me := c.env.maintenanceError(c.now(), nil, nil, err); me != nil {
				return nil, me
			}
		}
		return nil, err
	}
	if err := c.env.statusError(c.now(), roleAssertionOp, resp, body); err != nil {
		return nil, err
	}
	return body, nil
}

// Validate asks the SSB for t's RoleAssertion, parses it strictly and
// checks that it is about t (the SSB echoes the ticket in the subject
// confirmation, and an assertion that echoes another ticket or none is
// ErrMalformed) and its validity window against the
// configured clock and skew. It
// returns the user with all their role profiles and the selected role.
//
// Errors wrap ErrSessionInvalid (empty, unknown, expired or logged-out
// ticket), ErrExpired, ErrMalformed, ErrTooLarge, ErrTimeout, ErrTrust,
// ErrUnavailable or ErrMaintenance (a *MaintenanceError). None contains the
// ticket. Validate is safe for concurrent use; the result is the caller's.
func (c *SSBClient) Validate(ctx context.Context, t Ticket) (*Assertion, error) {
	body, err := c.RoleAssertion(ctx, t)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "SSB RoleAssertion request failed", slog.String("error", err.Error()))
		return nil, err
	}
	a, echo, err := parseRoleAssertionEcho(body, false)
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, ErrSessionInvalid) {
			level = slog.LevelInfo
		}
		c.log.LogAttrs(ctx, level, "SSB RoleAssertion refused", slog.String("error", err.Error()))
		return nil, err
	}
	if !echo.isFor(t) {
		// Defence in depth: the SSB echoes the ticket it answered for.
		err := fmt.Errorf("cis: %s: the assertion is not about the ticket asked for: %w", roleAssertionOp, ErrMalformed)
		c.log.LogAttrs(ctx, slog.LevelWarn, "SSB RoleAssertion refused", slog.String("error", err.Error()))
		return nil, err
	}
	if err := a.CheckTime(c.now(), c.skew); err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "SSB RoleAssertion outside its validity window",
			slog.String("assertion_id", a.AssertionID), slog.String("error", err.Error()))
		return nil, err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "SSB RoleAssertion valid",
		slog.String("uid", a.User.UID), slog.String("role", a.SelectedRoleID),
		slog.String("mode", a.Mode.String()), slog.Int("roles", len(a.User.Roles)))
	return a, nil
}
