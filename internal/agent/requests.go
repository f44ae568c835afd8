package agent

import (
	"context"
	"errors"
	"time"

	"github.com/opencis/cisauth/cis"
)

// TicketInfo is the held session as a caller of the Ticket API gets it.
type TicketInfo struct {
	Ticket         cis.Ticket
	UID            string
	Name           string
	SelectedRoleID string
}

// Status is what GET /status reports: never the ticket.
type Status struct {
	State          Phase        `json:"state"`
	Message        string       `json:"message"`
	Mode           string       `json:"mode"`
	Environment    string       `json:"environment"`
	CardPresent    bool         `json:"card_present"`
	Reader         string       `json:"reader,omitempty"`
	Readers        []ReaderInfo `json:"readers"`
	UID            string       `json:"uid,omitempty"`
	Name           string       `json:"name,omitempty"`
	Roles          []RoleChoice `json:"roles"`
	SelectedRoleID string       `json:"selected_role_id,omitempty"`
	Locked         bool         `json:"locked"`
	// KeptAlive is when the session was last kept alive (or logged in).
	KeptAlive time.Time  `json:"kept_alive,omitzero"`
	Questions []Question `json:"questions"`
	// Version grows with every change of the above: a client that saw
	// one version can wait for the next (the page's long-poll).
	Version uint64 `json:"version"`
}

// ReaderInfo is one reader in Status.
type ReaderInfo struct {
	Name        string `json:"name"`
	CardPresent bool   `json:"card_present"`
}

// Changed returns a channel closed at the agent's next change of state.
func (a *Agent) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Status returns where the agent stands.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Status{State: a.phase, Message: a.message, Mode: a.cfg.Mode.String(), Environment: a.cfg.Env.Name,
		Readers: []ReaderInfo{}, Roles: []RoleChoice{}, Questions: a.prompts.Pending(),
		Version: a.version + a.prompts.changes()}
	for _, r := range a.readers {
		s.Readers = append(s.Readers, ReaderInfo{Name: r, CardPresent: a.present[r]})
	}
	switch {
	case a.held != nil:
		s.Reader = a.held.reader
	case a.flow != nil:
		s.Reader = a.flow.reader
	default:
		s.Reader = a.anyCardLocked()
	}
	s.CardPresent = s.Reader != "" && a.present[s.Reader]
	if h := a.held; h != nil {
		s.UID, s.Name, s.SelectedRoleID, s.Locked = h.sess.UID, h.sess.Name, h.roleID, h.locked
		s.Roles = roleChoices(h.sess.Roles)
		s.KeptAlive = a.lastKA
	}
	return s
}

// Ticket returns the held session's ticket. Without one (or while it is
// locked): with start false, ErrNoSession; with start true, it starts a
// login (or an unlock) with the card in a reader, or waits for one to be
// inserted, and returns once the login is done, failed (an error matching
// ErrNoSession and the cause), or ctx ends.
func (a *Agent) Ticket(ctx context.Context, start bool) (TicketInfo, error) {
	if !start {
		a.mu.Lock()
		defer a.mu.Unlock()
		if h := a.held; h != nil && !h.locked {
			return h.info(), nil
		}
		return TicketInfo{}, ErrNoSession
	}
	a.mu.Lock()
	since := a.flowSeq
	a.mu.Unlock()
	return a.awaitLogin(ctx, true, since)
}

// loginFailed is a login that ended without a session: it matches
// ErrNoSession and its cause.
type loginFailed struct{ cause error }

func (e *loginFailed) Error() string { return "no session: " + e.cause.Error() }

func (e *loginFailed) Unwrap() []error { return []error{ErrNoSession, e.cause} }

// awaitLogin waits until a session is held, or until a login that ended
// after the first since logins failed (*loginFailed), or ctx ends; with
// start, it starts a login whenever none runs and a card is in.
func (a *Agent) awaitLogin(ctx context.Context, start bool, since uint64) (TicketInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if h := a.held; h != nil && !h.locked {
			return h.info(), nil
		}
		if a.flow == nil && a.flowSeq != since {
			cause := a.flowErr
			if cause == nil {
				cause = errors.New("the login ended without one")
			}
			return TicketInfo{}, &loginFailed{cause}
		}
		if start && a.flow == nil {
			if r := a.loginReaderLocked(); r != "" {
				a.startFlowLocked(a.runCtx, r, a.held != nil)
			}
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			a.mu.Lock()
			return TicketInfo{}, ctx.Err()
		}
		a.mu.Lock()
	}
}

// loginReaderLocked is the reader to log in with: the locked session's
// card's if it is back, else the first with a card. Called with a.mu held.
func (a *Agent) loginReaderLocked() string {
	if a.held != nil && a.present[a.held.reader] {
		return a.held.reader
	}
	return a.anyCardLocked()
}

// NewTicket ends the held session, if any, and logs in afresh (Ticket with
// start).
func (a *Agent) NewTicket(ctx context.Context) (TicketInfo, error) {
	a.Logout("Logged out for a fresh login")
	return a.Ticket(ctx, true)
}

// Logout ends the held session at GAS and stops a login under way; the
// card stays where it is. msg says why, to listeners.
func (a *Agent) Logout(msg string) {
	a.mu.Lock()
	if a.flow != nil {
		a.flow.cancel(errFlowReplaced)
		a.flow = nil
	}
	h := a.takeHeldLocked()
	a.setLocked(a.idlePhaseLocked(), "")
	a.mu.Unlock()
	if h != nil {
		a.endSession(h, msg)
	}
}

// SelectRole switches the held session to role roleID (through GAS's role
// selection) and tells listeners.
func (a *Agent) SelectRole(ctx context.Context, roleID string) error {
	a.mu.Lock()
	h := a.held
	a.mu.Unlock()
	if h == nil || h.locked {
		return ErrNoSession
	}
	if err := a.gas.SelectRole(ctx, h.sess, roleID, a.cfg.SSBMode); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held != h {
		return ErrNoSession
	}
	h.roleID = roleID
	a.publishLocked(Event{Kind: EventRoleSelected, Reader: h.reader, UID: h.sess.UID, RoleID: roleID})
	a.setLocked(a.phase, loggedInMessage(h))
	return nil
}
