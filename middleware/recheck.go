package middleware

import (
	"context"
	"errors"
	"net/http"

	"github.com/opencis/cisauth/cis"
)

// recheckResult is what recheckTicket found.
type recheckResult int

const (
	recheckNone  recheckResult = iota // no session of the ticket here: nothing asked
	recheckLive                       // the SSO session is live: the sessions were refreshed
	recheckEnded                      // the SSO session has ended: so have its web sessions
)

// recheckTicket checks every session of a ticket now, on every instance:
// the path a session notification from CIS (a hint, never proof) takes.
// The cached validation is dropped and the SSB asked again; if the SSO
// session has ended, every web session of the ticket ends; otherwise each
// takes the fresh identity, and a session whose selected role changed is
// marked due, so that its next request applies the change (and rotates the
// session id where the new cookie can be set). A ticket with no session
// costs one look-up in the store's ticket index and nothing else.
func (m *Middleware) recheckTicket(ctx context.Context, th ticketHash) (recheckResult, error) {
	ids, err := m.be.sessionsOf(ctx, th)
	if err != nil {
		return recheckNone, err
	}
	var recs []*record
	for _, id := range ids {
		rec, err := m.be.load(ctx, id)
		if errors.Is(err, errNoRecord) {
			continue
		}
		if err != nil {
			return recheckNone, err
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return recheckNone, nil
	}
	if err := m.val.forget(ctx, th); err != nil {
		return recheckNone, err
	}
	id, err := m.ssb.identify(ctx, recs[0].ticket, th, true)
	if err != nil {
		if status, _ := cis.HTTPStatus(err); status == http.StatusUnauthorized {
			m.metrics.revalFailure(SourceSSB, "sso_ended")
			return recheckEnded, m.end(ctx, "sso_ended", recs...)
		}
		return recheckNone, err
	}
	for _, rec := range recs {
		if err := sameUser(rec, id); err != nil {
			if err := m.end(ctx, "sso_ended", rec); err != nil {
				return recheckNone, err
			}
			continue
		}
		n := *rec
		if id.roleID == rec.roleID {
			n.user, n.mode, n.validated = id.user, id.mode, id.checked
		} else {
			n.validated = rec.validated.Add(-m.s.Revalidate)
		}
		if err := m.be.setIdentity(ctx, &n); err != nil && !errors.Is(err, errNoRecord) {
			return recheckNone, err
		}
		// Reload from the store on the next request here too.
		m.cache.forget(rec.id)
	}
	return recheckLive, nil
}
