package cis2

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/opencis/cisauth/cis"
)

// Revalidate asks the provider whether the login l still stands, and
// returns an updated copy: fresh roles from UserInfo, and fresh tokens if
// the access token was (nearly) expired and a refresh token could renew
// it. l itself is not changed; store the result in its place.
//
// It refreshes first when the access token expires within RefreshMargin,
// then calls UserInfo; a UserInfo 401 with an unrefreshed refresh token
// gets one refresh and one retry. The grant is gone — and the error
// matches cis.ErrSessionInvalid, so the session must end — when the
// provider refuses the refresh token (invalid_grant) or the access token
// (401/403), when the access token has expired and there is no refresh
// token, when UserInfo is about another subject, or when the selected role
// is no longer among the user's roles (that error also matches
// cis.ErrUnknownRole). A provider that cannot be reached, is slow or
// answers 5xx gives cis.ErrUnavailable or cis.ErrTimeout: keep the session
// and try again later.
func (rp *RelyingParty) Revalidate(ctx context.Context, l *Login) (*Login, error) {
	if l == nil || l.Tokens.AccessToken == "" || l.Subject == "" {
		return nil, fmt.Errorf("cis2: revalidate: no login: %w", cis.ErrSessionInvalid)
	}
	ctx, cancel := rp.ctx(ctx)
	defer cancel()
	next := *l
	refreshed := false
	now := rp.now()
	switch expiry := l.Tokens.Expiry; {
	case expiry.IsZero():
	case l.Tokens.RefreshToken != "" && !now.Add(rp.margin).Before(expiry):
		if err := rp.refresh(ctx, &next); err != nil {
			return nil, err
		}
		refreshed = true
	case l.Tokens.RefreshToken == "" && !now.Before(expiry):
		return nil, fmt.Errorf("cis2: revalidate: access token expired and no refresh token: %w", cis.ErrSessionInvalid)
	}
	ui, err := rp.userInfo(ctx, next.Tokens.AccessToken)
	if errors.Is(err, errUnauthorized) && !refreshed && next.Tokens.RefreshToken != "" {
		if err := rp.refresh(ctx, &next); err != nil {
			return nil, err
		}
		ui, err = rp.userInfo(ctx, next.Tokens.AccessToken)
	}
	if err != nil {
		return nil, err
	}
	if ui.Subject != l.Subject {
		return nil, fmt.Errorf("cis2: revalidate: %w: %w", cis.ErrSessionInvalid,
			refused(ErrSubject, "UserInfo sub %q, login's %q", shown(ui.Subject), shown(l.Subject)))
	}
	if l.SelectedRoleID != "" && ui.User.Role(l.SelectedRoleID) == nil {
		return nil, fmt.Errorf("cis2: revalidate: selected role %q no longer held: %w: %w", shown(l.SelectedRoleID), cis.ErrSessionInvalid, cis.ErrUnknownRole)
	}
	next.User = ui.User
	next.AMR = append([]string(nil), l.AMR...)
	return &next, nil
}

const refreshOp = "CIS2 refresh"

// refresh renews l's tokens with its refresh token. A refresh answer's ID
// token, if any, must pass the ID token checks (no nonce) and be about
// the same subject.
func (rp *RelyingParty) refresh(ctx context.Context, l *Login) error {
	ctx, overflow := withOverflowFlag(ctx)
	old := &oauth2.Token{RefreshToken: l.Tokens.RefreshToken.Reveal(), Expiry: time.Unix(1, 0)}
	tok, err := rp.oauth.TokenSource(ctx, old).Token()
	if err != nil {
		return rp.tokenError(ctx, refreshOp, err, overflow.Load(), cis.ErrSessionInvalid)
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		c, err := rp.checkIDToken(ctx, raw, tok.AccessToken, "")
		if err != nil {
			return err
		}
		if c.Subject != l.Subject {
			return fmt.Errorf("cis2: %s: %w: %w", refreshOp, cis.ErrSessionInvalid, refused(ErrSubject, "refreshed ID token is about %q", shown(c.Subject)))
		}
	}
	l.Tokens = rp.tokens(tok, l.Tokens.IDToken)
	return nil
}
