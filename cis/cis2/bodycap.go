package cis2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/opencis/cisauth/cis"
)

// capTransport bounds every response body: go-oidc and x/oauth2 read whole
// bodies, so the limit is enforced underneath them. A body longer than the
// limit fails the read with errBodyTooLarge (and marks the request's
// overflow flag, if its context carries one, since the libraries format
// read errors with %v and lose the chain).
type capTransport struct {
	base  http.RoundTripper
	limit int64
}

var errBodyTooLarge = errors.New("response body larger than the limit")

type overflowKey struct{}

// withOverflowFlag returns ctx carrying a flag capTransport sets when it
// cuts a body short.
func withOverflowFlag(ctx context.Context) (context.Context, *atomic.Bool) {
	f := new(atomic.Bool)
	return context.WithValue(ctx, overflowKey{}, f), f
}

// RoundTrip sends req and caps the response body.
func (t *capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	flag, _ := req.Context().Value(overflowKey{}).(*atomic.Bool)
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		if flag != nil {
			flag.Store(true)
		}
		return nil, fmt.Errorf("%d-byte answer: %w", resp.ContentLength, errBodyTooLarge)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.limit, flag: flag}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
	flag *atomic.Bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		if b.flag != nil {
			b.flag.Store(true)
		}
		return 0, errBodyTooLarge
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// transportError sorts a failed request: a body over the limit is
// cis.ErrTooLarge, anything else as cis.TransportError sorts it (without
// the URL).
func (rp *RelyingParty) transportError(ctx context.Context, op string, err error) error {
	if errors.Is(err, errBodyTooLarge) {
		return fmt.Errorf("cis2: %s: answer larger than %d bytes: %w", op, rp.limit, cis.ErrTooLarge)
	}
	return cis.TransportError(ctx, op, err)
}
