package cis2

import (
	"log/slog"
	"net/url"
	"strings"
)

// LogoutRequest is an RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0): send the browser to Endpoint with Params. Params carry the
// ID token as id_token_hint, so prefer an auto-submitted POST form (the
// provider accepts both) to the GET URL: a form keeps the token out of
// the address bar, history, Referer headers and access logs.
type LogoutRequest struct {
	Endpoint string
	Params   url.Values
}

// LogValue makes slog show the endpoint only, never the ID token.
func (r *LogoutRequest) LogValue() slog.Value { return slog.StringValue(r.Endpoint) }

// URL returns the GET form of the request.
func (r *LogoutRequest) URL() string {
	sep := "?"
	if strings.Contains(r.Endpoint, "?") {
		sep = "&"
	}
	return r.Endpoint + sep + r.Params.Encode()
}

// Logout builds the logout request for l: id_token_hint (l's ID token),
// client_id, post_logout_redirect_uri (if configured) and state (if not
// empty, to be checked when the browser comes back). It fails with
// ErrNoEndSession if the provider has no end_session_endpoint; end the
// local session either way.
func (rp *RelyingParty) Logout(l *Login, state string) (*LogoutRequest, error) {
	if rp.disc.EndSessionURL == "" {
		return nil, ErrNoEndSession
	}
	p := url.Values{"client_id": {rp.oauth.ClientID}}
	if l != nil && l.Tokens.IDToken != "" {
		p.Set("id_token_hint", l.Tokens.IDToken.Reveal())
	}
	if rp.settings.PostLogoutRedirectURL != "" {
		p.Set("post_logout_redirect_uri", rp.settings.PostLogoutRedirectURL)
	}
	if state != "" {
		p.Set("state", state)
	}
	return &LogoutRequest{Endpoint: rp.disc.EndSessionURL, Params: p}, nil
}
