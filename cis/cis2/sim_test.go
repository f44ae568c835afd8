package cis2_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
)

const callbackURL = "http://127.0.0.1:8080/cis/oidc/callback"

// simRP is a relying party registered with a fresh simulator.
type simRP struct {
	srv    *cistest.Server
	client cistest.OIDCClient
	rp     *cis2.RelyingParty
	jwks   *atomic.Int64 // JWKS fetches
}

func newSimRP(t testing.TB, cfg cis2.Config, simCfg ...cissim.Config) *simRP {
	t.Helper()
	var sc cissim.Config
	if len(simCfg) > 0 {
		sc = simCfg[0]
	}
	srv := cistest.NewServerWithConfig(t, sc)
	client := srv.MustOIDCClient(t, callbackURL)
	jwks := new(atomic.Int64)
	cfg.Env = client.Env
	if cfg.ClientKey == nil {
		cfg.ClientSecret = client.Secret
	}
	cfg.WrapTransport = countJWKS(jwks)
	rp, err := cis2.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &simRP{srv: srv, client: client, rp: rp, jwks: jwks}
}

// countJWKS counts requests for the JWKS.
func countJWKS(n *atomic.Int64) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/connect/jwk_uri") {
				n.Add(1)
			}
			return rt.RoundTrip(r)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// login runs a whole login for uid (whose SSO session selects roleID
// through GAS; "" leaves it for the provider) and returns the result.
func (s *simRP) login(t testing.TB, uid, gasRole, promptRole string, opts cis2.BeginOptions) (*cis2.Login, error) {
	t.Helper()
	return s.loginWith(t, s.ticket(t, uid, gasRole), promptRole, opts)
}

// loginWith runs a whole login with the SSO session of ticket.
func (s *simRP) loginWith(t testing.TB, ticket cis.Ticket, promptRole string, opts cis2.BeginOptions) (*cis2.Login, error) {
	t.Helper()
	req, err := s.rp.Begin(opts)
	if err != nil {
		t.Fatal(err)
	}
	cb := s.srv.MustAuthorize(t, nil, req.URL, ticket, promptRole)
	return s.rp.Finish(context.Background(), &req.Pending, cb.RawQuery)
}

// ticket logs uid in through GAS; with role "" no role is selected.
func (s *simRP) ticket(t testing.TB, uid, role string) cis.Ticket {
	t.Helper()
	if role != "" {
		return s.srv.MustLogin(t, uid, role)
	}
	tk, err := s.srv.Simulator().CreateSession(uid, "", cis.ModeLive)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestLoginAgainstSimulator(t *testing.T) {
	s := newSimRP(t, cis2.Config{})
	l, err := s.login(t, "555000000002", "555000000205", "", cis2.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The same model as the legacy path: compare with the RoleAssertion.
	ticket := s.srv.MustLogin(t, "555000000002", "555000000205")
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: s.srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ssb.Validate(context.Background(), ticket)
	if err != nil {
		t.Fatal(err)
	}
	if l.User.UID != a.User.UID || l.User.Name != a.User.Name || l.SelectedRoleID != a.SelectedRoleID || len(l.User.Roles) != len(a.User.Roles) {
		t.Fatalf("CIS2 %+v\nlegacy %+v", l.User, a.User)
	}
	for i := range a.User.Roles {
		got, want := l.User.Roles[i], a.User.Roles[i]
		if got.ID != want.ID || got.OrgCode != want.OrgCode || got.OrgName != want.OrgName || got.JobRole != want.JobRole ||
			got.StaffGroup != want.StaffGroup || got.SubGroup != want.SubGroup || got.JobRoleCode != want.JobRoleCode ||
			!slices.Equal(got.Activities, want.Activities) {
			t.Errorf("role %d: CIS2 %+v\nlegacy %+v", i, got, want)
		}
	}
	if l.SelectedRole() == nil || !l.SelectedRole().HasActivity("B0264") {
		t.Errorf("selected role %+v", l.SelectedRole())
	}
	if l.ACR != "AAL3_ANY" || !slices.Equal(l.AMR, []string{"N3_SMARTCARD"}) || l.Subject != "555000000002" || l.SessionID == "" || l.AuthTime.IsZero() {
		t.Errorf("claims: %+v", l)
	}
	if l.Tokens.AccessToken.IsZero() || l.Tokens.RefreshToken.IsZero() || l.Tokens.IDToken.IsZero() || l.Tokens.Expiry.IsZero() {
		t.Errorf("tokens missing: %+v", l.Tokens)
	}
}

func TestLoginRoleChoice(t *testing.T) {
	s := newSimRP(t, cis2.Config{})
	// One role: selected without asking.
	l, err := s.login(t, "555000000001", "", "", cis2.BeginOptions{})
	if err != nil || l.SelectedRoleID != "555000000101" {
		t.Fatalf("one role: %v %+v", err, l)
	}
	// Two roles, none selected at the card: the provider asks.
	l, err = s.login(t, "555000000003", "", "555000000302", cis2.BeginOptions{})
	if err != nil || l.SelectedRoleID != "555000000302" {
		t.Fatalf("prompted: %v %+v", err, l)
	}
	// Selected through GAS: no question, that role.
	l, err = s.login(t, "555000000003", "555000000301", "555000000302", cis2.BeginOptions{})
	if err != nil || l.SelectedRoleID != "555000000301" {
		t.Fatalf("GAS role: %v %+v", err, l)
	}
	// prompt=login asks again.
	l, err = s.login(t, "555000000003", "555000000301", "555000000302", cis2.BeginOptions{Prompt: "login"})
	if err != nil || l.SelectedRoleID != "555000000302" {
		t.Fatalf("prompt=login: %v %+v", err, l)
	}
}

func TestLoginWithoutSelectedRoleScope(t *testing.T) {
	srv := cistest.NewServer(t)
	client := srv.MustOIDCClient(t, callbackURL)
	env := client.Env
	env.OIDC.Scopes = []string{"openid", "profile", "nationalrbacaccess", "associatedorgs"}
	rp, err := cis2.New(context.Background(), cis2.Config{Env: env, ClientSecret: client.Secret})
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := srv.Simulator().CreateSession("555000000003", "", cis.ModeLive)
	req, _ := rp.Begin(cis2.BeginOptions{})
	cb := srv.MustAuthorize(t, nil, req.URL, tk, "")
	l, err := rp.Finish(context.Background(), &req.Pending, cb.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if l.SelectedRoleID != "" || l.SelectedRole() != nil || len(l.User.Roles) != 2 {
		t.Fatalf("no role asked for and none chosen: %+v", l)
	}
}

func TestRevalidate(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	s := newSimRP(t, cis2.Config{Now: clock}, cissim.Config{Now: clock})
	ticket := s.srv.MustLogin(t, "555000000001", "555000000101")
	l, err := s.loginWith(t, ticket, "", cis2.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l2, err := s.rp.Revalidate(ctx, l)
	if err != nil || l2.User.UID != l.User.UID || l2.Tokens.AccessToken != l.Tokens.AccessToken {
		t.Fatalf("fresh token: %v", err)
	}
	// Past the access token's life: refreshed, new access token.
	now = now.Add(cissim.DefaultOIDCAccessTokenTTL + time.Second)
	l3, err := s.rp.Revalidate(ctx, l2)
	if err != nil {
		t.Fatal(err)
	}
	if l3.Tokens.AccessToken == l2.Tokens.AccessToken || !l3.Tokens.Expiry.After(now) {
		t.Error("not refreshed")
	}
	// The SSO session ends (card pulled): the grant is gone.
	if err := s.srv.Logout(ticket); err != nil {
		t.Fatal(err)
	}
	_, err = s.rp.Revalidate(ctx, l3)
	if !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("after logout: %v", err)
	}
	if st, _ := cis.HTTPStatus(err); st != http.StatusUnauthorized {
		t.Errorf("HTTPStatus %d", st)
	}
	// The refresh token is revoked as well.
	now = now.Add(cissim.DefaultOIDCAccessTokenTTL + time.Second)
	if _, err = s.rp.Revalidate(ctx, l3); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("refresh after logout: %v", err)
	}
}

func TestRevalidateProviderDown(t *testing.T) {
	s := newSimRP(t, cis2.Config{})
	l, err := s.login(t, "555000000001", "555000000101", "", cis2.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.srv.SetMaintenance(true)
	_, err = s.rp.Revalidate(context.Background(), l)
	if !errors.Is(err, cis.ErrUnavailable) || errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("provider in maintenance: %v", err)
	}
	if st, _ := cis.HTTPStatus(err); st != http.StatusServiceUnavailable {
		t.Errorf("HTTPStatus %d", st)
	}
}

func TestLogout(t *testing.T) {
	s := newSimRP(t, cis2.Config{PostLogoutRedirectURL: "http://127.0.0.1:8080/cis/oidc/callback/logged-out"})
	ticket := s.srv.MustLogin(t, "555000000001", "555000000101")
	l, err := s.loginWith(t, ticket, "", cis2.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := s.rp.Logout(l, "st4te")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(lr.Endpoint, "id_token") {
		t.Fatal("token in the endpoint")
	}
	// The POST form, as a page would submit it.
	resp, err := s.srv.Browser().PostForm(lr.Endpoint, lr.Params)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("state") != "st4te" || !strings.HasSuffix(loc.Path, "/logged-out") {
		t.Fatalf("logout answer %d %v", resp.StatusCode, loc)
	}
	if _, err := s.srv.Simulator().SessionID(ticket); !errors.Is(err, cissim.ErrNoSession) {
		t.Error("the SSO session outlived the logout")
	}
	if _, err := s.rp.Revalidate(context.Background(), l); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("revalidate after logout: %v", err)
	}
	if u, err := url.Parse(lr.URL()); err != nil || u.Query().Get("id_token_hint") == "" {
		t.Error("GET form")
	}
}

// The JWKS is fetched once per key: not per login, and again only when a
// token names a key the relying party has not seen (a rotation), which it
// picks up without a restart.
func TestJWKSFetchedOncePerKey(t *testing.T) {
	s := newSimRP(t, cis2.Config{})
	ticket := s.srv.MustLogin(t, "555000000001", "555000000101")
	for i := range 5 {
		if _, err := s.loginWith(t, ticket, "", cis2.BeginOptions{}); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if n := s.jwks.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for five logins, want 1", n)
	}
	if _, err := s.srv.Simulator().RotateOIDCKey(nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.loginWith(t, ticket, "", cis2.BeginOptions{}); err != nil {
			t.Fatalf("login %d after rotation: %v", i, err)
		}
	}
	if n := s.jwks.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches after a rotation, want 2", n)
	}
}

func TestPrivateKeyJWTAgainstSimulator(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "client-key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	srv := cistest.NewServerWithConfig(t, cissim.Config{Now: clock})
	const id = "555000000000.apps.national"
	if err := srv.Simulator().RegisterOIDCClient(cissim.OIDCClient{ID: id, PublicKeys: []crypto.PublicKey{key.Public()}, RedirectURIs: []string{callbackURL}}); err != nil {
		t.Fatal(err)
	}
	env := srv.OIDCEnv()
	env.OIDC.ClientID, env.OIDC.RedirectURL, env.OIDC.KeyFile, env.OIDC.KeyID = id, callbackURL, keyFile, "client-key-1"
	rp, err := cis2.New(context.Background(), cis2.Config{Env: env, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := rp.Begin(cis2.BeginOptions{})
	cb := srv.MustAuthorize(t, nil, req.URL, srv.MustLogin(t, "555000000004", ""), "")
	l, err := rp.Finish(context.Background(), &req.Pending, cb.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	// The refresh authenticates with a fresh assertion too (a replayed
	// jti would be refused).
	now = now.Add(cissim.DefaultOIDCAccessTokenTTL)
	for range 2 {
		if l, err = rp.Revalidate(context.Background(), l); err != nil {
			t.Fatal(err)
		}
		now = now.Add(cissim.DefaultOIDCAccessTokenTTL)
	}
	// A key the provider does not know is refused as a client problem.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rp, err = cis2.New(context.Background(), cis2.Config{Env: env, ClientKey: other, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = rp.Begin(cis2.BeginOptions{})
	cb = srv.MustAuthorize(t, nil, req.URL, srv.MustLogin(t, "555000000004", ""), "")
	if _, err := rp.Finish(context.Background(), &req.Pending, cb.RawQuery); !errors.Is(err, cis2.ErrClient) {
		t.Fatalf("unknown key: %v", err)
	}
}
