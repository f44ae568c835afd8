package cissim

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencis/cisauth/cis"
)

// In-process control of the simulator, for tests and the admin API.

// ErrNoSession means no live session has the given id or ticket.
var ErrNoSession = errors.New("cissim: no such live session")

func unixNano(ns int64) time.Time { return time.Unix(0, ns) }

func roleIndex(u *cis.User, id string) int {
	for i := range u.Roles {
		if u.Roles[i].ID == id {
			return i
		}
	}
	return -1
}

// CreateSession starts an SSO session for uid directly, without the GAS
// exchange, and selects roleID with mode if roleID is not empty. It is
// for tests that need many sessions fast; cistest's Login does a real
// login instead.
func (s *Simulator) CreateSession(uid, roleID string, mode cis.Mode) (cis.Ticket, error) {
	ui, ok := s.byUID[uid]
	if !ok {
		return "", fmt.Errorf("cissim: unknown user %s", uid)
	}
	role := noRole
	if roleID != "" {
		if role = roleIndex(&s.users[ui], roleID); role < 0 {
			return "", fmt.Errorf("cissim: user %s: %w", uid, cis.ErrUnknownRole)
		}
	}
	return s.newSession(ui, role, mode, [16]byte{})
}

func (s *Simulator) newSession(user, role int, mode cis.Mode, ip [16]byte) (cis.Ticket, error) {
	var k sessionKey
	if _, err := io.ReadFull(s.cfg.Rand, k[:]); err != nil {
		return "", fmt.Errorf("cissim: random: %w", err)
	}
	now := s.now().UnixNano()
	v := session{created: now, last: now, user: int32(user), role: int16(role), mode: uint8(mode), ip: ip}
	if err := s.sessions.add(k, v, now); err != nil {
		return "", err
	}
	return formatTicket(&k), nil
}

// Sessions lists the live sessions, oldest first.
func (s *Simulator) Sessions() []SessionInfo {
	var out []SessionInfo
	s.sessions.each(s.now().UnixNano(), func(k *sessionKey, v *session) {
		out = append(out, s.info(k, v))
	})
	sortSessions(out)
	return out
}

func (s *Simulator) info(k *sessionKey, v *session) SessionInfo {
	u := &s.users[v.user]
	si := SessionInfo{
		ID:      sessionID(k),
		UID:     u.UID,
		Mode:    cis.Mode(v.mode),
		Created: unixNano(v.created).UTC(),
		Expires: unixNano(s.sessions.expires(v)).UTC(),
	}
	if v.role != noRole {
		si.RoleID = u.Roles[v.role].ID
	}
	return si
}

// SessionID returns the opaque admin id of the live session behind t.
func (s *Simulator) SessionID(t cis.Ticket) (string, error) {
	k, ok := parseTicket(t.Reveal())
	if !ok {
		return "", ErrNoSession
	}
	if _, live := s.sessions.use(&k, s.now().UnixNano(), false, nil); !live {
		return "", ErrNoSession
	}
	return sessionID(&k), nil
}

// ExpireSession ends the session with the given opaque id as if its time
// had run out: the ticket stops working at once.
func (s *Simulator) ExpireSession(id string) error { return s.endByID(id, "expired") }

// LogoutSession ends the session with the given opaque id as a logout would.
func (s *Simulator) LogoutSession(id string) error { return s.endByID(id, "logged out") }

func (s *Simulator) endByID(id, how string) error {
	k, ok := s.sessions.findByID(id, s.now().UnixNano())
	if !ok || !s.sessions.remove(&k) {
		return ErrNoSession
	}
	s.log.Info("session ended by control", "session", id, "how", how)
	return nil
}

// ExpireTicket ends the session behind t as if it had timed out.
func (s *Simulator) ExpireTicket(t cis.Ticket) error { return s.endByTicket(t, "expired") }

// LogoutTicket ends the session behind t as a logout would.
func (s *Simulator) LogoutTicket(t cis.Ticket) error { return s.endByTicket(t, "logged out") }

func (s *Simulator) endByTicket(t cis.Ticket, how string) error {
	k, ok := parseTicket(t.Reveal())
	if !ok || !s.sessions.remove(&k) {
		return ErrNoSession
	}
	s.log.Info("session ended by control", "session", sessionID(&k), "how", how)
	return nil
}

// Users returns a copy of the users the simulator knows.
func (s *Simulator) Users() []cis.User { return append([]cis.User(nil), s.users...) }
