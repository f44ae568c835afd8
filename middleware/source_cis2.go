package middleware

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
)

// SourceCIS2 is the Session.Source of a session logged in through NHS CIS2
// (OpenID Connect) and revalidated with its UserInfo endpoint.
const SourceCIS2 = "cis2"

// cis2Grant is what a CIS2 session keeps of its login besides the user and
// the selected role: the tokens (server side only: the store, never the
// cookie or the browser) and the claims that say how the user logged in.
// A grant is never modified once shared.
type cis2Grant struct {
	subject  string
	sid      string // the provider's session id, if sent
	loginID  string // random, names the login when there is no sid
	acr      string
	amr      []string
	authTime time.Time
	tokens   cis2.Tokens
}

// grantOf takes the grant part of a login; loginID carries over from the
// grant it renews ("" at a new login: a fresh one is made).
func grantOf(l *cis2.Login, loginID string) (*cis2Grant, error) {
	if loginID == "" {
		id, err := newSessionID()
		if err != nil {
			return nil, err
		}
		loginID = id
	}
	return &cis2Grant{
		subject: l.Subject, sid: l.SessionID, loginID: loginID, acr: l.ACR, amr: slices.Clone(l.AMR),
		authTime: l.AuthTime, tokens: l.Tokens,
	}, nil
}

// index names the grant's sessions in the store's per-ticket index: the
// provider's session (sid) when known, else this login. Hashed apart from
// legacy tickets (which all start "AQIC").
func (g *cis2Grant) index() ticketHash {
	if g.sid != "" {
		return sha256.Sum256([]byte("cis2 sid\x00" + g.sid))
	}
	return sha256.Sum256([]byte("cis2 login\x00" + g.loginID))
}

// loginOf rebuilds the relying party's view of a CIS2 session.
func loginOf(rec *record) *cis2.Login {
	g := rec.grant
	return &cis2.Login{
		User: rec.user, SelectedRoleID: rec.roleID, Subject: g.subject, SessionID: g.sid,
		ACR: g.acr, AMR: slices.Clone(g.amr), AuthTime: g.authTime, Tokens: g.tokens,
	}
}

// cis2Identity checks what a relying party returned — whatever it did
// itself: a user id equal to the subject, the selected role (if any) among
// the user's roles, an access token — and turns it into an identity.
func cis2Identity(l *cis2.Login, loginID string, now time.Time) (identity, error) {
	switch {
	case l == nil || l.User.UID == "" || l.Subject != l.User.UID:
		return identity{}, fmt.Errorf("middleware: CIS2 login without a user id equal to its subject: %w", cis.ErrMalformed)
	case l.SelectedRoleID != "" && l.User.Role(l.SelectedRoleID) == nil:
		return identity{}, fmt.Errorf("middleware: CIS2 login's selected role is not one of the user's roles: %w", cis.ErrMalformed)
	case l.Tokens.AccessToken.IsZero():
		return identity{}, fmt.Errorf("middleware: CIS2 login without an access token: %w", cis.ErrMalformed)
	}
	g, err := grantOf(l, loginID)
	if err != nil {
		return identity{}, err
	}
	return identity{user: l.User, roleID: l.SelectedRoleID, mode: cis.ModeLive, checked: now, grant: g}, nil
}

// cis2Source revalidates CIS2 sessions through the relying party
// (UserInfo, and a refresh when the access token is due): one call in
// flight per session, a breaker that stops calls for a while when the
// provider fails, and, with a shared store, the fresher result of another
// instance used rather than asking again.
type cis2Source struct {
	rp      CIS2RelyingParty
	be      backend
	ttl     time.Duration
	now     func() time.Time
	metrics *metrics
	log     *slog.Logger
	group   singleflight.Group
	brk     breaker
}

func (s *cis2Source) recheck(ctx context.Context, rec *record, force bool) (identity, error) {
	if rec.grant == nil {
		return identity{}, fmt.Errorf("middleware: CIS2 session without its grant: %w", cis.ErrSessionInvalid)
	}
	// The caller's ctx bounds only its own wait; the call runs on for the
	// others (the relying party bounds it with its own timeout).
	fctx := context.WithoutCancel(ctx)
	ch := s.group.DoChan(rec.id, func() (any, error) { return s.revalidate(fctx, rec, force) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return identity{}, res.Err
		}
		return res.Val.(identity), nil
	case <-ctx.Done():
		return identity{}, ctx.Err()
	}
}

func (s *cis2Source) revalidate(ctx context.Context, rec *record, force bool) (identity, error) {
	now := s.now()
	if !force {
		cur, err := s.be.load(ctx, rec.id)
		switch {
		case errors.Is(err, errNoRecord):
			return identity{}, fmt.Errorf("middleware: CIS2 session ended elsewhere: %w", cis.ErrSessionInvalid)
		case err != nil:
			return identity{}, err
		case cur.grant == nil || cur.user.UID != rec.user.UID:
			return identity{}, fmt.Errorf("middleware: stored CIS2 session changed hands: %w", cis.ErrSessionInvalid)
		case cur.validated.After(rec.validated) && now.Sub(cur.validated) < s.ttl:
			// Another instance (or request) revalidated it just now.
			return identity{user: cur.user, roleID: cur.roleID, mode: cur.mode, checked: cur.validated, grant: cur.grant}, nil
		}
		// Its tokens may have been refreshed elsewhere: use the newest.
		rec = cur
	}
	if err := s.brk.allow(now); err != nil {
		s.metrics.cis2Revalidations.WithLabelValues("backoff").Inc()
		return identity{}, err
	}
	l, err := s.rp.Revalidate(ctx, loginOf(rec))
	s.metrics.cis2Duration.WithLabelValues("revalidate").Observe(s.now().Sub(now).Seconds())
	if err == nil {
		var id identity
		if id, err = cis2Identity(l, rec.grant.loginID, now); err == nil {
			s.brk.record(s.now(), nil)
			s.metrics.cis2Revalidations.WithLabelValues("ok").Inc()
			return id, nil
		}
	}
	if errors.Is(err, cis2.ErrRefused) && !errors.Is(err, cis.ErrSessionInvalid) {
		// A refreshed ID token that fails its checks: the grant can no
		// longer be trusted.
		err = fmt.Errorf("%w: %w", err, cis.ErrSessionInvalid)
	}
	s.brk.record(s.now(), err)
	label := outcome(err)
	if errors.Is(err, cis2.ErrRefused) {
		label = "refused"
	}
	s.metrics.cis2Revalidations.WithLabelValues(label).Inc()
	s.log.LogAttrs(ctx, slog.LevelDebug, "CIS2 revalidation failed", slog.String("uid", rec.user.UID), slog.String("error", err.Error()))
	return identity{}, err
}

// grantWire is a CIS2 grant as a shared store (Redis) keeps it, inside the
// record's JSON. The tokens are written explicitly (cis2.Secret redacts
// itself in JSON): treat the store as holding credentials.
type grantWire struct {
	Subject      string    `json:"sub"`
	SID          string    `json:"sid,omitempty"`
	LoginID      string    `json:"login_id"`
	ACR          string    `json:"acr,omitempty"`
	AMR          []string  `json:"amr,omitempty"`
	AuthTime     time.Time `json:"auth_time,omitzero"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

func wireOfGrant(g *cis2Grant) *grantWire {
	if g == nil {
		return nil
	}
	return &grantWire{
		Subject: g.subject, SID: g.sid, LoginID: g.loginID, ACR: g.acr, AMR: g.amr, AuthTime: g.authTime,
		AccessToken: g.tokens.AccessToken.Reveal(), RefreshToken: g.tokens.RefreshToken.Reveal(),
		IDToken: g.tokens.IDToken.Reveal(), Expiry: g.tokens.Expiry,
	}
}

// grant checks a stored grant of the user uid and returns it.
func (w *grantWire) grant(uid string) (*cis2Grant, error) {
	switch {
	case w.Subject != uid:
		return nil, fmt.Errorf("%w: CIS2 grant of another subject", errWire)
	case w.AccessToken == "":
		return nil, fmt.Errorf("%w: CIS2 grant without an access token", errWire)
	case !validSessionID(w.LoginID):
		return nil, fmt.Errorf("%w: CIS2 grant without a login id", errWire)
	}
	return &cis2Grant{
		subject: w.Subject, sid: w.SID, loginID: w.LoginID, acr: w.ACR, amr: w.AMR, authTime: w.AuthTime,
		tokens: cis2.Tokens{
			AccessToken: cis2.Secret(w.AccessToken), RefreshToken: cis2.Secret(w.RefreshToken),
			IDToken: cis2.Secret(w.IDToken), Expiry: w.Expiry,
		},
	}, nil
}
