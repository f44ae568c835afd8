package cis

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// countingTransport counts the requests it passes on.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// A caller's HTTP client cannot bypass the environment's trust anchors or
// its no-redirect policy: both clients refuse an unverified transport, and
// copy an acceptable client with redirects off.
func TestCallerHTTPClient(t *testing.T) {
	srv := newSSBServer(t, serveFixture(t, "single-role.xml"))
	env := srv.env()
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	otherRoots := selfSignedCA(t)
	other := Environment{Name: "other", GASURL: env.GASURL, SSBURL: env.SSBURL, Roots: append(env.Roots[:0:0], otherRoots)}
	dialer := env.NewHTTPClient(time.Second)
	dialer.Transport.(*http.Transport).DialTLSContext = func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("x") }
	refused := map[string]*http.Client{
		"default transport (system roots)": {},
		"http.DefaultClient":               http.DefaultClient,
		"InsecureSkipVerify":               insecure,
		"another environment's roots":      other.NewHTTPClient(time.Second),
		"a wrapped transport":              {Transport: &countingTransport{base: env.NewHTTPClient(time.Second).Transport}},
		"its own TLS dialler":              dialer,
	}
	for name, hc := range refused {
		if _, err := NewSSBClient(SSBConfig{Env: env, HTTPClient: hc}); !errors.Is(err, ErrUnverifiedTransport) {
			t.Errorf("SSB client with %s: %v", name, err)
		}
		if _, err := NewGASClient(GASConfig{Env: env, HTTPClient: hc}); !errors.Is(err, ErrUnverifiedTransport) {
			t.Errorf("GAS client with %s: %v", name, err)
		}
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests sent by refused clients", n)
	}

	// A client built from the environment, tuned by the caller, is fine;
	// WrapTransport instruments it without replacing it.
	tuned := env.NewHTTPClient(3 * time.Second)
	tuned.CheckRedirect = nil // follow redirects: the copy must not
	counter := &countingTransport{}
	c := newTestSSBClient(t, SSBConfig{Env: env, HTTPClient: tuned, WrapTransport: func(rt http.RoundTripper) http.RoundTripper {
		counter.base = rt
		return counter
	}})
	if _, err := c.Validate(context.Background(), fixtureTicket); err != nil {
		t.Fatal(err)
	}
	if counter.n.Load() != 1 {
		t.Errorf("WrapTransport saw %d requests, want 1", counter.n.Load())
	}
	if tuned.CheckRedirect != nil {
		t.Error("the caller's client was modified")
	}
}

// A redirect from the SSB is not followed, whatever the caller's client
// says: the ticket in the query never goes to the redirect's target.
func TestCallerHTTPClientNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	srv := newSSBServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal?"+r.URL.RawQuery, http.StatusFound)
	})
	env := srv.env()
	env.Roots = append(env.Roots, target.Certificate())
	follows := env.NewHTTPClient(3 * time.Second)
	follows.CheckRedirect = nil
	c := newTestSSBClient(t, SSBConfig{Env: env, HTTPClient: follows})
	if _, err := c.Validate(context.Background(), fixtureTicket); !errors.Is(err, ErrMalformed) {
		t.Errorf("Validate after a redirect: %v", err)
	}
	if elsewhere.Load() != 0 {
		t.Error("the redirect was followed: the ticket reached another server")
	}
}
