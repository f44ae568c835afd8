package cis2

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/opencis/cisauth/cis"
)

// BeginOptions adjust one login.
type BeginOptions struct {
	// Prompt, if not empty, is sent as prompt: "login" forces a fresh
	// authentication (and, with the selectedrole scope, a fresh role
	// choice); "none" asks the provider not to show any page.
	Prompt string
}

// AuthRequest is a login begun: send the browser to URL, keep Pending on
// the server, bound to the browser's session, until the callback.
type AuthRequest struct {
	// URL is the provider's authorization URL with every parameter.
	URL string
	// Pending is what Finish needs to check the callback.
	Pending Pending
}

// Pending is a login in progress. It must stay on the server (a session
// store), bound to the browser session that started it: the state proves
// the callback is this browser's, the nonce that the ID token was minted
// for this login, the PKCE verifier that the code was issued for it.
// Fields are exported so a session store can save it; the verifier is a
// Secret and is redacted when printed or logged.
type Pending struct {
	State    string
	Nonce    string
	Verifier Secret
	Created  time.Time
}

// LogValue shows a pending login without its nonce and verifier.
func (p Pending) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("created", p.Created))
}

// Login is a completed login (or a revalidated one): who the user is, in
// which role, how they authenticated, and the tokens to revalidate and log
// out with. Keep it on the server.
type Login struct {
	// User is the user with every role profile from UserInfo.
	User cis.User
	// SelectedRoleID is the role the user selected (selected_roleid),
	// always one of User.Roles; empty when the user has no roles, or the
	// provider named none (selectedrole not asked for and no role chosen
	// at the card).
	SelectedRoleID string
	// Subject is the ID token's sub (= User.UID).
	Subject string
	// SessionID is the provider's session id (sid), if sent.
	SessionID string
	// ACR and AMR are the ID token's assurance claims; AuthTime its
	// auth_time (zero if absent).
	ACR      string
	AMR      []string
	AuthTime time.Time
	// Tokens are the access, refresh and ID tokens.
	Tokens Tokens
}

// SelectedRole returns the selected role profile, or nil if none.
func (l *Login) SelectedRole() *cis.RoleProfile {
	if l == nil || l.SelectedRoleID == "" {
		return nil
	}
	return l.User.Role(l.SelectedRoleID)
}

// Tokens are a login's tokens; all three are Secrets.
type Tokens struct {
	AccessToken  Secret
	RefreshToken Secret // empty if the provider issued none
	IDToken      Secret // the raw ID token, for the logout's id_token_hint
	// Expiry is when the access token expires (zero if the provider did
	// not say), on the relying party's clock.
	Expiry time.Time
}

// Begin starts a login: fresh state, nonce and PKCE verifier, and the
// authorization URL carrying them (with the S256 challenge), the scopes,
// acr_values and, if configured, max_age.
func (rp *RelyingParty) Begin(opts BeginOptions) (*AuthRequest, error) {
	switch opts.Prompt {
	case "", "login", "none", "consent", "select_account":
	default:
		return nil, fmt.Errorf("cis2: unknown prompt %q", shown(opts.Prompt))
	}
	state, err := randomText()
	if err != nil {
		return nil, err
	}
	nonce, err := randomText()
	if err != nil {
		return nil, err
	}
	verifier := oauth2.GenerateVerifier()
	params := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("nonce", nonce),
		oauth2.SetAuthURLParam("acr_values", strings.Join(rp.acr, " ")),
	}
	if rp.maxAge > 0 {
		params = append(params, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(int64(rp.maxAge/time.Second), 10)))
	}
	if opts.Prompt != "" {
		params = append(params, oauth2.SetAuthURLParam("prompt", opts.Prompt))
	}
	return &AuthRequest{
		URL:     rp.oauth.AuthCodeURL(state, params...),
		Pending: Pending{State: state, Nonce: nonce, Verifier: Secret(verifier), Created: rp.now()},
	}, nil
}

// randomText returns 32 random bytes, base64url: a state or a nonce.
func randomText() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cis2: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Finish completes the login p from the callback's raw query: it checks
// the state (ErrState), the iss of the response when the provider sends it
// or says it does (ErrIssuerMismatch), passes on a provider error
// (*ProviderError), refuses a login older than LoginTimeout
// (ErrLoginExpired), exchanges the code with the PKCE verifier (ErrGrant),
// checks the ID token (ErrIDToken) and the assurance policy
// (ErrAssurance), reads UserInfo and refuses another subject (ErrSubject)
// or a selected role the user does not hold (cis.ErrUnknownRole). A Pending
// must be used once: the caller deletes it before calling Finish.
func (rp *RelyingParty) Finish(ctx context.Context, p *Pending, rawQuery string) (*Login, error) {
	if p == nil || p.State == "" || p.Nonce == "" || p.Verifier == "" {
		return nil, refused(ErrState, "no login in progress")
	}
	cb, err := ParseCallback(rawQuery)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(cb.State), []byte(p.State)) != 1 {
		return nil, refused(ErrState, "the callback's state is another login's")
	}
	if cb.Issuer != "" || rp.disc.IssParameterSupported {
		if cb.Issuer != rp.disc.Issuer {
			return nil, refused(ErrIssuerMismatch, "iss %q, want %q", shown(cb.Issuer), rp.disc.Issuer)
		}
	}
	if cb.Error != "" {
		return nil, &ProviderError{Code: shown(cb.Error), Description: cb.ErrorDescription}
	}
	if age := rp.now().Sub(p.Created); age > rp.loginTTL || age < -rp.skew {
		return nil, refused(ErrLoginExpired, "begun %s ago, limit %s", age.Round(time.Second), rp.loginTTL)
	}

	ctx, cancel := rp.ctx(ctx)
	defer cancel()
	ctx, overflow := withOverflowFlag(ctx)
	tok, err := rp.oauth.Exchange(ctx, cb.Code, oauth2.VerifierOption(p.Verifier.Reveal()))
	if err != nil {
		return nil, rp.tokenError(ctx, "CIS2 token", err, overflow.Load(), ErrGrant)
	}
	tokens := rp.tokens(tok, "")
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, refused(ErrIDToken, "the token response has no id_token")
	}
	claims, err := rp.checkIDToken(ctx, raw, tok.AccessToken, p.Nonce)
	if err != nil {
		return nil, err
	}
	if err := checkAssurance(claims.ACR, claims.AMR, rp.acr, rp.amr); err != nil {
		return nil, err
	}
	ui, err := rp.userInfo(ctx, tokens.AccessToken)
	if err != nil {
		return nil, err
	}
	if ui.Subject != claims.Subject {
		return nil, refused(ErrSubject, "UserInfo sub %q, ID token sub %q", shown(ui.Subject), shown(claims.Subject))
	}
	selected := claims.SelectedRoleID
	switch {
	case selected == "":
		selected = ui.SelectedRoleID
	case ui.SelectedRoleID != "" && ui.SelectedRoleID != selected:
		return nil, refused(ErrSubject, "UserInfo selected_roleid %q, ID token's %q", shown(ui.SelectedRoleID), shown(selected))
	}
	if selected != "" && ui.User.Role(selected) == nil {
		return nil, fmt.Errorf("%w: selected_roleid %q: %w", ErrRefused, shown(selected), cis.ErrUnknownRole)
	}
	rp.log.Debug("CIS2 login", "sub", claims.Subject, "roles", len(ui.User.Roles), "selected_role", selected, "acr", claims.ACR)
	return &Login{
		User: ui.User, SelectedRoleID: selected, Subject: claims.Subject, SessionID: claims.SID,
		ACR: claims.ACR, AMR: claims.AMR, AuthTime: claims.authTime(), Tokens: tokens,
	}, nil
}

// tokens converts a token response; the ID token falls back to prevID
// (a refresh answer may carry none).
func (rp *RelyingParty) tokens(tok *oauth2.Token, prevID Secret) Tokens {
	t := Tokens{AccessToken: Secret(tok.AccessToken), RefreshToken: Secret(tok.RefreshToken), IDToken: prevID}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		t.IDToken = Secret(raw)
	}
	if tok.ExpiresIn > 0 {
		t.Expiry = rp.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return t
}

// tokenError sorts a failed token request: invalid_grant is grantGone
// (ErrGrant at login, cis.ErrSessionInvalid at refresh), invalid_client
// ErrClient, 5xx cis.ErrUnavailable, a body over the limit
// cis.ErrTooLarge, a transport failure as cis.TransportError sorts it.
func (rp *RelyingParty) tokenError(ctx context.Context, op string, err error, overflow bool, grantGone error) error {
	var re *oauth2.RetrieveError
	switch {
	case overflow:
		return fmt.Errorf("cis2: %s: answer larger than %d bytes: %w", op, rp.limit, cis.ErrTooLarge)
	case errors.As(err, &re) && re.Response != nil:
		code := re.Response.StatusCode
		what := fmt.Sprintf("cis2: %s: HTTP %d %s", op, code, shown(re.ErrorCode))
		if re.ErrorDescription != "" {
			what += ": " + shown(re.ErrorDescription)
		}
		switch {
		case code >= 500:
			return fmt.Errorf("%s: %w", what, cis.ErrUnavailable)
		case re.ErrorCode == "invalid_grant":
			return fmt.Errorf("%s: %w", what, grantGone)
		case re.ErrorCode == "invalid_client" || code == 401:
			return fmt.Errorf("%s: %w", what, ErrClient)
		}
		return fmt.Errorf("%s: %w", what, cis.ErrMalformed)
	}
	return rp.transportError(ctx, op, err)
}

const userInfoOp = "CIS2 UserInfo"

// userInfo fetches and maps UserInfo. A 401 or 403 matches
// cis.ErrSessionInvalid (the token, and so the grant, is no good).
func (rp *RelyingParty) userInfo(ctx context.Context, access Secret) (*UserInfo, error) {
	body, err := rp.get(ctx, userInfoOp, rp.disc.UserInfoURL, access)
	if err != nil {
		return nil, err
	}
	ui, err := ParseUserInfo(body)
	if err != nil {
		return nil, fmt.Errorf("cis2: %s: %w", userInfoOp, err)
	}
	return ui, nil
}
