package cissim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The authorization endpoint. GET shows a page that fetches the ticket from
// the local agent (or takes a pasted one) and posts it back, with the query
// kept, as the form field "ticket"; POST checks it and, when the user must
// choose a role, shows the role page (which posts back "interaction" and
// "role"); then it redirects to the client with a code.
//
// CSRF: a POST must pass net/http's cross-origin protection (Sec-Fetch-Site
// and Origin) and carry a form token that is an HMAC of the request's query
// and a random cookie set by the GET (double submit, bound to this
// authorization request).

const (
	maxAuthQuery     = 8 << 10
	maxAuthForm      = 16 << 10
	maxAuthParam     = 1024
	interactionTTL   = 10 * time.Minute
	csrfCookie       = "cissim_oidc_csrf"
	pkceChallengeLen = 43 // base64url of SHA-256
)

// authRequest is a checked authorization request.
type authRequest struct {
	canon     string // the query re-encoded canonically (url.Values.Encode)
	client    *OIDCClient
	redirect  string
	state     string
	nonce     string
	scopes    scopeSet
	challenge string
	prompt    map[string]bool
	maxAge    int64 // seconds; -1 if not sent
}

// authError is a refused authorization request: sent back to the redirect
// URI as an OAuth error, or, when there is no registered redirect URI to
// trust, answered with a page.
type authError struct {
	code, desc string
	page       bool
}

// parseAuthRequest checks an authorization request's query, client and
// redirect URI first (a failure there is a page, never a redirect).
func (p *oidcProvider) parseAuthRequest(raw string) (*authRequest, *authError) {
	if len(raw) > maxAuthQuery {
		return nil, &authError{code: "invalid_request", desc: "request too long", page: true}
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &authError{code: "invalid_request", desc: "the query does not parse", page: true}
	}
	one := func(k string) (string, bool) {
		v := q[k]
		return strings.Join(v, ""), len(v) <= 1
	}
	clientID, ok1 := one("client_id")
	redirect, ok2 := one("redirect_uri")
	if !ok1 || !ok2 || clientID == "" || redirect == "" {
		return nil, &authError{code: "invalid_request", desc: "client_id and redirect_uri are required, once each", page: true}
	}
	c := p.clients.get(clientID)
	if c == nil {
		return nil, &authError{code: "unauthorized_client", desc: "unknown client_id", page: true}
	}
	if !containsExact(c.RedirectURIs, redirect) {
		return nil, &authError{code: "invalid_request", desc: "redirect_uri is not registered for this client", page: true}
	}
	req := &authRequest{canon: q.Encode(), client: c, redirect: redirect, maxAge: -1}
	req.state, _ = one("state")
	if len(q["state"]) > 1 {
		req.state = ""
	}
	for k, v := range q {
		if len(v) > 1 {
			return req, &authError{code: "invalid_request", desc: k + " given more than once"}
		}
		if len(v[0]) > maxAuthParam && k != "redirect_uri" {
			return req, &authError{code: "invalid_request", desc: k + " too long"}
		}
	}
	switch {
	case q.Has("request"):
		return req, &authError{code: "request_not_supported", desc: "request objects are not supported"}
	case q.Has("request_uri"):
		return req, &authError{code: "request_uri_not_supported", desc: "request_uri is not supported"}
	case q.Get("response_type") != "code":
		return req, &authError{code: "unsupported_response_type", desc: "only response_type=code"}
	case q.Has("response_mode") && q.Get("response_mode") != "query":
		return req, &authError{code: "invalid_request", desc: "only response_mode=query"}
	case !printable(req.state) || !printable(q.Get("nonce")):
		return req, &authError{code: "invalid_request", desc: "state and nonce must be printable ASCII"}
	}
	req.nonce = q.Get("nonce")
	if req.scopes, err = parseScopes(q.Get("scope")); err != nil || !req.scopes.has(scopeOpenID) {
		desc := "openid is required"
		if err != nil {
			desc = err.Error()
		}
		return req, &authError{code: "invalid_scope", desc: desc}
	}
	method := q.Get("code_challenge_method")
	req.challenge = q.Get("code_challenge")
	switch {
	case req.challenge == "" && method != "":
		return req, &authError{code: "invalid_request", desc: "code_challenge_method without code_challenge"}
	case req.challenge != "" && method != "S256":
		return req, &authError{code: "invalid_request", desc: "only code_challenge_method=S256"}
	case req.challenge != "" && !base64url(req.challenge, pkceChallengeLen):
		return req, &authError{code: "invalid_request", desc: "code_challenge is not a base64url SHA-256"}
	}
	req.prompt = map[string]bool{}
	for _, v := range strings.Fields(q.Get("prompt")) {
		switch v {
		case "none", "login", "consent", "select_account":
			req.prompt[v] = true
		default:
			return req, &authError{code: "invalid_request", desc: "unknown prompt value"}
		}
	}
	if req.prompt["none"] && len(req.prompt) > 1 {
		return req, &authError{code: "invalid_request", desc: "prompt=none with other values"}
	}
	if q.Has("max_age") {
		n, err := strconv.ParseInt(q.Get("max_age"), 10, 64)
		if err != nil || n < 0 || n > 1e9 {
			return req, &authError{code: "invalid_request", desc: "max_age must be a number of seconds"}
		}
		req.maxAge = n
	}
	return req, nil
}

func containsExact(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// base64url reports whether s is n characters of the base64url alphabet.
func base64url(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// handleAuthorize serves GET and POST /authorize.
func (p *oidcProvider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	req, aerr := p.parseAuthRequest(r.URL.RawQuery)
	if aerr == nil && r.Method == http.MethodGet && req.prompt["none"] {
		aerr = &authError{code: "login_required", desc: "a smartcard login needs the login page"}
	}
	if aerr != nil {
		p.refuseAuth(w, r, req, aerr)
		return
	}
	if r.Method == http.MethodGet {
		p.showTicketPage(w, r, req, "", http.StatusOK)
		return
	}
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		p.page(w, http.StatusForbidden, "Refused", "This request came from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAuthForm)
	if err := r.ParseForm(); err != nil {
		p.page(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	form := r.PostForm
	for _, v := range form {
		if len(v) > 1 {
			p.page(w, http.StatusBadRequest, "Bad request", "A form field was given twice.")
			return
		}
	}
	if !p.csrfOK(r, req, form.Get("csrf")) {
		p.page(w, http.StatusForbidden, "Refused", "This form has expired or did not come from this page. Go back to the application and start again.")
		return
	}
	if form.Has("interaction") {
		p.chooseRole(w, r, req, form.Get("interaction"), form.Get("role"))
		return
	}
	p.acceptTicket(w, r, req, strings.TrimSpace(form.Get("ticket")))
}

// acceptTicket authenticates the request with an SSO ticket.
func (p *oidcProvider) acceptTicket(w http.ResponseWriter, r *http.Request, req *authRequest, ticket string) {
	now := p.s.now()
	k, ok := parseTicket(ticket)
	var v session
	if ok {
		v, ok = p.s.sessions.use(&k, now.UnixNano(), true, nil)
	}
	if !ok {
		p.s.log.Info("OIDC authorize: ticket refused", "client", req.client.ID)
		p.showTicketPage(w, r, req, "That is not a live smartcard session. Insert your card, or paste a current ticket.", http.StatusUnauthorized)
		return
	}
	if req.maxAge >= 0 && now.Sub(unixNano(v.created)) > time.Duration(req.maxAge)*time.Second {
		p.refuseAuth(w, r, req, &authError{code: "login_required", desc: "the smartcard session is older than max_age: remove and reinsert the card"})
		return
	}
	u := &p.s.users[v.user]
	switch {
	case len(u.Roles) > 1 && req.scopes.has(scopeSelectedRole) && (v.role == noRole || req.prompt["login"]):
		id, err := p.store.addInteraction(&interaction{session: k, query: req.canon, expires: now.Add(interactionTTL).UnixNano()}, now.UnixNano())
		if err != nil {
			p.refuseAuth(w, r, req, &authError{code: "temporarily_unavailable", desc: err.Error()})
			return
		}
		p.showRolePage(w, r, req, id, u)
		return
	case len(u.Roles) == 1 && v.role == noRole:
		v, ok = p.s.sessions.use(&k, now.UnixNano(), false, func(s *session) { s.role = 0 })
		if !ok {
			p.showTicketPage(w, r, req, "The smartcard session has just ended.", http.StatusUnauthorized)
			return
		}
	}
	p.redirectWithCode(w, r, req, k, v)
}

// chooseRole completes a role prompt.
func (p *oidcProvider) chooseRole(w http.ResponseWriter, r *http.Request, req *authRequest, id, roleID string) {
	now := p.s.now()
	in := p.store.takeInteraction(id, req.canon, now.UnixNano())
	if in == nil {
		p.page(w, http.StatusBadRequest, "Start again", "This role choice has expired. Go back to the application and log in again.")
		return
	}
	known := true
	v, ok := p.s.sessions.use(&in.session, now.UnixNano(), true, func(s *session) {
		idx := roleIndex(&p.s.users[s.user], roleID)
		if idx < 0 {
			known = false
			return
		}
		s.role = int16(idx)
	})
	switch {
	case !ok:
		p.showTicketPage(w, r, req, "The smartcard session has ended.", http.StatusUnauthorized)
	case !known:
		p.page(w, http.StatusBadRequest, "Start again", "That role is not one of yours. Go back to the application and log in again.")
	default:
		p.redirectWithCode(w, r, req, in.session, v)
	}
}

// redirectWithCode issues a code for the session and sends the browser to
// the client with it.
func (p *oidcProvider) redirectWithCode(w http.ResponseWriter, r *http.Request, req *authRequest, k sessionKey, v session) {
	now := p.s.now()
	code := &authCode{
		grant: grant{
			client: req.client.ID, session: k, user: v.user, role: v.role, scopes: req.scopes,
			authTime: unixNano(v.created).Unix(),
		},
		redirect: req.redirect, nonce: req.nonce, challenge: req.challenge,
		expires: now.Add(p.cfg.CodeTTL).UnixNano(),
	}
	text, err := p.store.addCode(code, now.UnixNano())
	if err != nil {
		p.refuseAuth(w, r, req, &authError{code: "temporarily_unavailable", desc: err.Error()})
		return
	}
	p.s.log.Info("OIDC code issued", "client", req.client.ID, "session", sessionID(&k))
	p.redirect(w, r, req, url.Values{"code": {text}})
}

// refuseAuth answers a refused request: a page, or the error sent back to
// the redirect URI.
func (p *oidcProvider) refuseAuth(w http.ResponseWriter, r *http.Request, req *authRequest, e *authError) {
	if e.page || req == nil {
		p.s.log.Info("OIDC authorize refused with a page", "error", e.code, "reason", e.desc)
		p.page(w, http.StatusBadRequest, "Login request refused", "The application sent an invalid login request ("+e.desc+"). Tell its supplier.")
		return
	}
	p.s.log.Info("OIDC authorize refused", "client", req.client.ID, "error", e.code, "reason", e.desc)
	p.redirect(w, r, req, url.Values{"error": {e.code}, "error_description": {e.desc}})
}

// redirect sends the browser to the request's redirect URI with params,
// the state and iss (RFC 9207): 302 after a GET, 303 after a POST.
func (p *oidcProvider) redirect(w http.ResponseWriter, r *http.Request, req *authRequest, params url.Values) {
	u, err := url.Parse(req.redirect)
	if err != nil { // registered URIs parse; be safe anyway
		p.page(w, http.StatusInternalServerError, "Error", "The redirect URI does not parse.")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	q.Set("iss", p.issuer(r))
	u.RawQuery = q.Encode()
	code := http.StatusFound
	if r.Method == http.MethodPost {
		code = http.StatusSeeOther
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), code)
}

// alive reports whether an SSO session is live.
func (p *oidcProvider) alive(k sessionKey) bool {
	_, ok := p.s.sessions.use(&k, p.s.now().UnixNano(), false, nil)
	return ok
}

// csrfToken is the form token for a cookie value and a request.
func (p *oidcProvider) csrfToken(cookie, canon string) string {
	m := hmac.New(sha256.New, p.s.macKey[:])
	m.Write([]byte("cis-sim oidc csrf\x00"))
	m.Write([]byte(cookie))
	m.Write([]byte{0})
	m.Write([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfCookieValue returns the request's CSRF cookie, if well formed.
func csrfCookieValue(r *http.Request) (string, bool) {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !base64url(c.Value, 43) {
		return "", false
	}
	return c.Value, true
}

func (p *oidcProvider) csrfOK(r *http.Request, req *authRequest, token string) bool {
	cookie, ok := csrfCookieValue(r)
	if !ok || token == "" {
		return false
	}
	want := p.csrfToken(cookie, req.canon)
	return subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

// ensureCSRFCookie returns the request's CSRF cookie, setting a new one if
// it has none.
func (p *oidcProvider) ensureCSRFCookie(w http.ResponseWriter, r *http.Request) (string, error) {
	if v, ok := csrfCookieValue(r); ok {
		return v, nil
	}
	_, v, err := newOpaque()
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: v, Path: OIDCRealmPath, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(interactionTTL / time.Second),
	})
	return v, nil
}
