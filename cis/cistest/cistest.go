// Package cistest starts the CIS simulator (package cissim) in-process for
// suppliers' own tests, in the spirit of net/http/httptest: one call gives
// a TLS server with users, a cis.Environment that trusts it, and live SSO
// tickets obtained by a real smartcard-style login through GAS — a
// software RSA key with a certificate from the simulator's card CA signs
// the challenge, so no card or reader is needed.
//
//	srv := cistest.NewServer(t)                  // demo users; closed by t.Cleanup
//	ticket := srv.MustLogin(t, "555000000001", "555000000101")
//	ssb, _ := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
//	a, err := ssb.Validate(ctx, ticket)          // what your server does
//	srv.Logout(ticket)                           // … and now it must fail
//
// The simulator's CIS2 (OpenID Connect) provider is on the same server:
// RegisterOIDCClient gives a client and an environment for a relying party,
// Authorize plays the browser's part at /authorize (see oidc.go).
//
// NewServerWithConfig takes the rest of the simulator's configuration, for
// instance the card CA of a SoftHSM2 token or of test cards issued
// elsewhere, or a metrics registry to count requests.
//
// It is for tests only: the card key is generated per server and the
// simulator trusts nothing but its own card CA and the card CAs given to
// NewServerWithConfig.
package cistest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
)

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of GAS and SSB, https://127.0.0.1:port.
	URL string

	ts      *httptest.Server
	sim     *cissim.Simulator
	env     cis.Environment
	cardCA  *x509.Certificate
	cardKey crypto.Signer

	once    sync.Once
	userKey *rsa.PrivateKey
	gas     *cis.GASClient
	initErr error

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// NewServer starts a simulator over TLS with the given users (the demo
// users, cissim.DemoUsers, if none) and closes it when the test ends.
func NewServer(t testing.TB, users ...cis.User) *Server {
	t.Helper()
	return NewServerWithConfig(t, cissim.Config{Users: users})
}

// NewServerWithConfig is NewServer with the rest of the simulator's
// configuration (see StartWithConfig): card CAs of your own (a SoftHSM2
// token's or a test card's issuer), a metrics registry, session lifetimes,
// injected faults.
func NewServerWithConfig(t testing.TB, cfg cissim.Config) *Server {
	t.Helper()
	s, err := StartWithConfig(cfg)
	if err != nil {
		t.Fatalf("cistest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start is NewServer for code without a testing.TB (examples, demos): the
// caller must Close the server.
func Start(users ...cis.User) (*Server, error) {
	return StartWithConfig(cissim.Config{Users: users})
}

// StartWithConfig is NewServerWithConfig for code without a testing.TB:
// the caller must Close the server. cfg is used as given, except that
// empty Users means the demo users, the server's own card CA (CardCA) is
// trusted in addition to cfg.CardCAs, and BaseURL is always the server's
// address.
func StartWithConfig(cfg cissim.Config) (*Server, error) {
	if len(cfg.Users) == 0 {
		cfg.Users = cissim.DemoUsers()
	}
	ca, caKey, err := cissim.NewCardCA("SubCA cistest", nil, time.Now())
	if err != nil {
		return nil, err
	}
	cfg.CardCAs = append([]*x509.Certificate{ca}, cfg.CardCAs...)
	ts := httptest.NewUnstartedServer(nil)
	base := "https://" + ts.Listener.Addr().String()
	cfg.BaseURL = base
	sim, err := cissim.New(cfg)
	if err != nil {
		ts.Close()
		return nil, err
	}
	ts.Config.Handler = sim
	ts.StartTLS()
	s := &Server{
		URL: base, ts: ts, sim: sim, cardCA: ca, cardKey: caKey,
		env: cis.Environment{
			Name: "cistest", GASURL: base, SSBURL: base, PortalURL: base + "/",
			Roots: []*x509.Certificate{ts.Certificate()},
		},
		certs: make(map[string]*x509.Certificate),
	}
	return s, nil
}

// Close shuts the server down.
func (s *Server) Close() { s.ts.Close() }

// Env returns an environment for the server: its URLs and, as the only
// trust anchor, its TLS certificate. Hand it to cis.NewSSBClient or your
// middleware's configuration.
func (s *Server) Env() cis.Environment {
	e := s.env
	e.Roots = append([]*x509.Certificate(nil), s.env.Roots...)
	return e
}

// Simulator returns the simulator for finer control (sessions list,
// in-process session creation, maintenance).
func (s *Server) Simulator() *cissim.Simulator { return s.sim }

// Client returns an HTTP client that trusts the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// CardCA returns the card CA the simulator trusts, and its key, for tests
// that issue their own card certificates (cissim.IssueCardCert).
func (s *Server) CardCA() (*x509.Certificate, crypto.Signer) { return s.cardCA, s.cardKey }

func (s *Server) init() error {
	s.once.Do(func() {
		// One software "card" key per server, RSA-2048 as on newer cards.
		s.userKey, s.initErr = rsa.GenerateKey(rand.Reader, 2048)
		if s.initErr != nil {
			return
		}
		s.gas, s.initErr = cis.NewGASClient(cis.GASConfig{Env: s.env, DeviceID: "c1stest0", ClientIP: "127.0.0.1"})
	})
	return s.initErr
}

// CardCertificate returns a card certificate for uid over the server's
// software card key, issued by its card CA (cached per uid).
func (s *Server) CardCertificate(uid string) (*x509.Certificate, crypto.Signer, error) {
	if err := s.init(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.certs[uid]; ok {
		return c, s.userKey, nil
	}
	c, err := cissim.IssueCardCert(s.cardCA, s.cardKey, uid, s.userKey.Public(), time.Time{}, time.Time{}, nil)
	if err != nil {
		return nil, nil, err
	}
	s.certs[uid] = c
	return c, s.userKey, nil
}

// Login logs uid in through GAS as the Identity Agent would (activate,
// sign the challenge, validate) and selects roleID in live mode; an empty
// roleID selects the user's first role. It returns the SSO ticket
// (LoginSession returns the whole GAS session).
func (s *Server) Login(ctx context.Context, uid, roleID string) (cis.Ticket, error) {
	sess, err := s.LoginSession(ctx, uid, roleID)
	if err != nil {
		return "", err
	}
	return sess.Ticket, nil
}

// MustLogin is Login that fails the test on error.
func (s *Server) MustLogin(t testing.TB, uid, roleID string) cis.Ticket {
	t.Helper()
	return s.MustLoginSession(t, uid, roleID).Ticket
}

// ErrNoSession means the ticket names no live session.
var ErrNoSession = cissim.ErrNoSession

// ExpireSession ends the ticket's session as if it had timed out.
func (s *Server) ExpireSession(t cis.Ticket) error { return s.sim.ExpireTicket(t) }

// Logout ends the ticket's session as a logout (or card removal) would.
func (s *Server) Logout(t cis.Ticket) error { return s.sim.LogoutTicket(t) }

// SetMaintenance switches the simulator's maintenance answer (HTTP 503
// and a maintenance page) on or off.
func (s *Server) SetMaintenance(on bool) { s.sim.SetMaintenance(on) }
