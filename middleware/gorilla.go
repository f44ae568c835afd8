package middleware

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/sessions"
)

// maxValues bounds the encoded application values of one session.
const maxValues = 64 << 10

// ErrOtherSession means SessionStore was asked for a session name other
// than the CIS session cookie's.
var ErrOtherSession = errors.New("middleware: SessionStore serves only the CIS session cookie's name")

// SessionStore returns the CIS session as a gorilla/sessions Store, for an
// application's own per-session values (a flash message, a chosen ward):
//
//	store := m.SessionStore()
//	s, _ := store.Get(r, m.CookieName())
//	s.Values["ward"] = "7B"
//	err := s.Save(r, w)
//
// The values live on the server with the session (never in the cookie,
// which stays the signed session id), are shared by every instance of a
// Redis store, and end with the session at logout, revalidation failure or
// expiry. Values are gob-encoded: register your own types with gob.Register.
// At most 64 KiB of values per session.
//
// Use it in handlers behind Handler or Optional: Get finds the request's
// session there. Without one, Get returns a new, empty session whose Save
// fails with ErrNoSession: only a login creates a session. Setting
// Options.MaxAge < 0 before Save ends the session (a logout, without the
// GAS logout). Get with another name returns ErrOtherSession.
func (m *Middleware) SessionStore() sessions.Store { return gorillaStore{m} }

// CookieName is the session cookie's name (with the "__Host-" prefix when
// Secure), the name SessionStore serves.
func (m *Middleware) CookieName() string { return m.ck.name }

// gorillaStore implements sessions.Store on the middleware's sessions.
type gorillaStore struct{ m *Middleware }

// Get returns the request's session from gorilla's per-request registry.
func (g gorillaStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(g, name)
}

// New returns the request's session with its values decoded.
func (g gorillaStore) New(r *http.Request, name string) (*sessions.Session, error) {
	s := sessions.NewSession(g, name)
	opts := g.m.ck.opts
	s.Options = &opts
	s.IsNew = true
	if name != g.m.ck.name {
		return s, ErrOtherSession
	}
	st := stateFrom(r.Context())
	if st == nil {
		return s, nil
	}
	s.IsNew = false
	if len(st.rec.values) > 0 {
		if err := gob.NewDecoder(bytes.NewReader(st.rec.values)).Decode(&s.Values); err != nil {
			return s, fmt.Errorf("middleware: session values: %w", err)
		}
	}
	return s, nil
}

// Save stores the session's values with the request's session, or ends
// the session when Options.MaxAge < 0.
func (g gorillaStore) Save(r *http.Request, w http.ResponseWriter, s *sessions.Session) error {
	if s.Name() != g.m.ck.name {
		return ErrOtherSession
	}
	st := stateFrom(r.Context())
	if st == nil {
		return ErrNoSession
	}
	ctx := r.Context()
	if s.Options != nil && s.Options.MaxAge < 0 {
		return g.m.endAndClear(ctx, w, "logout", st.rec)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s.Values); err != nil {
		return fmt.Errorf("middleware: session values: %w", err)
	}
	if buf.Len() > maxValues {
		return fmt.Errorf("middleware: session values are %d bytes, more than %d", buf.Len(), maxValues)
	}
	values := buf.Bytes()
	if err := g.m.be.setValues(ctx, st.rec.id, values); err != nil {
		return err
	}
	g.m.storeValues(st.rec.id, values)
	return nil
}

// storeValues updates this instance's cached copy of a session's values.
func (m *Middleware) storeValues(id string, values []byte) {
	e := m.cache.lookupID(id)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.st.Load(); cur != nil {
		rec := *cur.rec
		rec.values = values
		e.st.Store(newState(&rec))
	}
}
