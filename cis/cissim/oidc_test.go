package cissim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/opencis/cisauth/cis"
)

const (
	testClientID = "999999999999.apps.national"
	testSecret   = "s3cret"
	testRedirect = "https://app.test/cis/oidc/callback"
	testIssuer   = "https://sim.test:7443" + OIDCRealmPath
)

// newOIDCSim is a test simulator with one client (testClientID) and a fast
// ECDSA signing key.
func newOIDCSim(t testing.TB, edit func(*Config)) *testSim {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestSim(t, func(c *Config) {
		c.OIDC.SigningKey = key
		c.OIDC.Clients = []OIDCClient{{ID: testClientID, Secret: testSecret, RedirectURIs: []string{testRedirect}, PostLogoutRedirectURIs: []string{"https://app.test/bye"}}}
		if edit != nil {
			edit(c)
		}
	})
}

// oidcReq sends a request as a browser or client would.
func (s *testSim) oidcReq(method, path string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	for k, v := range header {
		r.Header[k] = v
	}
	r.RemoteAddr = "127.0.0.1:50000"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// authQuery is a good authorization request's query, changed by edit.
func authQuery(edit func(url.Values)) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {testClientID}, "redirect_uri": {testRedirect},
		"scope": {"openid profile nationalrbacaccess associatedorgs selectedrole"}, "state": {"st"}, "nonce": {"n0"},
	}
	if edit != nil {
		edit(q)
	}
	return q.Encode()
}

var csrfInPage = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page GETs the authorization page and returns the CSRF cookie and token.
func (s *testSim) page(t *testing.T, query string) (cookie, token string) {
	t.Helper()
	w := s.oidcReq("GET", OIDCRealmPath+"/authorize?"+query, nil, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("authorize page: HTTP %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == csrfCookie {
			cookie = c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Error("CSRF cookie not HttpOnly and SameSite=Strict")
			}
		}
	}
	m := csrfInPage.FindStringSubmatch(w.Body.String())
	if cookie == "" || m == nil {
		t.Fatalf("no CSRF cookie or field: %s", w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src http://127.0.0.1:7444") {
		t.Errorf("CSP %q", csp)
	}
	return cookie, m[1]
}

// postTicket posts a ticket to the authorization endpoint.
func (s *testSim) postTicket(query, cookie, token string, ticket cis.Ticket) *httptest.ResponseRecorder {
	return s.oidcReq("POST", OIDCRealmPath+"/authorize?"+query,
		url.Values{"csrf": {token}, "ticket": {ticket.Reveal()}}, http.Header{"Cookie": {csrfCookie + "=" + cookie}})
}

// code runs the authorization for a session and returns the code.
func (s *testSim) code(t *testing.T, ticket cis.Ticket, query string) string {
	t.Helper()
	cookie, token := s.page(t, query)
	w := s.postTicket(query, cookie, token, ticket)
	loc := redirectTo(t, w, http.StatusSeeOther)
	if loc.Query().Get("code") == "" {
		t.Fatalf("no code: %s", loc)
	}
	return loc.Query().Get("code")
}

func redirectTo(t *testing.T, w *httptest.ResponseRecorder, status int) *url.URL {
	t.Helper()
	if w.Code != status {
		t.Fatalf("HTTP %d, want %d: %s", w.Code, status, w.Body)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// token calls the token endpoint with Basic authentication.
func (s *testSim) token(form url.Values, id, secret string) (*httptest.ResponseRecorder, map[string]any) {
	h := http.Header{}
	if id != "" {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		h["Authorization"] = r.Header["Authorization"]
	}
	w := s.oidcReq("POST", OIDCRealmPath+"/access_token", form, h)
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return w, out
}

func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}}
}

func (s *testSim) userInfo(access string) *httptest.ResponseRecorder {
	return s.oidcReq("GET", OIDCRealmPath+"/userinfo", nil, http.Header{"Authorization": {"Bearer " + access}})
}

func TestOIDCDiscoveryAndJWKS(t *testing.T) {
	s := newOIDCSim(t, nil)
	w := s.oidcReq("GET", OIDCRealmPath+"/.well-known/openid-configuration", nil, nil)
	var d map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != 200 {
		t.Fatalf("%d %v", w.Code, err)
	}
	if d["issuer"] != testIssuer || d["token_endpoint"] != testIssuer+"/access_token" || d["jwks_uri"] != testIssuer+"/connect/jwk_uri" ||
		d["authorization_response_iss_parameter_supported"] != true || s.OIDCIssuer() != testIssuer {
		t.Fatalf("%v", d)
	}
	if algs := d["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
		t.Errorf("algs %v", algs)
	}
	kids := func() []string {
		var set jose.JSONWebKeySet
		w := s.oidcReq("GET", OIDCRealmPath+"/connect/jwk_uri", nil, nil)
		if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			if !k.IsPublic() || k.KeyID == "" || k.Use != "sig" {
				t.Fatalf("JWKS key %+v", k)
			}
			out = append(out, k.KeyID)
		}
		return out
	}
	first := kids()
	if len(first) != 1 {
		t.Fatalf("%v", first)
	}
	// Rotation: the new key signs, the old one stays published, two at most.
	var seen []string
	for i := range 3 {
		if _, err := s.RotateOIDCKey(nil); err != nil {
			t.Fatal(err)
		}
		got := kids()
		seen = append(seen, got[0])
		if want := min(i+2, 1+maxPreviousKeys); len(got) != want || slices.Contains(first, got[0]) {
			t.Fatalf("after rotation %d: %v", i+1, got)
		}
	}
	if kids()[1] != seen[1] {
		t.Error("the newest previous key is not listed second")
	}
}

func TestOIDCAuthorizeUnregisteredRedirectIsAPage(t *testing.T) {
	s := newOIDCSim(t, nil)
	for name, edit := range map[string]func(url.Values){
		"unregistered redirect": func(q url.Values) { q.Set("redirect_uri", "https://evil.test/cb") },
		"trailing slash":        func(q url.Values) { q.Set("redirect_uri", testRedirect+"/") },
		"redirect twice":        func(q url.Values) { q.Add("redirect_uri", testRedirect) },
		"no redirect":           func(q url.Values) { q.Del("redirect_uri") },
		"unknown client":        func(q url.Values) { q.Set("client_id", "nobody") },
		"bad response type too": func(q url.Values) { q.Set("redirect_uri", "https://evil.test/cb"); q.Set("response_type", "token") },
	} {
		for _, method := range []string{"GET", "POST"} {
			w := s.oidcReq(method, OIDCRealmPath+"/authorize?"+authQuery(edit), url.Values{}, nil)
			if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" || !strings.Contains(w.Body.String(), "<html") {
				t.Errorf("%s %s: HTTP %d Location %q", name, method, w.Code, w.Header().Get("Location"))
			}
		}
	}
}

func TestOIDCAuthorizeErrorsGoBackToTheClient(t *testing.T) {
	s := newOIDCSim(t, nil)
	for want, edit := range map[string]func(url.Values){
		"unsupported_response_type": func(q url.Values) { q.Set("response_type", "token") },
		"invalid_scope":             func(q url.Values) { q.Set("scope", "profile") },
		"invalid_request": func(q url.Values) {
			q.Set("code_challenge", strings.Repeat("a", 43))
			q.Set("code_challenge_method", "plain")
		},
		"login_required":        func(q url.Values) { q.Set("prompt", "none") },
		"request_not_supported": func(q url.Values) { q.Set("request", "eyJ") },
	} {
		loc := redirectTo(t, s.oidcReq("GET", OIDCRealmPath+"/authorize?"+authQuery(edit), nil, nil), http.StatusFound)
		q := loc.Query()
		if !strings.HasPrefix(loc.String(), testRedirect+"?") || q.Get("error") != want || q.Get("state") != "st" || q.Get("iss") != testIssuer || q.Has("code") {
			t.Errorf("%s: %s", want, loc)
		}
	}
	// An unknown scope is refused by name.
	loc := redirectTo(t, s.oidcReq("GET", OIDCRealmPath+"/authorize?"+authQuery(func(q url.Values) { q.Set("scope", "openid admin") }), nil, nil), http.StatusFound)
	if loc.Query().Get("error") != "invalid_scope" || !strings.Contains(loc.Query().Get("error_description"), "admin") {
		t.Errorf("%s", loc)
	}
}

func TestOIDCAuthorizeCSRF(t *testing.T) {
	s := newOIDCSim(t, nil)
	ticket, _ := s.CreateSession("555000000001", "555000000101", cis.ModeLive)
	q := authQuery(nil)
	cookie, token := s.page(t, q)
	other := authQuery(func(v url.Values) { v.Set("state", "other") })
	for name, w := range map[string]*httptest.ResponseRecorder{
		"no cookie":      s.oidcReq("POST", OIDCRealmPath+"/authorize?"+q, url.Values{"csrf": {token}, "ticket": {ticket.Reveal()}}, nil),
		"no token":       s.postTicket(q, cookie, "", ticket),
		"wrong token":    s.postTicket(q, cookie, strings.Repeat("A", 43), ticket),
		"another cookie": s.postTicket(q, strings.Repeat("B", 43), token, ticket),
		"another query":  s.postTicket(other, cookie, token, ticket),
		"cross-site": s.oidcReq("POST", OIDCRealmPath+"/authorize?"+q, url.Values{"csrf": {token}, "ticket": {ticket.Reveal()}},
			http.Header{"Cookie": {csrfCookie + "=" + cookie}, "Sec-Fetch-Site": {"cross-site"}}),
	} {
		if w.Code != http.StatusForbidden || w.Header().Get("Location") != "" {
			t.Errorf("%s: HTTP %d", name, w.Code)
		}
	}
	// The same form, sent properly, logs in.
	if loc := redirectTo(t, s.postTicket(q, cookie, token, ticket), http.StatusSeeOther); loc.Query().Get("code") == "" {
		t.Error("no code")
	}
}

func TestOIDCAuthorizeTicket(t *testing.T) {
	s := newOIDCSim(t, nil)
	q := authQuery(nil)
	cookie, token := s.page(t, q)
	for _, bad := range []cis.Ticket{"", "AQICnot-a-ticket", "AQIC" + cis.Ticket(strings.Repeat("A", 43)) + "=@AAJTSQACMDE=#"} {
		w := s.postTicket(q, cookie, token, bad)
		if w.Code != http.StatusUnauthorized || w.Header().Get("Location") != "" || !strings.Contains(w.Body.String(), `name="ticket"`) {
			t.Errorf("ticket %q: HTTP %d", bad.Reveal(), w.Code)
		}
	}
	ticket, _ := s.CreateSession("555000000001", "", cis.ModeLive)
	loc := redirectTo(t, s.postTicket(q, cookie, token, ticket), http.StatusSeeOther)
	if loc.Query().Get("state") != "st" || loc.Query().Get("iss") != testIssuer {
		t.Errorf("%s", loc)
	}
	// One role: chosen without asking, and kept in the SSO session.
	if l := s.Sessions(); len(l) != 1 || l[0].RoleID != "555000000101" {
		t.Errorf("sessions %+v", l)
	}
	// max_age older than the session: login_required.
	s.clock.Advance(time.Hour)
	q2 := authQuery(func(v url.Values) { v.Set("max_age", "60") })
	cookie, token = s.page(t, q2)
	if loc := redirectTo(t, s.postTicket(q2, cookie, token, ticket), http.StatusSeeOther); loc.Query().Get("error") != "login_required" {
		t.Errorf("max_age: %s", loc)
	}
}

func TestOIDCRolePrompt(t *testing.T) {
	s := newOIDCSim(t, nil)
	ticket, _ := s.CreateSession("555000000003", "", cis.ModeLive)
	q := authQuery(nil)
	cookie, token := s.page(t, q)
	w := s.postTicket(q, cookie, token, ticket)
	m := regexp.MustCompile(`name="interaction" value="([^"]+)"`).FindStringSubmatch(w.Body.String())
	if w.Code != 200 || m == nil || !strings.Contains(w.Body.String(), `value="555000000302"`) {
		t.Fatalf("no role page: %d %s", w.Code, w.Body)
	}
	post := func(role string) *httptest.ResponseRecorder {
		return s.oidcReq("POST", OIDCRealmPath+"/authorize?"+q, url.Values{"csrf": {token}, "interaction": {m[1]}, "role": {role}},
			http.Header{"Cookie": {csrfCookie + "=" + cookie}})
	}
	loc := redirectTo(t, post("555000000302"), http.StatusSeeOther)
	// The prompt is single use.
	if w := post("555000000302"); w.Code != http.StatusBadRequest {
		t.Errorf("interaction reused: %d", w.Code)
	}
	_, tok := s.token(codeForm(loc.Query().Get("code")), testClientID, testSecret)
	ui := s.userInfo(tok["access_token"].(string))
	if !strings.Contains(ui.Body.String(), `"selected_roleid": "555000000302"`) {
		t.Errorf("userinfo %s", ui.Body)
	}
	// A role not held is refused.
	cookie, token = s.page(t, authQuery(func(v url.Values) { v.Set("prompt", "login") }))
	q = authQuery(func(v url.Values) { v.Set("prompt", "login") })
	w = s.postTicket(q, cookie, token, ticket)
	m = regexp.MustCompile(`name="interaction" value="([^"]+)"`).FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatal("prompt=login did not ask again")
	}
	if w := post("555000000101"); w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
		t.Errorf("someone else's role: %d", w.Code)
	}
}

func TestOIDCCodeSingleUseAndShortLived(t *testing.T) {
	s := newOIDCSim(t, nil)
	ticket, _ := s.CreateSession("555000000001", "555000000101", cis.ModeLive)
	code := s.code(t, ticket, authQuery(nil))
	w, tok := s.token(codeForm(code), testClientID, testSecret)
	if w.Code != 200 || tok["token_type"] != "Bearer" || tok["refresh_token"] == nil || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", w.Code, tok)
	}
	access := tok["access_token"].(string)
	if s.userInfo(access).Code != 200 {
		t.Fatal("userinfo")
	}
	// Replay: refused, and what the code gave is revoked.
	if w, e := s.token(codeForm(code), testClientID, testSecret); w.Code != 400 || e["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", w.Code, e)
	}
	if s.userInfo(access).Code != http.StatusUnauthorized {
		t.Error("access token outlived the code's replay")
	}
	rf := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}
	if w, _ := s.token(rf, testClientID, testSecret); w.Code != 400 {
		t.Error("refresh token outlived the code's replay")
	}
	// Expiry.
	code = s.code(t, ticket, authQuery(nil))
	s.clock.Advance(DefaultOIDCCodeTTL + time.Second)
	if w, e := s.token(codeForm(code), testClientID, testSecret); e["error"] != "invalid_grant" {
		t.Errorf("expired code: %d %v", w.Code, e)
	}
}

func TestOIDCTokenChecks(t *testing.T) {
	s := newOIDCSim(t, func(c *Config) {
		c.OIDC.Clients = append(c.OIDC.Clients, OIDCClient{ID: "other.apps.national", Secret: "x", RedirectURIs: []string{testRedirect}})
	})
	ticket, _ := s.CreateSession("555000000001", "555000000101", cis.ModeLive)
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	pkce := authQuery(func(q url.Values) {
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	})
	with := func(f url.Values, k, v string) url.Values { f.Set(k, v); return f }
	tests := []struct {
		name      string
		query     string
		form      func(code string) url.Values
		id, sec   string
		status    int
		wantError string
	}{
		{"PKCE verifier missing", pkce, codeForm, testClientID, testSecret, 400, "invalid_grant"},
		{"PKCE verifier wrong", pkce, func(c string) url.Values { return with(codeForm(c), "code_verifier", strings.Repeat("w", 50)) }, testClientID, testSecret, 400, "invalid_grant"},
		{"verifier without challenge", authQuery(nil), func(c string) url.Values { return with(codeForm(c), "code_verifier", verifier) }, testClientID, testSecret, 400, "invalid_grant"},
		{"wrong secret", authQuery(nil), codeForm, testClientID, "nope", 401, "invalid_client"},
		{"no client auth", authQuery(nil), codeForm, "", "", 401, "invalid_client"},
		{"another client's code", authQuery(nil), codeForm, "other.apps.national", "x", 400, "invalid_grant"},
		{"redirect_uri differs", authQuery(nil), func(c string) url.Values { return with(codeForm(c), "redirect_uri", testRedirect+"x") }, testClientID, testSecret, 400, "invalid_grant"},
		{"two auth methods", authQuery(nil), func(c string) url.Values { return with(codeForm(c), "client_secret", testSecret) }, testClientID, testSecret, 400, "invalid_request"},
		{"unknown grant type", authQuery(nil), func(c string) url.Values { return with(codeForm(c), "grant_type", "password") }, testClientID, testSecret, 400, "unsupported_grant_type"},
		{"PKCE right", pkce, func(c string) url.Values { return with(codeForm(c), "code_verifier", verifier) }, testClientID, testSecret, 200, ""},
		{"client_secret_post", authQuery(nil), func(c string) url.Values {
			return with(with(codeForm(c), "client_id", testClientID), "client_secret", testSecret)
		}, "", "", 200, ""},
	}
	for _, tc := range tests {
		code := s.code(t, ticket, tc.query)
		w, out := s.token(tc.form(code), tc.id, tc.sec)
		if w.Code != tc.status || (tc.wantError != "" && out["error"] != tc.wantError) {
			t.Errorf("%s: HTTP %d %v", tc.name, w.Code, out)
		}
	}
}

func TestOIDCIDTokenClaims(t *testing.T) {
	s := newOIDCSim(t, nil)
	ticket, _ := s.CreateSession("555000000002", "555000000205", cis.ModeLive)
	created := s.clock.Now()
	s.clock.Advance(time.Minute)
	_, tok := s.token(codeForm(s.code(t, ticket, authQuery(nil))), testClientID, testSecret)
	raw := tok["id_token"].(string)
	parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := s.OIDCSigningKeys()
	var c map[string]any
	if err := parsed.Claims(key.Public(), &c); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": testIssuer, "sub": "555000000002", "aud": testClientID, "azp": testClientID, "nonce": "n0",
		"acr": "AAL3_ANY", "selected_roleid": "555000000205", "uid": "555000000002", "name": "Smith Bob Mr",
		"given_name": "Bob", "family_name": "Smith", "auth_time": float64(created.Unix()),
		"at_hash": atHash(tok["access_token"].(string)),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0] != "N3_SMARTCARD" {
		t.Errorf("amr %v", c["amr"])
	}
	if c["sid"] == "" || c["exp"].(float64)-c["iat"].(float64) != DefaultOIDCIDTokenTTL.Seconds() {
		t.Errorf("sid/exp %v %v %v", c["sid"], c["exp"], c["iat"])
	}
}

func TestOIDCTokensDieWithTheSession(t *testing.T) {
	s := newOIDCSim(t, nil)
	ticket, _ := s.CreateSession("555000000001", "555000000101", cis.ModeLive)
	_, tok := s.token(codeForm(s.code(t, ticket, authQuery(nil))), testClientID, testSecret)
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	rf := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	if w, out := s.token(rf, testClientID, testSecret); w.Code != 200 || out["refresh_token"] != refresh || out["id_token"] == nil {
		t.Fatalf("refresh: %d %v", w.Code, out)
	}
	if err := s.LogoutTicket(ticket); err != nil {
		t.Fatal(err)
	}
	w := s.userInfo(access)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("userinfo after logout: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w, out := s.token(rf, testClientID, testSecret); w.Code != 400 || out["error"] != "invalid_grant" {
		t.Errorf("refresh after logout: %d %v", w.Code, out)
	}
	if w := s.userInfo("not-a-token"); w.Code != http.StatusUnauthorized {
		t.Errorf("junk token: %d", w.Code)
	}
}

func TestOIDCPrivateKeyJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const id = "jwt.apps.national"
	s := newOIDCSim(t, func(c *Config) {
		c.OIDC.Clients = append(c.OIDC.Clients, OIDCClient{ID: id, PublicKeys: []crypto.PublicKey{key.Public()}, RedirectURIs: []string{testRedirect}})
	})
	ticket, _ := s.CreateSession("555000000001", "555000000101", cis.ModeLive)
	assertion := func(k *ecdsa.PrivateKey, edit func(*jwt.Claims)) string {
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, nil)
		if err != nil {
			t.Fatal(err)
		}
		now := s.clock.Now()
		c := jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{testIssuer + "/access_token"}, ID: base64.RawURLEncoding.EncodeToString([]byte(now.String() + t.Name())),
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}
		if edit != nil {
			edit(&c)
		}
		a, err := jwt.Signed(sig).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	q := authQuery(func(v url.Values) { v.Set("client_id", id) })
	exchange := func(a string) (int, map[string]any) {
		f := codeForm(s.code(t, ticket, q))
		f.Set("client_assertion_type", clientAssertionType)
		f.Set("client_assertion", a)
		w, out := s.token(f, "", "")
		return w.Code, out
	}
	good := assertion(key, nil)
	if code, out := exchange(good); code != 200 {
		t.Fatalf("good assertion: %d %v", code, out)
	}
	for name, a := range map[string]string{
		"replayed jti":   good,
		"another key":    assertion(other, func(c *jwt.Claims) { c.ID = "k2" }),
		"wrong audience": assertion(key, func(c *jwt.Claims) { c.ID = "a2"; c.Audience = jwt.Audience{"https://elsewhere/token"} }),
		"expired":        assertion(key, func(c *jwt.Claims) { c.ID = "e2"; c.Expiry = jwt.NewNumericDate(s.clock.Now().Add(-2 * time.Minute)) }),
		"lives too long": assertion(key, func(c *jwt.Claims) { c.ID = "l2"; c.Expiry = jwt.NewNumericDate(s.clock.Now().Add(time.Hour)) }),
		"sub differs":    assertion(key, func(c *jwt.Claims) { c.ID = "s2"; c.Subject = "x" }),
		"no jti":         assertion(key, func(c *jwt.Claims) { c.ID = "" }),
		"not a JWT":      "e30.e30.",
	} {
		if code, out := exchange(a); code != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("%s: %d %v", name, code, out)
		}
	}
}

func TestOIDCEndSession(t *testing.T) {
	s := newOIDCSim(t, nil)
	ticket, _ := s.CreateSession("555000000001", "555000000101", cis.ModeLive)
	_, tok := s.token(codeForm(s.code(t, ticket, authQuery(nil))), testClientID, testSecret)
	hint := tok["id_token"].(string)
	for name, q := range map[string]url.Values{
		"no hint":          {},
		"forged hint":      {"id_token_hint": {hint[:len(hint)-4] + "AAAA"}},
		"unregistered uri": {"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.test/"}},
		"another client":   {"id_token_hint": {hint}, "client_id": {"someone"}},
	} {
		w := s.oidcReq("GET", OIDCRealmPath+"/connect/endSession?"+q.Encode(), nil, nil)
		if w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
			t.Errorf("%s: %d %s", name, w.Code, w.Header().Get("Location"))
		}
	}
	if len(s.Sessions()) != 1 {
		t.Fatal("a refused logout ended the session")
	}
	s.clock.Advance(time.Hour) // an expired hint still names the session
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://app.test/bye"}, "state": {"x"}}
	loc := redirectTo(t, s.oidcReq("GET", OIDCRealmPath+"/connect/endSession?"+q.Encode(), nil, nil), http.StatusFound)
	if loc.String() != "https://app.test/bye?state=x" || len(s.Sessions()) != 0 {
		t.Errorf("%s, %d sessions", loc, len(s.Sessions()))
	}
}

func TestParseOIDCClientFlag(t *testing.T) {
	c, err := ParseOIDCClientFlag("demo.apps.local:s3cret:http://127.0.0.1:8080/cis/oidc/callback")
	if err != nil || c.ID != "demo.apps.local" || c.Secret != "s3cret" || c.RedirectURIs[0] != "http://127.0.0.1:8080/cis/oidc/callback" {
		t.Fatalf("%v %+v", err, c)
	}
	for _, bad := range []string{"", "a", "a:b", "a::https://x/cb", ":b:https://x/cb", "a:b:http://app.example/cb", "a:b:https://x/cb#frag", "a:b:/relative", "a b:c:https://x/cb"} {
		if _, err := ParseOIDCClientFlag(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
	// Two flags for one client add redirect URIs; different secrets clash.
	s := newOIDCSim(t, nil)
	if err := s.RegisterOIDCClient(OIDCClient{ID: testClientID, Secret: testSecret, RedirectURIs: []string{"https://app.test/two"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterOIDCClient(OIDCClient{ID: testClientID, Secret: "other", RedirectURIs: []string{"https://app.test/3"}}); err == nil {
		t.Error("same id, other secret")
	}
	loc := redirectTo(t, s.oidcReq("GET", OIDCRealmPath+"/authorize?"+authQuery(func(q url.Values) { q.Set("redirect_uri", "https://app.test/two"); q.Set("response_type", "x") }), nil, nil), http.StatusFound)
	if loc.Host != "app.test" || loc.Path != "/two" {
		t.Errorf("%s", loc)
	}
}

func TestParseOIDCClients(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509MarshalPublicPEM(key.Public())
	doc := "clients:\n  - id: a.apps.national\n    secret: s\n    redirect_uris: [https://a.test/cb]\n" +
		"  - id: b.apps.national\n    public_key_pem: |\n" + indent(pub, "      ") + "    redirect_uris: [http://localhost:9/cb]\n    post_logout_redirect_uris: [http://localhost:9/]\n"
	cs, err := ParseOIDCClients([]byte(doc), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Secret != "s" || len(cs[1].PublicKeys) != 1 || cs[1].PostLogoutRedirectURIs[0] != "http://localhost:9/" {
		t.Fatalf("%+v", cs)
	}
	for name, bad := range map[string]string{
		"unknown key":   "clients:\n  - id: a\n    secret: s\n    redirect_uris: [https://a.test/cb]\n    scope: x\n",
		"no credential": "clients:\n  - id: a\n    redirect_uris: [https://a.test/cb]\n",
		"no redirect":   "clients:\n  - id: a\n    secret: s\n",
		"alias":         "clients:\n  - &c {id: a, secret: s, redirect_uris: [https://a.test/cb]}\n  - *c\n",
		"bad key":       "clients:\n  - id: a\n    public_key_pem: nope\n    redirect_uris: [https://a.test/cb]\n",
		"missing file":  "clients:\n  - id: a\n    public_key_file: none.pem\n    redirect_uris: [https://a.test/cb]\n",
	} {
		if _, err := ParseOIDCClients([]byte(bad), t.TempDir()); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}

func indent(s, pre string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pre + l)
	}
	return b.String() + "\n"
}

func FuzzParseOIDCClients(f *testing.F) {
	f.Add([]byte("clients:\n  - id: a.apps.national\n    secret: s\n    redirect_uris: [https://a.test/cb]\n"))
	f.Add([]byte("clients:\n  - &c {id: a, secret: s, redirect_uris: [https://a.test/cb]}\n  - *c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if strings.Contains(string(b), "file") {
			return // keep the fuzzer away from the host's files
		}
		cs, err := ParseOIDCClients(b, t.TempDir())
		if err != nil {
			return
		}
		for _, c := range cs {
			if err := c.check(); err != nil {
				t.Fatalf("accepted a client that fails its check: %v", err)
			}
		}
	})
}

// FuzzOIDC throws arbitrary queries and bodies at the provider's
// endpoints: no panic, only the answers the provider means to give, and
// never a redirect to a URI that is not registered.
func FuzzOIDC(f *testing.F) {
	f.Add(uint8(0), authQuery(nil), []byte(nil))
	f.Add(uint8(1), authQuery(nil), []byte("csrf=x&ticket=TICKET"))
	f.Add(uint8(2), "", []byte("grant_type=authorization_code&code=x&redirect_uri="+url.QueryEscape(testRedirect)))
	f.Add(uint8(4), "id_token_hint=e30.e30.e30", []byte(nil))
	s := newOIDCSim(f, nil)
	routes := []struct{ method, path string }{
		{"GET", "/authorize"}, {"POST", "/authorize"}, {"POST", "/access_token"},
		{"GET", "/userinfo"}, {"GET", "/connect/endSession"}, {"POST", "/connect/endSession"},
	}
	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte) {
		rt := routes[int(route)%len(routes)]
		if tk, err := s.CreateSession("555000000001", "", cis.ModeLive); err == nil {
			body = []byte(strings.ReplaceAll(string(body), "TICKET", url.QueryEscape(tk.Reveal())))
		}
		r := httptest.NewRequest(rt.method, "/", strings.NewReader(string(body)))
		r.URL.Path, r.URL.RawQuery = OIDCRealmPath+rt.path, query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testSecret)))
		r.RemoteAddr = "127.0.0.1:1"
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 401, 403, 404, 413, 503:
		case 302, 303:
			loc := w.Header().Get("Location")
			if !strings.HasPrefix(loc, testRedirect+"?") && !strings.HasPrefix(loc, "https://app.test/bye") {
				t.Fatalf("redirect to %q", loc)
			}
		default:
			t.Fatalf("%s %s?%q: HTTP %d", rt.method, rt.path, query, w.Code)
		}
	})
}

func x509MarshalPublicPEM(pub any) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
