package cissim

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"
)

// handleUserInfo serves GET and POST /userinfo for a bearer access token
// whose SSO session still lives (using it refreshes the session's idle
// timer, as a RoleAssertion does). A dead token gets 401 invalid_token.
func (p *oidcProvider) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cis-sim"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "bearer token required"})
		return
	}
	now := p.s.now()
	g, ok := p.store.accessGrant(strings.TrimSpace(token), now.UnixNano())
	var v session
	if ok {
		v, ok = p.s.sessions.use(&g.session, now.UnixNano(), true, nil)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cis-sim", error="invalid_token", error_description="token expired, revoked or its SSO session ended"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "token expired, revoked or its SSO session ended"})
		return
	}
	u := &p.s.users[v.user]
	selected := ""
	if g.role != noRole {
		selected = u.Roles[g.role].ID
	}
	writeJSON(w, http.StatusOK, userInfoClaims(u, g.scopes, selected))
}

// handleEndSession serves RP-initiated logout (GET or POST): the
// id_token_hint, signed by this provider (expired is fine), names the
// session, which ends with every token issued on it. The browser goes back
// to post_logout_redirect_uri if it is registered for the client, with the
// state; otherwise it gets a page.
func (p *oidcProvider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		body, err := readCapped(w, r, maxAuthForm)
		if err != nil {
			p.page(w, http.StatusBadRequest, "Bad request", "The logout request is too large.")
			return
		}
		if params, err = url.ParseQuery(string(body)); err != nil {
			p.page(w, http.StatusBadRequest, "Bad request", "The logout request does not parse.")
			return
		}
	}
	for _, v := range params {
		if len(v) > 1 {
			p.page(w, http.StatusBadRequest, "Bad request", "A parameter was given twice.")
			return
		}
	}
	var hint struct {
		Issuer   string       `json:"iss"`
		Audience jwt.Audience `json:"aud"`
		SID      string       `json:"sid"`
	}
	if err := p.keys.verify(params.Get("id_token_hint"), &hint); err != nil || hint.Issuer != p.issuer(r) {
		p.page(w, http.StatusBadRequest, "Logout refused", "The logout request carries no ID token of this provider.")
		return
	}
	clientID := params.Get("client_id")
	if clientID == "" && len(hint.Audience) == 1 {
		clientID = hint.Audience[0]
	}
	c := p.clients.get(clientID)
	if c == nil || !containsExact(hint.Audience, clientID) {
		p.page(w, http.StatusBadRequest, "Logout refused", "The logout request names no client of this ID token.")
		return
	}
	back := params.Get("post_logout_redirect_uri")
	if back != "" && !containsExact(c.PostLogoutRedirectURIs, back) {
		p.page(w, http.StatusBadRequest, "Logout refused", "post_logout_redirect_uri is not registered for this client.")
		return
	}
	now := p.s.now().UnixNano()
	if k, ok := p.s.sessions.findByID(hint.SID, now); ok && p.s.sessions.remove(&k, endLogout) {
		p.s.log.Info("OIDC end session", "client", c.ID, "session", hint.SID)
	}
	if back == "" {
		p.page(w, http.StatusOK, "Logged out", "Your smartcard session has ended. You can close this window.")
		return
	}
	u, _ := url.Parse(back)
	q := u.Query()
	if st := params.Get("state"); st != "" {
		q.Set("state", st)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}
