package middleware

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Store keeps sessions on the server, so that a logout really revokes:
// NewMemoryStore for one instance, NewRedisStore for a fleet. Each holds a
// local cache of the sessions this instance has seen, keyed by the verified
// cookie, so that an authenticated request costs no signature check, no
// decoding and no network round trip. A Store serves one Middleware.
type Store interface {
	// core returns the parts every store shares (sealed: only this
	// package's stores implement Store).
	core() *storeCore
}

// errNoRecord means a session is not (or no longer) in the store.
var errNoRecord = errors.New("middleware: no such session")

// errStoreFull means the store holds as many sessions as it may.
var errStoreFull = errors.New("middleware: session store full")

// backend is the shared part of a store: what outlives this instance and
// what the other instances see. Methods that change a session tell the
// other instances (drop) so their caches forget it.
type backend interface {
	// name labels the store in metrics: "memory" or "redis".
	name() string
	// create adds a new session; the id is fresh.
	create(ctx context.Context, rec *record, ttl time.Duration) error
	// load returns a session, errNoRecord if there is none.
	load(ctx context.Context, id string) (*record, error)
	// setIdentity replaces everything but the values of an existing
	// session; errNoRecord if it has gone (it is never brought back).
	setIdentity(ctx context.Context, rec *record) error
	// setValues replaces the application's values of an existing session.
	setValues(ctx context.Context, id string, values []byte) error
	// remove ends sessions.
	remove(ctx context.Context, recs ...*record) error
	// sessionsOf lists the ids of the sessions of a ticket.
	sessionsOf(ctx context.Context, th ticketHash) ([]string, error)
	// assertion returns the cached validation of a ticket, or nil.
	assertion(ctx context.Context, th ticketHash) (*validated, error)
	// keepAssertion caches a validation for ttl.
	keepAssertion(ctx context.Context, th ticketHash, v *validated, ttl time.Duration) error
	// dropAssertion forgets a ticket's cached validation.
	dropAssertion(ctx context.Context, th ticketHash) error
	// trusted reports whether the local cache may answer without asking
	// the backend: false while a Redis store cannot hear the other
	// instances.
	trusted() bool
}

// storeCore is what every store holds: its backend and the local cache.
type storeCore struct {
	be    backend
	cache sessionCache
	bound atomic.Bool
}

// bind claims the store for one Middleware.
func (c *storeCore) bind() error {
	if !c.bound.CompareAndSwap(false, true) {
		return errors.New("middleware: the Store already serves another Middleware")
	}
	return nil
}

// entry is a session in the local cache. Its state is replaced, never
// changed, when the session is revalidated; it is nil once the session has
// ended here. After a role change rotated the session id, succ names the
// new session until its grace ends, so that requests the browser sent
// before it saw the new cookie still find the session.
type entry struct {
	id   string
	st   atomic.Pointer[state]
	succ atomic.Pointer[successor]
	mu   sync.Mutex // serialises revalidation and rotation; taken before the cache's lock
}

// successor is the session that replaced an entry at a role change.
type successor struct {
	e      *entry
	cookie string
	until  time.Time
}

// sessionCache maps verified cookie values and session ids to entries.
// The authenticated hot path is one read-locked map lookup.
type sessionCache struct {
	mu       sync.RWMutex
	byCookie map[string]*entry
	byID     map[string]*entry
	cookies  map[*entry][]string
	// gen counts invalidations (events from other instances, flushes): an
	// entry loaded from the backend is cached only if no invalidation
	// happened while it was being loaded.
	gen       uint64
	max       int
	nextSweep time.Time
}

func (c *sessionCache) init(max int) {
	c.byCookie = make(map[string]*entry)
	c.byID = make(map[string]*entry)
	c.cookies = make(map[*entry][]string)
	c.max = max
}

func (c *sessionCache) get(cookie string) *entry {
	c.mu.RLock()
	e := c.byCookie[cookie]
	c.mu.RUnlock()
	return e
}

func (c *sessionCache) lookupID(id string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.byID[id]
}

func (c *sessionCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// add caches e under cookie if no invalidation happened since gen. It
// returns the entry now cached under cookie (e, or one added meanwhile by
// another request), or e itself when it could not be cached.
func (c *sessionCache) add(cookie string, e *entry, gen uint64) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.byCookie[cookie]; old != nil {
		return old
	}
	if gen != c.gen || len(c.byCookie) >= c.max {
		return e
	}
	if cur := c.byID[e.id]; cur != nil {
		e = cur
	}
	c.byID[e.id] = e
	c.byCookie[cookie] = e
	c.cookies[e] = append(c.cookies[e], cookie)
	return e
}

// forget drops the session with the given id, returning its entry.
func (c *sessionCache) forget(id string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	return c.forgetLocked(id)
}

func (c *sessionCache) forgetLocked(id string) *entry {
	e := c.byID[id]
	if e != nil {
		c.dropLocked(e)
	}
	return e
}

// dropLocked removes e and every cookie that leads to it.
func (c *sessionCache) dropLocked(e *entry) {
	if c.byID[e.id] == e {
		delete(c.byID, e.id)
	}
	for _, k := range c.cookies[e] {
		if c.byCookie[k] == e {
			delete(c.byCookie, k)
		}
	}
	delete(c.cookies, e)
}

// flush forgets everything (a Redis store that may have missed events).
func (c *sessionCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.byCookie)
	clear(c.byID)
	clear(c.cookies)
}

func (c *sessionCache) count() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byID)
}

// sweepEvery is how often expired entries are swept from a cache, at most.
const sweepEvery = time.Minute

// retire keeps a rotated entry reachable by its old cookies (for the
// grace of a rotation) but no longer by its id: it is not a session any
// more, and sweep drops it after the grace.
func (c *sessionCache) retire(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID[e.id] == e {
		delete(c.byID, e.id)
	}
}

// sweep drops entries whose session has expired or ended (after the grace
// of a rotation), at most once every sweepEvery. It runs on logins and
// revalidations, never on the hot path.
func (c *sessionCache) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.nextSweep) {
		return
	}
	c.nextSweep = now.Add(sweepEvery)
	for e := range c.cookies {
		st := e.st.Load()
		if st != nil && now.Before(st.rec.expires) {
			continue
		}
		if sc := e.succ.Load(); st == nil && sc != nil && now.Before(sc.until) {
			continue
		}
		c.dropLocked(e)
	}
}
