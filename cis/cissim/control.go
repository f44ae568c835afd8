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

// ExpireSession ends the session with the given opaque id as an
// administrator destroying it would: the ticket stops working at once and
// its listeners are told (type 5, destroy; state destroyed).
func (s *Simulator) ExpireSession(id string) error { return s.endByID(id, endDestroy) }

// LogoutSession ends the session with the given opaque id as a logout
// would; its listeners are told (type 3, logout; state destroyed).
func (s *Simulator) LogoutSession(id string) error { return s.endByID(id, endLogout) }

func (s *Simulator) endByID(id string, why endReason) error {
	k, ok := s.sessions.findByID(id, s.now().UnixNano())
	if !ok || !s.sessions.remove(&k, why) {
		return ErrNoSession
	}
	s.log.Info("session ended by control", "session", id, "how", why.String())
	return nil
}

// ExpireTicket ends the session behind t as ExpireSession does (type 5).
func (s *Simulator) ExpireTicket(t cis.Ticket) error { return s.endByTicket(t, endDestroy) }

// LogoutTicket ends the session behind t as a logout would (type 3).
func (s *Simulator) LogoutTicket(t cis.Ticket) error { return s.endByTicket(t, endLogout) }

// IdleTimeoutTicket ends the session behind t as its idle timeout would,
// now, whatever the clock says: listeners get type 1 (idle timeout) with
// state invalid.
func (s *Simulator) IdleTimeoutTicket(t cis.Ticket) error {
	return s.endByTicket(t, endIdleTimeout)
}

// MaxTimeoutTicket ends the session behind t as its maximum session time
// would, now: listeners get type 2 (max timeout) with state invalid.
func (s *Simulator) MaxTimeoutTicket(t cis.Ticket) error {
	return s.endByTicket(t, endMaxTimeout)
}

func (s *Simulator) endByTicket(t cis.Ticket, why endReason) error {
	k, ok := parseTicket(t.Reveal())
	if !ok || !s.sessions.remove(&k, why) {
		return ErrNoSession
	}
	s.log.Info("session ended by control", "session", sessionID(&k), "how", why.String())
	return nil
}

// ExpireDue ends every session whose idle or maximum time has run out by
// the simulator's clock, as their timeouts do, and returns how many. A
// session with listeners is otherwise noticed by a timer when its time
// runs out (real time, checked against the clock) and any other when it is
// next used or swept; with an injected clock, advance it and call
// ExpireDue for the timeouts and their notifications to happen at once.
func (s *Simulator) ExpireDue() int { return s.sessions.sweep(s.now().UnixNano()) }

// Users returns a copy of the users the simulator knows.
func (s *Simulator) Users() []cis.User { return append([]cis.User(nil), s.users...) }
