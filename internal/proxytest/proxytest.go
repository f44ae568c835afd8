// Package proxytest holds what the tests of cis-proxy (internal/proxy,
// cmd/cis-proxy) and of the apps behind it share: an upstream that echoes
// what reached it, and a ticket login through the proxy as a thick client
// makes it.
//
// It is for tests only.
package proxytest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware"
)

// Seen is what the echo upstream received.
type Seen struct {
	Method string
	Path   string
	Header http.Header
}

// Echo answers a request with its method, path and headers as JSON (a
// Seen).
func Echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Seen{Method: r.Method, Path: r.URL.Path, Header: r.Header})
}

// EchoUpstream starts an upstream that answers with Echo, closed when the
// test ends.
func EchoUpstream(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(Echo))
	t.Cleanup(srv.Close)
	return srv
}

// Saw decodes an Echo answer; the test fails if body is not one.
func Saw(t testing.TB, body string) Seen {
	t.Helper()
	var s Seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("not an upstream answer: %v: %q", err, body)
	}
	return s
}

// Login posts ticket to loginURL (the proxy's /cis/login) in the
// X-CIS-Ticket header, as a thick client does, with c (whose jar, if any,
// keeps the session cookie). The test fails unless the answer is 200; the
// response's body is read and closed.
func Login(t testing.TB, c *http.Client, loginURL string, ticket cis.Ticket) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, loginURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(middleware.TicketHeader, ticket.Reveal())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login at %s: %s: %s", loginURL, resp.Status, body)
	}
	return resp
}
