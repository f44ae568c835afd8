package cissim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The token endpoint: authorization_code (single use, short lived, PKCE
// enforced when the authorization request carried a challenge, redirect
// URI and client as at authorization) and refresh_token (alive as long as
// the SSO session). Clients authenticate with client_secret_basic,
// client_secret_post or private_key_jwt.

const (
	maxTokenBody         = 16 << 10
	clientAssertionType  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxAssertionLife     = 10 * time.Minute
	pkceVerifierMin      = 43
	pkceVerifierMax      = 128
	assertionClockLeeway = time.Minute
)

// assertionAlgs are the client assertion algorithms accepted.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

func assertionAlgNames() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = string(a)
	}
	return out
}

// tokenError is an RFC 6749 §5.2 error answer.
type tokenError struct {
	status     int
	code, desc string
	basicRealm bool // add WWW-Authenticate: Basic
}

func (p *oidcProvider) writeTokenError(w http.ResponseWriter, e *tokenError) {
	if e.basicRealm {
		w.Header().Set("WWW-Authenticate", `Basic realm="cis-sim"`)
	}
	p.s.log.Info("OIDC token request refused", "error", e.code, "reason", e.desc)
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

func badRequest(code, desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: code, desc: desc}
}

// handleToken serves POST /access_token.
func (p *oidcProvider) handleToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Pragma", "no-cache")
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		p.writeTokenError(w, badRequest("invalid_request", "want an application/x-www-form-urlencoded body"))
		return
	}
	body, err := readCapped(w, r, maxTokenBody)
	if err != nil {
		p.writeTokenError(w, badRequest("invalid_request", "body unreadable or too large"))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		p.writeTokenError(w, badRequest("invalid_request", "body does not parse"))
		return
	}
	for k, v := range form {
		if len(v) > 1 {
			p.writeTokenError(w, badRequest("invalid_request", k+" given more than once"))
			return
		}
	}
	now := p.s.now()
	client, terr := p.authenticateClient(r, form, p.issuer(r)+oidcTokenPath, now)
	if terr != nil {
		p.writeTokenError(w, terr)
		return
	}
	var resp map[string]any
	switch form.Get("grant_type") {
	case "authorization_code":
		resp, terr = p.codeGrant(r, form, client, now)
	case "refresh_token":
		resp, terr = p.refreshGrant(r, form, client, now)
	case "":
		terr = badRequest("invalid_request", "grant_type missing")
	default:
		terr = badRequest("unsupported_grant_type", "only authorization_code and refresh_token")
	}
	if terr != nil {
		p.writeTokenError(w, terr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// codeGrant redeems an authorization code.
func (p *oidcProvider) codeGrant(r *http.Request, form url.Values, client *OIDCClient, now time.Time) (map[string]any, *tokenError) {
	text := form.Get("code")
	c, replay, ok := p.store.redeemCode(text)
	switch {
	case !ok:
		return nil, badRequest("invalid_grant", "unknown code")
	case replay:
		p.s.log.Warn("OIDC code replayed: tokens issued with it revoked", "client", client.ID)
		return nil, badRequest("invalid_grant", "code already used")
	case now.UnixNano() >= c.expires:
		return nil, badRequest("invalid_grant", "code expired")
	case c.client != client.ID:
		return nil, badRequest("invalid_grant", "code issued to another client")
	case form.Get("redirect_uri") != c.redirect:
		return nil, badRequest("invalid_grant", "redirect_uri differs from the authorization request's")
	}
	verifier := form.Get("code_verifier")
	switch {
	case c.challenge == "" && verifier != "":
		return nil, badRequest("invalid_grant", "code_verifier without a code_challenge at authorization")
	case c.challenge != "" && verifier == "":
		return nil, badRequest("invalid_grant", "code_verifier missing (PKCE)")
	case c.challenge != "" && !pkceMatches(verifier, c.challenge):
		return nil, badRequest("invalid_grant", "code_verifier does not match the code_challenge")
	}
	if !p.alive(c.session) {
		return nil, badRequest("invalid_grant", "the SSO session has ended")
	}
	return p.tokenResponse(r, c.grant, c.nonce, true, text, now)
}

// pkceMatches checks a verifier against an S256 challenge (RFC 7636).
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < pkceVerifierMin || len(verifier) > pkceVerifierMax {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// refreshGrant renews an access token while the SSO session lives.
func (p *oidcProvider) refreshGrant(r *http.Request, form url.Values, client *OIDCClient, now time.Time) (map[string]any, *tokenError) {
	text := form.Get("refresh_token")
	g, ok := p.store.refreshGrant(text)
	switch {
	case !ok:
		return nil, badRequest("invalid_grant", "unknown or revoked refresh token")
	case g.client != client.ID:
		return nil, badRequest("invalid_grant", "refresh token issued to another client")
	case !p.alive(g.session):
		p.store.revokeRefresh(text)
		return nil, badRequest("invalid_grant", "the SSO session has ended")
	}
	resp, terr := p.tokenResponse(r, g, "", false, "", now)
	if terr == nil {
		resp["refresh_token"] = text
	}
	return resp, terr
}

// tokenResponse issues an access token (and a refresh token with
// withRefresh) and an ID token for g.
func (p *oidcProvider) tokenResponse(r *http.Request, g grant, nonce string, withRefresh bool, code string, now time.Time) (map[string]any, *tokenError) {
	access, refresh, err := p.store.issue(g, now.Add(p.cfg.AccessTokenTTL).UnixNano(), withRefresh, code, now.UnixNano())
	if err != nil {
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: err.Error()}
	}
	idToken, err := p.keys.sign(p.idTokenClaims(&g, p.issuer(r), nonce, access, now))
	if err != nil {
		p.s.log.Error("OIDC signing", "err", err.Error())
		return nil, &tokenError{status: http.StatusInternalServerError, code: "server_error", desc: "signing failed"}
	}
	resp := map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int64(p.cfg.AccessTokenTTL / time.Second),
		"id_token": idToken, "scope": g.scopes.String(),
	}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	return resp, nil
}

// authenticateClient finds and authenticates the client by exactly one of
// client_secret_basic, client_secret_post and private_key_jwt.
func (p *oidcProvider) authenticateClient(r *http.Request, form url.Values, tokenURL string, now time.Time) (*OIDCClient, *tokenError) {
	basicID, basicSecret, basic := r.BasicAuth()
	post := form.Has("client_secret")
	jwtAuth := form.Has("client_assertion") || form.Has("client_assertion_type")
	n := 0
	for _, b := range []bool{basic, post, jwtAuth} {
		if b {
			n++
		}
	}
	unauthorized := func(desc string) *tokenError {
		return &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc, basicRealm: basic}
	}
	switch {
	case n > 1:
		return nil, badRequest("invalid_request", "more than one client authentication method")
	case n == 0:
		return nil, unauthorized("client authentication required")
	}
	var c *OIDCClient
	switch {
	case basic:
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		id, err1 := url.QueryUnescape(basicID)
		secret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, unauthorized("malformed Basic credentials")
		}
		if c = p.clients.get(id); c == nil || !c.secretMatches(secret) {
			return nil, unauthorized("unknown client or wrong secret")
		}
	case post:
		if c = p.clients.get(form.Get("client_id")); c == nil || !c.secretMatches(form.Get("client_secret")) {
			return nil, unauthorized("unknown client or wrong secret")
		}
	default:
		var desc string
		if c, desc = p.checkAssertion(form, tokenURL, now); c == nil {
			return nil, unauthorized(desc)
		}
	}
	if id := form.Get("client_id"); id != "" && id != c.ID {
		return nil, unauthorized("client_id is not the authenticated client")
	}
	return c, nil
}

// assertionClaims are the claims of a private_key_jwt client assertion.
type assertionClaims struct {
	jwt.Claims
}

// checkAssertion verifies a private_key_jwt client assertion: signed by a
// key registered for the client named in iss (= sub), addressed to the
// token endpoint or the issuer, unexpired, short lived, its jti not seen
// before. It returns the client, or nil and why not.
func (p *oidcProvider) checkAssertion(form url.Values, tokenURL string, now time.Time) (*OIDCClient, string) {
	if form.Get("client_assertion_type") != clientAssertionType {
		return nil, "client_assertion_type must be " + clientAssertionType
	}
	tok, err := jwt.ParseSigned(form.Get("client_assertion"), assertionAlgs)
	if err != nil {
		return nil, "client_assertion is not a signed JWT"
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, "client_assertion claims do not parse"
	}
	c := p.clients.get(unverified.Issuer)
	if c == nil || len(c.PublicKeys) == 0 {
		return nil, "unknown client or no key registered"
	}
	var claims assertionClaims
	verified := false
	for _, k := range c.PublicKeys {
		if err := tok.Claims(k, &claims); err == nil {
			verified = true
			break
		}
	}
	switch {
	case !verified:
		return nil, "client_assertion signature does not verify"
	case claims.Issuer != c.ID || claims.Subject != c.ID:
		return nil, "client_assertion iss and sub must be the client id"
	case claims.ID == "" || claims.Expiry == nil:
		return nil, "client_assertion needs jti and exp"
	case claims.Expiry.Time().Sub(now) > maxAssertionLife:
		return nil, "client_assertion lives too long"
	}
	issuer := strings.TrimSuffix(tokenURL, oidcTokenPath)
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: now}, assertionClockLeeway); err != nil {
		return nil, "client_assertion expired or not yet valid"
	}
	if !slices.ContainsFunc(claims.Audience, func(a string) bool { return a == tokenURL || a == issuer }) {
		return nil, "client_assertion audience is not this token endpoint"
	}
	fresh, err := p.store.useJTI(c.ID, claims.ID, claims.Expiry.Time().Add(assertionClockLeeway).UnixNano(), now.UnixNano())
	switch {
	case err != nil:
		return nil, err.Error()
	case !fresh:
		return nil, "client_assertion replayed (jti seen before)"
	}
	return c, ""
}
