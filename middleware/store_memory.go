package middleware

import (
	"context"
	"sync"
	"time"
)

// DefaultMaxSessions bounds the sessions a MemoryStore holds, and the
// sessions a RedisStore caches locally, unless their config says otherwise.
const DefaultMaxSessions = 1_000_000

// MemoryStoreConfig configures a MemoryStore.
type MemoryStoreConfig struct {
	// MaxSessions bounds the live sessions held (DefaultMaxSessions if
	// zero); a login past it fails with 503 until sessions expire or end.
	MaxSessions int
}

// MemoryStore keeps sessions in this process: for a single instance.
// Sessions are lost when the process ends. It is safe for concurrent use.
type MemoryStore struct {
	c storeCore
	m memoryBackend
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryStoreConfig) *MemoryStore {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	s := &MemoryStore{}
	s.m.init(cfg.MaxSessions)
	s.c.be = &s.m
	s.c.cache.init(cfg.MaxSessions)
	return s
}

func (s *MemoryStore) core() *storeCore { return &s.c }

// memoryBackend is the backend of a MemoryStore: maps under one lock.
// There are no other instances to tell about changes.
type memoryBackend struct {
	mu         sync.Mutex
	sessions   map[string]*record
	byTicket   map[ticketHash]map[string]struct{}
	assertions map[ticketHash]memoryAssertion
	max        int
	nextSweep  time.Time
}

type memoryAssertion struct {
	v     *validated
	until time.Time // on the clock of the validation (v.fetched + ttl)
}

func (b *memoryBackend) init(max int) {
	b.sessions = make(map[string]*record)
	b.byTicket = make(map[ticketHash]map[string]struct{})
	b.assertions = make(map[ticketHash]memoryAssertion)
	b.max = max
}

func (b *memoryBackend) name() string { return "memory" }

func (b *memoryBackend) trusted() bool { return true }

func (b *memoryBackend) create(_ context.Context, rec *record, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(rec.expires.Add(-ttl)) // now, on the middleware's clock
	if len(b.sessions) >= b.max {
		return errStoreFull
	}
	b.sessions[rec.id] = rec
	ids := b.byTicket[rec.th]
	if ids == nil {
		ids = make(map[string]struct{})
		b.byTicket[rec.th] = ids
	}
	ids[rec.id] = struct{}{}
	return nil
}

// sweepLocked drops expired sessions and validations, at most once every
// sweepEvery.
func (b *memoryBackend) sweepLocked(now time.Time) {
	if now.Before(b.nextSweep) {
		return
	}
	b.nextSweep = now.Add(sweepEvery)
	for _, rec := range b.sessions {
		if !now.Before(rec.expires) {
			b.removeLocked(rec)
		}
	}
	for th, a := range b.assertions {
		if !now.Before(a.until) {
			delete(b.assertions, th)
		}
	}
}

func (b *memoryBackend) load(_ context.Context, id string) (*record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rec := b.sessions[id]; rec != nil {
		return rec, nil
	}
	return nil, errNoRecord
}

func (b *memoryBackend) setIdentity(_ context.Context, rec *record) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.sessions[rec.id]
	if cur == nil {
		return errNoRecord
	}
	n := *rec
	n.values = cur.values
	b.sessions[rec.id] = &n
	return nil
}

func (b *memoryBackend) setValues(_ context.Context, id string, values []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.sessions[id]
	if cur == nil {
		return errNoRecord
	}
	n := *cur
	n.values = values
	b.sessions[id] = &n
	return nil
}

func (b *memoryBackend) remove(_ context.Context, recs ...*record) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rec := range recs {
		b.removeLocked(rec)
	}
	return nil
}

func (b *memoryBackend) removeLocked(rec *record) {
	delete(b.sessions, rec.id)
	if ids := b.byTicket[rec.th]; ids != nil {
		delete(ids, rec.id)
		if len(ids) == 0 {
			delete(b.byTicket, rec.th)
		}
	}
}

func (b *memoryBackend) sessionsOf(_ context.Context, th ticketHash) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, 0, len(b.byTicket[th]))
	for id := range b.byTicket[th] {
		ids = append(ids, id)
	}
	return ids, nil
}

func (b *memoryBackend) assertion(_ context.Context, th ticketHash) (*validated, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.assertions[th].v, nil
}

func (b *memoryBackend) keepAssertion(_ context.Context, th ticketHash, v *validated, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.assertions[th] = memoryAssertion{v: v, until: v.fetched.Add(ttl)}
	return nil
}

func (b *memoryBackend) dropAssertion(_ context.Context, th ticketHash) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.assertions, th)
	return nil
}
