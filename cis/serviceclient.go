package cis

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// serviceClient is what the clients of one CIS service share: where they
// send, how long and how much they wait for, their clock, log and
// User-Agent, and how a request's failures become this package's errors.
type serviceClient struct {
	env      Environment
	client   *http.Client
	endpoint string
	timeout  time.Duration
	limit    int64
	now      func() time.Time
	log      *slog.Logger
	ua       string
}

// newServiceClient fills in the defaults: DefaultTimeout, an HTTP client
// trusting env's anchors only, maxLimit for a limit that is zero or larger,
// time.Now, a discarding logger and defaultUA.
func newServiceClient(env Environment, hc *http.Client, endpoint string, timeout time.Duration, limit, maxLimit int64,
	now func() time.Time, logger *slog.Logger, ua, defaultUA string) serviceClient {
	c := serviceClient{env: env, client: hc, endpoint: endpoint, timeout: timeout, limit: limit, now: now, log: logger, ua: ua}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.client == nil {
		c.client = env.NewHTTPClient(c.timeout)
	}
	if c.limit <= 0 || c.limit > maxLimit {
		c.limit = maxLimit
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.ua == "" {
		c.ua = defaultUA
	}
	return c
}

// do sends req (its context bounded by the timeout, its User-Agent set)
// and returns the body of a 2xx answer, at most limit bytes. Transport
// failures are ErrTimeout, ErrTrust or ErrUnavailable, and a failure
// during a maintenance slot (or the service's maintenance answer) is a
// *MaintenanceError; a trust failure stays ErrTrust even in a slot: a
// certificate that does not verify is never "just maintenance". Errors
// never hold the request's URL or body (they may carry a ticket).
func (c *serviceClient) do(req *http.Request, op string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	defer cancel()
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", c.ua)
	resp, body, err := roundTrip(ctx, c.client, req, op, c.limit)
	if err != nil {
		if !errors.Is(err, ErrTooLarge) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrTrust) {
			if me := c.env.maintenanceError(c.now(), nil, nil, err); me != nil {
				return nil, me
			}
		}
		return nil, err
	}
	if err := c.env.statusError(c.now(), op, resp, body); err != nil {
		return nil, err
	}
	return body, nil
}
