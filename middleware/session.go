package middleware

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/opencis/cisauth/cis"
)

// SourceSSB is the Session.Source of a session validated by the legacy CIS
// Spine Security Broker (the SAML 1.1 RoleAssertion).
const SourceSSB = "cis-ssb"

// Session is a logged-in CIS session as a handler sees it: who, in which
// selected role, from which identity source, and when it was last checked.
// It holds no credential. The value is shared between requests: read it,
// never modify it (nor the slices it holds).
type Session struct {
	// Source names where the identity comes from: SourceSSB for the
	// legacy CIS RoleAssertion, SourceCIS2 for a CIS2 (OpenID Connect)
	// login.
	Source string
	// User is the user with every role profile they hold.
	User cis.User
	// Role is the selected role profile: always the one the identity
	// source names as selected (the SSB's ssbSessionRoleUid, CIS2's
	// selected_roleid), never one a client chose. It is the zero
	// RoleProfile when the session has no selected role: a CIS2 user with
	// no role profiles, or one who chose none (guards then refuse with
	// 403, saying so).
	Role cis.RoleProfile
	// Mode is live or training.
	Mode cis.Mode
	// Created is the login; Expires the end of the session whatever
	// happens (Created plus CookieConfig.MaxAge).
	Created, Expires time.Time
	// Validated is when the identity source last confirmed the session.
	Validated time.Time
}

// record is a session as a Store keeps it. A record is never modified once
// shared: changes make a copy.
type record struct {
	id        string // random session id; the cookie carries it, signed
	source    string
	ticket    cis.Ticket
	th        ticketHash
	user      cis.User
	roleID    string
	mode      cis.Mode
	created   time.Time
	expires   time.Time
	validated time.Time
	// grant is a CIS2 session's login (tokens and claims); nil for the
	// legacy SSB.
	grant *cis2Grant
	// values are the application's gorilla session values (gob), kept
	// apart from the identity: a Store writes them separately.
	values []byte
}

// state is what a request carries in its context: the record and the
// handler's view of it.
type state struct {
	rec *record
	pub Session
}

func newState(rec *record) *state {
	st := &state{rec: rec, pub: Session{
		Source: rec.source, User: rec.user, Mode: rec.mode,
		Created: rec.created, Expires: rec.expires, Validated: rec.validated,
	}}
	if r := rec.user.Role(rec.roleID); r != nil {
		st.pub.Role = *r
	}
	return st
}

// ticketHash names a ticket in stores, caches and metrics-free logs
// without revealing it: SHA-256 of the ticket.
type ticketHash [sha256.Size]byte

func hashTicket(t cis.Ticket) ticketHash { return sha256.Sum256([]byte(t.Reveal())) }

func (h ticketHash) String() string { return hex.EncodeToString(h[:]) }

// short is a prefix of the hash for log records: enough to match records
// about one ticket, not enough to find it.
func (h ticketHash) short() string { return hex.EncodeToString(h[:4]) }

// sessionIDLen is the random part of a session id, in bytes.
const sessionIDLen = 32

func newSessionID() (string, error) {
	b := make([]byte, sessionIDLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("middleware: session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// validSessionID reports whether s has the shape newSessionID makes.
func validSessionID(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(sessionIDLen) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

type ctxKey struct{}

func withState(ctx context.Context, st *state) context.Context {
	return context.WithValue(ctx, ctxKey{}, st)
}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(ctxKey{}).(*state)
	return st
}

// SessionFrom returns the request's CIS session, put in its context by
// Middleware.Handler or Middleware.Optional. The Session is shared: do not
// modify it.
func SessionFrom(ctx context.Context) (*Session, bool) {
	if st := stateFrom(ctx); st != nil {
		return &st.pub, true
	}
	return nil, false
}

// UserFrom returns the request's CIS user, with every role profile they
// hold.
func UserFrom(ctx context.Context) (cis.User, bool) {
	if st := stateFrom(ctx); st != nil {
		return st.pub.User, true
	}
	return cis.User{}, false
}

// RoleFrom returns the request's selected role profile: the one the
// identity source names as selected, whatever the client said. It returns
// false without a session, and also for a session with no selected role (a
// CIS2 login without role profiles, or without a role choice): the user is
// known (UserFrom) but acts in no role.
func RoleFrom(ctx context.Context) (cis.RoleProfile, bool) {
	if st := stateFrom(ctx); st != nil && st.pub.Role.ID != "" {
		return st.pub.Role, true
	}
	return cis.RoleProfile{}, false
}

// TicketFrom returns the SSO ticket behind the request's session, for a
// handler that must pass it on to another CIS-protected service. It is a
// bearer credential: send it only over TLS to CIS services, never log it,
// never put it in a URL a browser sees. Sessions from a source without a
// ticket return false.
func TicketFrom(ctx context.Context) (cis.Ticket, bool) {
	if st := stateFrom(ctx); st != nil && !st.rec.ticket.IsZero() {
		return st.rec.ticket, true
	}
	return "", false
}
