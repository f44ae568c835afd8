package agent

import (
	"sync"
	"time"
)

// EventKind names an Event.
type EventKind string

// The events the agent sends to listeners (GET /events).
const (
	// EventInserted: a card went into a reader.
	EventInserted EventKind = "inserted"
	// EventRemoved: a card was pulled.
	EventRemoved EventKind = "removed"
	// EventAuthenticated: a card login succeeded; a ticket is held.
	EventAuthenticated EventKind = "authenticated"
	// EventRoleSelected: a role was selected (at login or by a switch).
	EventRoleSelected EventKind = "role-selected"
	// EventLoggedOut: the SSO session ended (card pulled in normal mode,
	// logout asked, session expired); the ticket is gone.
	EventLoggedOut EventKind = "logged-out"
	// EventLocked: the session is kept but its ticket withheld until the
	// same card and PIN come back (session-lock and mobility modes).
	EventLocked EventKind = "locked"
	// EventUnlocked: the same card and PIN came back; the ticket is
	// given out again.
	EventUnlocked EventKind = "unlocked"
	// EventMessage: progress or a problem, in plain words.
	EventMessage EventKind = "message"
)

// Event is one thing that happened, as listeners see it. It never holds
// the ticket or the PIN.
type Event struct {
	Kind    EventKind `json:"kind"`
	Time    time.Time `json:"time"`
	Reader  string    `json:"reader,omitempty"`
	UID     string    `json:"uid,omitempty"`
	Name    string    `json:"name,omitempty"`
	RoleID  string    `json:"selected_role_id,omitempty"`
	Message string    `json:"message,omitempty"`
}

// subscriberBuffer is how many events a listener may fall behind by before
// it is dropped (its channel closed; an SSE client then reconnects and
// reads the status afresh).
const subscriberBuffer = 64

// broker fans events out to subscribers. It is safe for concurrent use.
type broker struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

// subscribe returns a channel of the events from now on, and a function
// that ends the subscription. The channel is closed when the subscription
// ends, or when the subscriber fell too far behind.
func (b *broker) subscribe() (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[chan Event]struct{}{}
	}
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// publish sends ev to every subscriber without waiting for any.
func (b *broker) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
			delete(b.subs, ch)
			close(ch)
		}
	}
}
