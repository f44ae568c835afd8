package cistest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
)

// The simulator's CIS2 (OpenID Connect) provider, for tests of relying
// parties:
//
//	srv := cistest.NewServer(t)
//	client := srv.MustOIDCClient(t, "http://127.0.0.1:8080/cis/oidc/callback")
//	rp, _ := cis2.New(ctx, cis2.Config{Env: client.Env, ClientSecret: client.Secret})
//	req, _ := rp.Begin(cis2.BeginOptions{})
//	ticket := srv.MustLogin(t, "555000000001", "")           // the smartcard session
//	callback := srv.MustAuthorize(t, nil, req.URL, ticket, "") // the browser's part
//	login, err := rp.Finish(ctx, &req.Pending, callback.RawQuery)

// OIDCClient is a relying party registered with the server's provider.
type OIDCClient struct {
	// ID and Secret are the client's credentials (client_secret_basic).
	ID, Secret string
	// RedirectURL is its registered redirect URI.
	RedirectURL string
	// Env is the server's environment with the oidc block filled in:
	// issuer, client id, redirect URL and the server's TLS certificate as
	// the only trust anchor. The secret is not in it (environments name
	// secret files); pass Secret to the relying party.
	Env cis.Environment
}

// OIDCIssuer returns the provider's issuer: the server's URL plus
// cissim.OIDCRealmPath.
func (s *Server) OIDCIssuer() string { return s.URL + cissim.OIDCRealmPath }

// OIDCEnv returns Env with the provider's issuer and trust anchor, and no
// client registration.
func (s *Server) OIDCEnv() cis.Environment {
	e := s.Env()
	e.OIDC = cis.OIDCSettings{Issuer: s.OIDCIssuer(), Roots: e.Roots}
	return e
}

// RegisterOIDCClient registers a client with a random id and secret and the
// given redirect URIs (the first is the client's RedirectURL), and with
// them, plus "/logged-out", as post-logout redirect URIs.
func (s *Server) RegisterOIDCClient(redirectURLs ...string) (OIDCClient, error) {
	if len(redirectURLs) == 0 {
		return OIDCClient{}, errors.New("cistest: no redirect URL")
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return OIDCClient{}, err
	}
	id := "cistest-" + base64.RawURLEncoding.EncodeToString(b[:6]) + ".apps.national"
	secret := base64.RawURLEncoding.EncodeToString(b[6:])
	var logout []string
	for _, u := range redirectURLs {
		logout = append(logout, u, strings.TrimSuffix(u, "/")+"/logged-out")
	}
	c := cissim.OIDCClient{ID: id, Secret: secret, RedirectURIs: redirectURLs, PostLogoutRedirectURIs: logout}
	if err := s.sim.RegisterOIDCClient(c); err != nil {
		return OIDCClient{}, err
	}
	env := s.OIDCEnv()
	env.OIDC.ClientID, env.OIDC.RedirectURL = id, redirectURLs[0]
	return OIDCClient{ID: id, Secret: secret, RedirectURL: redirectURLs[0], Env: env}, nil
}

// MustOIDCClient is RegisterOIDCClient that fails the test on error.
func (s *Server) MustOIDCClient(t testing.TB, redirectURLs ...string) OIDCClient {
	t.Helper()
	c, err := s.RegisterOIDCClient(redirectURLs...)
	if err != nil {
		t.Fatalf("cistest: %v", err)
	}
	return c
}

// Browser returns an HTTP client that behaves as a test's browser: it keeps
// cookies, trusts the server, and stops at redirects (the caller looks at
// Location).
func (s *Server) Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *s.ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Limits on what Authorize reads.
const maxPage = 1 << 20

var (
	csrfField        = regexp.MustCompile(`name="csrf" value="([A-Za-z0-9_-]+)"`)
	interactionField = regexp.MustCompile(`name="interaction" value="([A-Za-z0-9_-]+)"`)
	roleField        = regexp.MustCompile(`name="role" value="([0-9A-Za-z]+)"`)
)

// Authorize is the package function Authorize with browser defaulting to a
// fresh s.Browser().
func (s *Server) Authorize(ctx context.Context, browser *http.Client, authURL string, ticket cis.Ticket, roleID string) (*url.URL, error) {
	if browser == nil {
		browser = s.Browser()
	}
	return Authorize(ctx, browser, authURL, ticket, roleID)
}

// Authorize plays the browser's part at a simulator's CIS2 provider (an
// in-process Server's or a cis-sim command's): it opens authURL (the
// relying party's authorization URL) with browser, which must keep cookies
// and not follow redirects (see Server.Browser), posts the ticket as the
// page does after asking the agent, chooses roleID if the provider asks for
// a role (the first offered if roleID is empty), and returns the URL the
// provider then redirects to: the relying party's redirect URI with a code
// and state, or with an error. A page instead of a redirect (an
// unregistered redirect URI, a refused ticket) is an error quoting its
// status.
func Authorize(ctx context.Context, browser *http.Client, authURL string, ticket cis.Ticket, roleID string) (*url.URL, error) {
	resp, page, err := fetch(ctx, browser, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	if loc := redirectOf(resp); loc != nil {
		return loc, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cistest: authorize: HTTP %d page instead of a redirect", resp.StatusCode)
	}
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return nil, errors.New("cistest: authorize: no csrf field on the page")
	}
	form := url.Values{"csrf": {string(m[1])}, "ticket": {ticket.Reveal()}}
	for range 2 { // the ticket, then perhaps the role
		resp, page, err = fetch(ctx, browser, http.MethodPost, authURL, form)
		if err != nil {
			return nil, err
		}
		if loc := redirectOf(resp); loc != nil {
			return loc, nil
		}
		im := interactionField.FindSubmatch(page)
		if resp.StatusCode != http.StatusOK || im == nil {
			return nil, fmt.Errorf("cistest: authorize: HTTP %d page instead of a redirect", resp.StatusCode)
		}
		choice := roleID
		if choice == "" {
			if rm := roleField.FindSubmatch(page); rm != nil {
				choice = string(rm[1])
			}
		}
		form = url.Values{"csrf": {string(m[1])}, "interaction": {string(im[1])}, "role": {choice}}
	}
	return nil, errors.New("cistest: authorize: asked for a role twice")
}

// MustAuthorize is Authorize that fails the test on error.
func (s *Server) MustAuthorize(t testing.TB, browser *http.Client, authURL string, ticket cis.Ticket, roleID string) *url.URL {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := s.Authorize(ctx, browser, authURL, ticket, roleID)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return u
}

// fetch sends one request and reads at most maxPage bytes of the answer.
func fetch(ctx context.Context, c *http.Client, method, u string, form url.Values) (*http.Response, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, nil, fmt.Errorf("cistest: authorize: %w", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cistest: authorize: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	return resp, b, err
}

// redirectOf returns the Location of a redirect answer, or nil.
func redirectOf(resp *http.Response) *url.URL {
	switch resp.StatusCode {
	case http.StatusFound, http.StatusSeeOther:
		if u, err := resp.Location(); err == nil {
			return u
		}
	}
	return nil
}
