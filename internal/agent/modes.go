package agent

import (
	"fmt"
	"time"
)

// Mode is what the agent does when the card of the session is pulled: the
// Identity Agent's session modes.
type Mode int

// The session modes.
const (
	// ModeNormal: pulling the card ends the SSO session (authlogout), clears
	// the ticket and tells listeners, within one reader poll.
	ModeNormal Mode = iota
	// ModeSessionLock: pulling the card locks the session: the ticket is
	// withheld (the SSO session is kept alive) until the same card is
	// inserted and its PIN entered, which resumes the same SSO session.
	// A different card's login ends the locked session first.
	ModeSessionLock
	// ModeMobility: the card may be pulled and the session goes on; timers
	// lock it (as in ModeSessionLock) when the card has been out too long
	// or the PIN was last entered too long ago.
	ModeMobility
)

// String returns the mode's configuration name.
func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeSessionLock:
		return "session-lock"
	case ModeMobility:
		return "mobility"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads a mode's configuration name.
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{ModeNormal, ModeSessionLock, ModeMobility} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (want normal, session-lock or mobility)", s)
}

// Defaults of the mode timers.
const (
	// DefaultAwayLock is how long a card may be out in mobility mode
	// before the session locks.
	DefaultAwayLock = 30 * time.Minute
	// DefaultReauthAfter is how long after the last PIN a mobility
	// session locks until the PIN is entered again.
	DefaultReauthAfter = 8 * time.Hour
)
