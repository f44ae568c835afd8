package records

import (
	"sync"
	"time"
)

// auditSize is how many record accesses the in-memory audit keeps.
const auditSize = 200

// access is one opened patient record.
type access struct {
	At        time.Time
	UID, Name string
	Role      string // job role at organisation
	OrgCode   string
	NHSNumber string
}

// audit keeps the most recent record accesses, newest first, for the
// admin page. A real app writes them to durable storage.
type audit struct {
	mu      sync.Mutex
	entries []access // ring, oldest overwritten
	next    int
}

func (a *audit) add(e access) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) < auditSize {
		a.entries = append(a.entries, e)
	} else {
		a.entries[a.next] = e
	}
	a.next = (a.next + 1) % auditSize
}

// recent returns the accesses, newest first.
func (a *audit) recent() []access {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]access, 0, len(a.entries))
	for i := 1; i <= len(a.entries); i++ {
		out = append(out, a.entries[(a.next-i+auditSize)%auditSize])
	}
	return out
}
