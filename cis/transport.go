package cis

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds each request to CIS when a Config gives none.
const DefaultTimeout = 15 * time.Second

// NewHTTPClient returns an HTTP client for talking to env: TLS verified
// against env's trust anchors only, no proxy from the environment, no
// redirects followed, and every request bounded by timeout (DefaultTimeout
// if zero).
func (e Environment) NewHTTPClient(timeout time.Duration) *http.Client {
	return newHTTPClient(e.TLSConfig(), timeout)
}

// newHTTPClient is NewHTTPClient with the TLS configuration given.
func newHTTPClient(tlsConf *tls.Config, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		TLSClientConfig:       tlsConf,
		DialContext:           (&net.Dialer{Timeout: timeout}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ErrUnverifiedTransport means a caller's HTTP client would not verify TLS
// against the environment's trust anchors, so a client refuses to use it.
var ErrUnverifiedTransport = errors.New("cis: HTTP client does not verify TLS against the environment's trust anchors")

// httpClient returns the HTTP client a CIS client sends with. With given nil
// it is e.NewHTTPClient(timeout). Otherwise it is a copy of given that
// follows no redirects, after checking that given cannot bypass the trust
// anchors: when e uses https, its Transport must be an *http.Transport
// whose TLS configuration verifies against exactly e's trust anchors (as
// NewHTTPClient's does), with no custom TLS dialler or verification hook.
// wrap, if not nil, wraps the transport (for metrics or tracing) without
// replacing it.
func (e Environment) httpClient(given *http.Client, timeout time.Duration, wrap func(http.RoundTripper) http.RoundTripper) (*http.Client, error) {
	var c *http.Client
	if given == nil {
		c = e.NewHTTPClient(timeout)
	} else {
		if err := e.checkTransport(given.Transport); err != nil {
			return nil, err
		}
		cp := *given
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c = &cp
	}
	if wrap != nil {
		base := c.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c.Transport = wrap(base)
		if c.Transport == nil {
			return nil, errors.New("cis: WrapTransport returned nil")
		}
	}
	return c, nil
}

// checkTransport reports whether rt verifies TLS against e's trust anchors
// and nothing else (always true when e uses no https).
func (e Environment) checkTransport(rt http.RoundTripper) error {
	if !strings.HasPrefix(e.GASURL, "https:") && !strings.HasPrefix(e.SSBURL, "https:") {
		return nil
	}
	t, ok := rt.(*http.Transport)
	switch {
	case !ok:
		return fmt.Errorf("%w: its Transport is %T, not an *http.Transport this package can check (use WrapTransport to instrument the verified one)", ErrUnverifiedTransport, rt)
	case t.TLSClientConfig == nil || t.TLSClientConfig.RootCAs == nil:
		return fmt.Errorf("%w: its Transport trusts the system roots (build it with Environment.NewHTTPClient)", ErrUnverifiedTransport)
	case t.TLSClientConfig.InsecureSkipVerify || t.TLSClientConfig.VerifyPeerCertificate != nil || t.TLSClientConfig.VerifyConnection != nil:
		return fmt.Errorf("%w: its TLS configuration skips or replaces verification", ErrUnverifiedTransport)
	case t.DialTLSContext != nil || t.DialTLS != nil:
		return fmt.Errorf("%w: its Transport dials TLS itself", ErrUnverifiedTransport)
	case !t.TLSClientConfig.RootCAs.Equal(e.TLSConfig().RootCAs):
		return fmt.Errorf("%w: its roots are not environment %q's trust anchors", ErrUnverifiedTransport, e.Name)
	}
	return nil
}

// roundTrip sends req with client and reads at most limit bytes of the
// response body. It never returns an error that contains the request URL
// (which may carry a ticket): transport failures are mapped onto ErrTimeout,
// ErrTrust or ErrUnavailable with the operation's name op.
func roundTrip(ctx context.Context, client *http.Client, req *http.Request, op string, limit int64) (*http.Response, []byte, error) {
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, nil, transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, transportError(ctx, op, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("cis: %s: response larger than %d bytes: %w", op, limit, ErrTooLarge)
	}
	return resp, body, nil
}

// TransportError rebuilds an HTTP client error err of the operation op
// (e.g. "CIS2 token") without the request URL it may carry, sorted onto
// ErrTrust (TLS verification), ErrTimeout, context.Canceled or
// ErrUnavailable, as this package's own clients report them. Package cis2
// uses it for its requests to the provider.
func TransportError(ctx context.Context, op string, err error) error {
	return transportError(ctx, op, err)
}

// transportError rebuilds a client error without the URL it may carry.
func transportError(ctx context.Context, op string, err error) error {
	var ue *url.Error
	inner := err
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	var (
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		certInvalid x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		netErr      net.Error
	)
	switch {
	case errors.As(inner, &verifyErr), errors.As(inner, &unknownAuth), errors.As(inner, &hostErr), errors.As(inner, &certInvalid):
		return fmt.Errorf("cis: %s: %w: %s", op, ErrTrust, redactedCause(inner))
	case errors.As(inner, &recordErr):
		return fmt.Errorf("cis: %s: %w: server did not speak TLS", op, ErrUnavailable)
	case errors.Is(inner, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("cis: %s: %w", op, ErrTimeout)
	case errors.Is(inner, context.Canceled):
		return fmt.Errorf("cis: %s: %w", op, context.Canceled)
	case errors.As(inner, &netErr) && netErr.Timeout():
		return fmt.Errorf("cis: %s: %w", op, ErrTimeout)
	}
	return fmt.Errorf("cis: %s: %w: %s", op, ErrUnavailable, redactedCause(inner))
}

// redactedCause returns the text of a transport error; url.Error has been
// peeled off already, and the remaining net and TLS errors name hosts and
// certificates, not request URLs.
func redactedCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// maintenanceError returns a *MaintenanceError if the failure err happened
// while env is in a maintenance slot at now, or if resp is the service's own
// maintenance answer (503 whose body mentions maintenance; a Retry-After
// HTTP date gives the end). Otherwise it returns nil.
func (e Environment) maintenanceError(now time.Time, resp *http.Response, body []byte, err error) error {
	if resp != nil && resp.StatusCode == http.StatusServiceUnavailable && containsFold(body, "maintenance") {
		me := &MaintenanceError{Err: err}
		if slot, ends, in := e.MaintenanceAt(now); in {
			me.Slot, me.Ends = slot.Label(), ends
		}
		if t, perr := http.ParseTime(resp.Header.Get("Retry-After")); perr == nil {
			me.Ends = t
		}
		return me
	}
	if err == nil {
		return nil
	}
	if slot, ends, in := e.MaintenanceAt(now); in {
		return &MaintenanceError{Slot: slot.Label(), Ends: ends, Err: err}
	}
	return nil
}

// statusError maps a non-2xx answer to an error: maintenance (see
// maintenanceError), ErrUnavailable for 5xx, ErrMalformed otherwise. It
// returns nil for 2xx.
func (e Environment) statusError(now time.Time, op string, resp *http.Response, body []byte) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var err error
	if resp.StatusCode >= 500 {
		err = fmt.Errorf("cis: %s: HTTP %d: %w", op, resp.StatusCode, ErrUnavailable)
	} else {
		err = fmt.Errorf("cis: %s: HTTP %d: %w", op, resp.StatusCode, ErrMalformed)
	}
	if me := e.maintenanceError(now, resp, body, err); me != nil {
		return me
	}
	return err
}

func containsFold(b []byte, s string) bool {
	return bytes.Contains(bytes.ToLower(b), []byte(s))
}
