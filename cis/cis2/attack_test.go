package cis2_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
)

// evilOP is a test-only OpenID provider whose every answer the test
// crafts: discovery, JWKS, token response (with an ID token forged as the
// test likes, by go-jose) and UserInfo.
type evilOP struct {
	srv *httptest.Server
	key *rsa.PrivateKey // the key in the JWKS, kid "k1"

	mu        sync.Mutex
	valid     string // the access token UserInfo accepts
	refreshOK bool   // whether a refresh token is accepted
	discovery map[string]any
	idToken   func(nonce string) string
	userInfo  string
	token     func(idToken string) string
}

const evilClient = "999999999999.apps.national"

func newEvilOP(t testing.TB) *evilOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &evilOP{key: key}
	op.srv = httptest.NewUnstartedServer(http.HandlerFunc(op.serve))
	op.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-provider test fails handshakes on purpose
	op.srv.StartTLS()
	t.Cleanup(op.srv.Close)
	op.reset(t)
	return op
}

// reset restores the honest answers.
func (op *evilOP) reset(t testing.TB) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.valid, op.refreshOK = "at-1", true
	iss := op.srv.URL
	op.discovery = map[string]any{
		"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
		"userinfo_endpoint": iss + "/userinfo", "jwks_uri": iss + "/jwks", "end_session_endpoint": iss + "/logout",
		"response_types_supported": []string{"code"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported": []string{"S256"}, "authorization_response_iss_parameter_supported": true,
	}
	op.userInfo = `{"sub":"555000000001","name":"Jones Alice Dr","nhsid_nrbac_roles":[{"person_roleid":"555000000101","org_code":"RCJ","role_code":"S8000:G8000:R8003","role_name":"\"Clinical\":\"Clinical Provision\":\"Consultant\"","activity_codes":["B0264"]}],"nhsid_user_orgs":[{"org_code":"RCJ","org_name":"SOUTH TEES HOSPITALS NHS TRUST"}]}`
	op.idToken = func(nonce string) string { return op.sign(t, op.claims(nonce, nil), "k1", jose.RS256, op.key) }
	op.token = func(id string) string {
		b, _ := json.Marshal(map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt-1", "id_token": id})
		return string(b)
	}
}

func (op *evilOP) serve(w http.ResponseWriter, r *http.Request) {
	op.mu.Lock()
	defer op.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(op.discovery)
	case "/jwks":
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: op.key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	case "/token":
		r.ParseForm()
		if r.Form.Get("grant_type") == "refresh_token" {
			if !op.refreshOK {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"invalid_grant"}`))
				return
			}
			w.Write([]byte(`{"access_token":"at-2","token_type":"Bearer"}`))
			return
		}
		w.Write([]byte(op.token(op.idToken(op.nonceFor(r.Form.Get("code"))))))
	case "/userinfo":
		if r.Header.Get("Authorization") != "Bearer "+op.valid {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(op.userInfo))
	default:
		http.NotFound(w, r)
	}
}

// The test passes the nonce to the provider in the code itself.
func (op *evilOP) nonceFor(code string) string { return strings.TrimPrefix(code, "nonce.") }

// claims are good ID token claims for nonce, changed by edit.
func (op *evilOP) claims(nonce string, edit func(map[string]any)) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": op.srv.URL, "sub": "555000000001", "aud": evilClient, "azp": evilClient,
		"exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix(), "auth_time": now.Add(-time.Minute).Unix(),
		"nonce": nonce, "acr": "AAL3_ANY", "amr": []string{"N3_SMARTCARD"}, "selected_roleid": "555000000101",
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign signs claims with go-jose (the forger's tool too).
func (op *evilOP) sign(t testing.TB, claims map[string]any, kid string, alg jose.SignatureAlgorithm, key any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (op *evilOP) set(f func()) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f()
}

func (op *evilOP) env() cis.Environment {
	return cis.Environment{Name: "evil", OIDC: cis.OIDCSettings{
		Issuer: op.srv.URL, ClientID: evilClient, RedirectURL: callbackURL,
		Roots: []*x509.Certificate{op.srv.Certificate()},
	}}
}

func (op *evilOP) rp(t testing.TB, cfg cis2.Config) *cis2.RelyingParty {
	t.Helper()
	cfg.Env, cfg.ClientSecret = op.env(), "secret"
	rp, err := cis2.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// finish begins a login and finishes it with a callback whose code carries
// the nonce to the provider; edit may change the callback query.
func (op *evilOP) finish(t testing.TB, rp *cis2.RelyingParty, edit func(p *cis2.Pending, q url.Values)) (*cis2.Login, error) {
	t.Helper()
	req, err := rp.Begin(cis2.BeginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := req.Pending
	q := url.Values{"code": {"nonce." + p.Nonce}, "state": {p.State}, "iss": {op.srv.URL}}
	if edit != nil {
		edit(&p, q)
	}
	return rp.Finish(context.Background(), &p, q.Encode())
}

func TestEvilProviderHonestBaseline(t *testing.T) {
	op := newEvilOP(t)
	l, err := op.finish(t, op.rp(t, cis2.Config{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.SelectedRoleID != "555000000101" || l.User.Roles[0].OrgName != "SOUTH TEES HOSPITALS NHS TRUST" {
		t.Fatalf("%+v", l)
	}
}

// A provider that drops an access token before its stated expiry: UserInfo
// says 401, Revalidate refreshes once and retries; when the refresh token
// is refused too, the grant is gone.
func TestRevalidateRefreshesOn401(t *testing.T) {
	op := newEvilOP(t)
	rp := op.rp(t, cis2.Config{})
	l, err := op.finish(t, rp, nil)
	if err != nil {
		t.Fatal(err)
	}
	op.set(func() { op.valid = "at-2" })
	l2, err := rp.Revalidate(context.Background(), l)
	if err != nil || l2.Tokens.AccessToken.Reveal() != "at-2" || l2.Tokens.RefreshToken.Reveal() != "rt-1" || l2.Tokens.IDToken != l.Tokens.IDToken {
		t.Fatalf("refresh on 401: %v %+v", err, l2)
	}
	op.set(func() { op.valid, op.refreshOK = "at-3", false })
	if _, err := rp.Revalidate(context.Background(), l2); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("refresh refused: %v", err)
	}
}

// TestAttacks is the attack table: each forged or misrouted answer is
// refused with the error that names it.
func TestAttacks(t *testing.T) {
	op := newEvilOP(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(op.key.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	forge := func(edit func(map[string]any)) func(string) string {
		return func(nonce string) string { return op.sign(t, op.claims(nonce, edit), "k1", jose.RS256, op.key) }
	}
	tests := []struct {
		name     string
		idToken  func(nonce string) string
		userInfo string
		callback func(p *cis2.Pending, q url.Values)
		cfg      cis2.Config
		want     error
	}{
		{name: "alg none", want: cis2.ErrIDToken, idToken: func(nonce string) string {
			b, _ := json.Marshal(op.claims(nonce, nil))
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
		}},
		{name: "HS256 keyed with the public key (PEM)", want: cis2.ErrIDToken, idToken: func(nonce string) string {
			return op.sign(t, op.claims(nonce, nil), "k1", jose.HS256, pubPEM)
		}},
		{name: "HS256 keyed with the public key (DER)", want: cis2.ErrIDToken, idToken: func(nonce string) string {
			return op.sign(t, op.claims(nonce, nil), "k1", jose.HS256, pubDER)
		}},
		{name: "unknown kid", want: cis2.ErrIDToken, idToken: func(nonce string) string {
			return op.sign(t, op.claims(nonce, nil), "k9", jose.RS256, other)
		}},
		{name: "known kid, another key", want: cis2.ErrIDToken, idToken: func(nonce string) string {
			return op.sign(t, op.claims(nonce, nil), "k1", jose.RS256, other)
		}},
		{name: "RS384 not in the discovery", want: cis2.ErrIDToken, idToken: func(nonce string) string {
			return op.sign(t, op.claims(nonce, nil), "k1", jose.RS384, op.key)
		}},
		{name: "wrong issuer", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { c["iss"] = "https://evil.example" })},
		{name: "wrong audience", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { c["aud"] = "someone-else"; delete(c, "azp") })},
		{name: "azp another client", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { c["azp"] = "someone-else" })},
		{name: "two audiences, no azp", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { c["aud"] = []string{evilClient, "x"}; delete(c, "azp") })},
		{name: "expired", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() })},
		{name: "issued in the future", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() })},
		{name: "no iat", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { delete(c, "iat") })},
		{name: "nonce mismatch", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { c["nonce"] = "another-login" })},
		{name: "no nonce", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { delete(c, "nonce") })},
		{name: "no sub", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) { delete(c, "sub") })},
		{name: "at_hash of another token", want: cis2.ErrIDToken, idToken: forge(func(c map[string]any) {
			sum := sha256.Sum256([]byte("another"))
			c["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
		})},
		{name: "auth_time older than max_age", want: cis2.ErrIDToken, cfg: cis2.Config{MaxAge: 5 * time.Minute},
			idToken: forge(func(c map[string]any) { c["auth_time"] = time.Now().Add(-time.Hour).Unix() })},
		{name: "max_age and no auth_time", want: cis2.ErrIDToken, cfg: cis2.Config{MaxAge: 5 * time.Minute},
			idToken: forge(func(c map[string]any) { delete(c, "auth_time") })},
		{name: "amr without a smartcard", want: cis2.ErrAssurance, idToken: forge(func(c map[string]any) { c["amr"] = []string{"pwd", "otp"} })},
		{name: "no amr", want: cis2.ErrAssurance, idToken: forge(func(c map[string]any) { delete(c, "amr") })},
		{name: "acr AAL2", want: cis2.ErrAssurance, idToken: forge(func(c map[string]any) { c["acr"] = "AAL2_TOTP" })},
		{name: "no acr", want: cis2.ErrAssurance, idToken: forge(func(c map[string]any) { delete(c, "acr") })},
		{name: "UserInfo about another subject", want: cis2.ErrSubject, userInfo: `{"sub":"555000000002","nhsid_nrbac_roles":[]}`},
		{name: "selected role not held", want: cis.ErrUnknownRole, idToken: forge(func(c map[string]any) { c["selected_roleid"] = "555000000999" })},
		{name: "selected roles disagree", want: cis2.ErrSubject, userInfo: strings.Replace(op.userInfo, `"sub":`, `"selected_roleid":"x","sub":`, 1)},
		{name: "state mismatch", want: cis2.ErrState, callback: func(_ *cis2.Pending, q url.Values) { q.Set("state", "forged") }},
		{name: "no state", want: cis2.ErrState, callback: func(_ *cis2.Pending, q url.Values) { q.Del("state") }},
		{name: "no login in progress", want: cis2.ErrState, callback: func(p *cis2.Pending, _ url.Values) { *p = cis2.Pending{} }},
		{name: "iss of another provider (mix-up)", want: cis2.ErrIssuerMismatch, callback: func(_ *cis2.Pending, q url.Values) { q.Set("iss", "https://other.example") }},
		{name: "iss missing though promised", want: cis2.ErrIssuerMismatch, callback: func(_ *cis2.Pending, q url.Values) { q.Del("iss") }},
		{name: "login begun too long ago", want: cis2.ErrLoginExpired, callback: func(p *cis2.Pending, _ url.Values) { p.Created = p.Created.Add(-time.Hour) }},
		{name: "code repeated in the callback", want: cis2.ErrCallback, callback: func(_ *cis2.Pending, q url.Values) { q.Add("code", "x") }},
		{name: "provider error", want: cis2.ErrRefused, callback: func(_ *cis2.Pending, q url.Values) { q.Del("code"); q.Set("error", "access_denied") }},
		{name: "UserInfo too large", want: cis.ErrTooLarge, userInfo: `{"sub":"555000000001","x":"` + strings.Repeat("a", cis2.MaxUserInfoSize) + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op.reset(t)
			if tc.idToken != nil {
				op.set(func() { op.idToken = tc.idToken })
			}
			if tc.userInfo != "" {
				op.set(func() { op.userInfo = tc.userInfo })
			}
			_, err := op.finish(t, op.rp(t, tc.cfg), tc.callback)
			if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, err)
			}
			if tc.want != cis.ErrTooLarge && !errors.Is(err, cis2.ErrRefused) {
				t.Errorf("not ErrRefused: %v", err)
			}
			if strings.Contains(err.Error(), "at-1") || strings.Contains(err.Error(), "rt-1") {
				t.Errorf("error shows a token: %v", err)
			}
		})
	}
	op.reset(t)
	var pe *cis2.ProviderError
	_, err := op.finish(t, op.rp(t, cis2.Config{}), func(_ *cis2.Pending, q url.Values) {
		q.Del("code")
		q.Set("error", "access_denied")
		q.Set("error_description", "cancelled\x1b[31m")
	})
	if !errors.As(err, &pe) || pe.Code != "access_denied" || strings.Contains(pe.Description, "\x1b") {
		t.Errorf("provider error: %v", err)
	}
}

// A discovery document that would let a forger in is refused at New.
func TestEvilDiscovery(t *testing.T) {
	op := newEvilOP(t)
	tests := map[string]struct {
		edit func(op *evilOP, d map[string]any)
		want error
	}{
		"only none and HMAC": {func(_ *evilOP, d map[string]any) {
			d["id_token_signing_alg_values_supported"] = []string{"none", "HS256"}
		}, cis2.ErrIDToken},
		"no algorithms":             {func(_ *evilOP, d map[string]any) { delete(d, "id_token_signing_alg_values_supported") }, cis2.ErrIDToken},
		"another issuer":            {func(_ *evilOP, d map[string]any) { d["issuer"] = "https://evil.example" }, cis2.ErrIssuerMismatch},
		"plain http token endpoint": {func(_ *evilOP, d map[string]any) { d["token_endpoint"] = "http://evil.example/token" }, cis.ErrMalformed},
		"no PKCE S256":              {func(_ *evilOP, d map[string]any) { d["code_challenge_methods_supported"] = []string{"plain"} }, nil},
		"no userinfo":               {func(_ *evilOP, d map[string]any) { delete(d, "userinfo_endpoint") }, cis.ErrMalformed},
		"too large":                 {func(_ *evilOP, d map[string]any) { d["x"] = strings.Repeat("a", cis2.MaxUserInfoSize) }, cis.ErrTooLarge},
		"client auth not offered": {func(_ *evilOP, d map[string]any) {
			d["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"}
		}, nil},
	}
	for name, tc := range tests {
		op.reset(t)
		op.set(func() { tc.edit(op, op.discovery) })
		_, err := cis2.New(context.Background(), cis2.Config{Env: op.env(), ClientSecret: "secret"})
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: want %v, got %v", name, tc.want, err)
		}
	}
	// A TLS certificate not from the named anchors: never unverified.
	op.reset(t)
	env := op.env()
	env.OIDC.Roots = nil // the system roots do not know httptest's CA
	if _, err := cis2.New(context.Background(), cis2.Config{Env: env, ClientSecret: "secret"}); !errors.Is(err, cis.ErrTrust) {
		t.Errorf("untrusted provider: %v", err)
	}
}

// Replays and PKCE against the real simulator: the provider refuses the
// code, and the relying party reports ErrGrant.
func TestAttacksAgainstSimulator(t *testing.T) {
	s := newSimRP(t, cis2.Config{})
	ticket := s.srv.MustLogin(t, "555000000001", "555000000101")
	req, _ := s.rp.Begin(cis2.BeginOptions{})
	cb := s.srv.MustAuthorize(t, nil, req.URL, ticket, "")
	if _, err := s.rp.Finish(context.Background(), &req.Pending, cb.RawQuery); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rp.Finish(context.Background(), &req.Pending, cb.RawQuery); !errors.Is(err, cis2.ErrGrant) {
		t.Errorf("code replay: %v", err)
	}
	// PKCE verifier wrong (an attacker holding a stolen code but not the verifier).
	req, _ = s.rp.Begin(cis2.BeginOptions{})
	cb = s.srv.MustAuthorize(t, nil, req.URL, ticket, "")
	p := req.Pending
	p.Verifier = cis2.Secret(strings.Repeat("x", 43))
	if _, err := s.rp.Finish(context.Background(), &p, cb.RawQuery); !errors.Is(err, cis2.ErrGrant) {
		t.Errorf("wrong PKCE verifier: %v", err)
	}
	// A code injected into another login: state mismatch.
	req2, _ := s.rp.Begin(cis2.BeginOptions{})
	req, _ = s.rp.Begin(cis2.BeginOptions{})
	cb = s.srv.MustAuthorize(t, nil, req.URL, ticket, "")
	if _, err := s.rp.Finish(context.Background(), &req2.Pending, cb.RawQuery); !errors.Is(err, cis2.ErrState) {
		t.Errorf("another login's callback: %v", err)
	}
	// Smartcard policy the simulator does not meet.
	strict := newSimRP(t, cis2.Config{})
	env := strict.client.Env
	env.OIDC.AMR = []string{"FIDO2"}
	rp, err := cis2.New(context.Background(), cis2.Config{Env: env, ClientSecret: strict.client.Secret})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = rp.Begin(cis2.BeginOptions{})
	cb = strict.srv.MustAuthorize(t, nil, req.URL, strict.srv.MustLogin(t, "555000000001", ""), "")
	if _, err := rp.Finish(context.Background(), &req.Pending, cb.RawQuery); !errors.Is(err, cis2.ErrAssurance) {
		t.Errorf("amr policy: %v", err)
	}
	// A redirect URI the provider does not know: a page, never a redirect.
	rp, err = cis2.New(context.Background(), cis2.Config{Env: s.client.Env, ClientSecret: s.client.Secret, RedirectURL: "http://127.0.0.1:9/elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = rp.Begin(cis2.BeginOptions{})
	if _, err := s.srv.Authorize(context.Background(), nil, req.URL, ticket, ""); err == nil || !strings.Contains(err.Error(), "HTTP 400 page") {
		t.Errorf("unregistered redirect URI: %v", err)
	}
	// A return path to another host is the middleware's to refuse (its
	// login handler keeps the return path; this package never redirects).
}
