package middleware

import (
	"context"
	"fmt"
	"time"

	"github.com/opencis/cisauth/cis"
)

// identity is what an identity source says about a session now.
type identity struct {
	user    cis.User
	roleID  string
	mode    cis.Mode
	checked time.Time  // when the source said it
	grant   *cis2Grant // a CIS2 login's tokens and claims, as they are now; nil for the SSB
}

// source is an identity source: where sessions of one Session.Source come
// from and how they are checked again. The legacy SSB is one; CIS2 (OpenID
// Connect) can be another, filling the same cis.User and cis.RoleProfile,
// without the session, guard or revalidation code changing.
type source interface {
	// recheck asks the source about the session again; force skips any
	// cache. An error sorted 401 by cis.HTTPStatus ends the session; any
	// other keeps it and fails the request.
	recheck(ctx context.Context, rec *record, force bool) (identity, error)
}

// ssbSource validates sessions by their SSO ticket's RoleAssertion.
type ssbSource struct{ val *validation }

func (s ssbSource) recheck(ctx context.Context, rec *record, force bool) (identity, error) {
	return s.identify(ctx, rec.ticket, rec.th, force)
}

func (s ssbSource) identify(ctx context.Context, t cis.Ticket, th ticketHash, force bool) (identity, error) {
	v, err := s.val.get(ctx, t, th, force)
	if err != nil {
		return identity{}, err
	}
	return identity{user: v.a.User, roleID: v.a.SelectedRoleID, mode: v.a.Mode, checked: v.fetched}, nil
}

// sameUser checks that a recheck is about the session's user: a ticket
// never changes hands, so anything else is a broken source.
func sameUser(rec *record, id identity) error {
	if id.user.UID != rec.user.UID {
		return fmt.Errorf("middleware: the identity source names another user for this session: %w", cis.ErrSessionInvalid)
	}
	return nil
}
