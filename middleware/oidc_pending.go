package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opencis/cisauth/cis/cis2"
)

// pendingLogin is a CIS2 login in progress, kept on the server from the
// login redirect to the callback: the relying party's state, nonce and
// PKCE verifier, the browser it is bound to (the hash of the random value
// in its login cookie) and where to send the browser afterwards.
type pendingLogin struct {
	p       cis2.Pending
	binding [sha256.Size]byte
	ret     string
}

// errPendingFull means a memory store holds as many logins in progress as
// it may.
var errPendingFull = errors.New("middleware: too many CIS2 logins in progress")

// pendingStore keeps logins in progress by their state, each taken at
// most once.
type pendingStore interface {
	// put keeps p under its state for ttl.
	put(ctx context.Context, p *pendingLogin, ttl time.Duration) error
	// take returns and deletes the login with the given state, in one
	// step (so a replayed callback finds nothing); errNoRecord if none.
	take(ctx context.Context, state string) (*pendingLogin, error)
}

// pendingKey names a login in progress by the hash of its state.
func pendingKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return hex.EncodeToString(h[:])
}

// pendingStorer is a Store that keeps logins in progress itself (a
// RedisStore: the callback may reach another instance). Asked through an
// interface, so that a program without a RedisStore links no Redis code.
type pendingStorer interface{ pendingLogins() pendingStore }

func (s *RedisStore) pendingLogins() pendingStore { return redisPending{&s.r} }

// newPendingStore returns the pending store that goes with a Store: its
// own, or a bounded map in this process.
func newPendingStore(store Store, max int, now func() time.Time) pendingStore {
	if ps, ok := store.(pendingStorer); ok {
		return ps.pendingLogins()
	}
	return &memoryPending{logins: make(map[string]memoryPendingLogin), max: max, now: now}
}

// memoryPending keeps logins in progress in this process.
type memoryPending struct {
	mu        sync.Mutex
	logins    map[string]memoryPendingLogin
	max       int
	now       func() time.Time
	nextSweep time.Time
}

type memoryPendingLogin struct {
	p     *pendingLogin
	until time.Time
}

func (s *memoryPending) put(_ context.Context, p *pendingLogin, ttl time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Sweep at most once every sweepEvery, even when full: a flood of
	// logins then costs a map insert each, not a sweep each.
	if !now.Before(s.nextSweep) {
		s.nextSweep = now.Add(sweepEvery)
		for k, l := range s.logins {
			if !now.Before(l.until) {
				delete(s.logins, k)
			}
		}
	}
	if len(s.logins) >= s.max {
		return errPendingFull
	}
	s.logins[pendingKey(p.p.State)] = memoryPendingLogin{p: p, until: now.Add(ttl)}
	return nil
}

func (s *memoryPending) take(_ context.Context, state string) (*pendingLogin, error) {
	k := pendingKey(state)
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.logins[k]
	if !ok {
		return nil, errNoRecord
	}
	delete(s.logins, k)
	if !s.now().Before(l.until) {
		return nil, errNoRecord
	}
	return l.p, nil
}

// redisPending keeps logins in progress in Redis under "p:" and the hash
// of the state, expiring with the login timeout; GETDEL takes one once.
type redisPending struct{ b *redisBackend }

func (s redisPending) key(state string) string { return s.b.prefix + "p:" + pendingKey(state) }

func (s redisPending) put(ctx context.Context, p *pendingLogin, ttl time.Duration) error {
	js, err := encodePending(p)
	if err != nil {
		return err
	}
	return storeErr(s.b.client.Set(ctx, s.key(p.p.State), js, ttl).Err())
}

func (s redisPending) take(ctx context.Context, state string) (*pendingLogin, error) {
	js, err := s.b.client.GetDel(ctx, s.key(state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, errNoRecord
	}
	if err != nil {
		return nil, storeErr(err)
	}
	p, err := decodePending(js)
	if err != nil || p.p.State != state {
		return nil, errNoRecord
	}
	return p, nil
}

// pendingWire is a login in progress as Redis keeps it. The verifier and
// nonce are written explicitly (cis2.Secret redacts itself in JSON).
type pendingWire struct {
	V        int       `json:"v"`
	State    string    `json:"state"`
	Nonce    string    `json:"nonce"`
	Verifier string    `json:"verifier"`
	Created  time.Time `json:"created"`
	Binding  string    `json:"binding"`
	Return   string    `json:"return"`
}

// maxPendingWire bounds a stored login in progress: about 300 bytes and
// the return path, up to MaxReturnLen bytes that JSON may escape to six
// each ("\u0026").
const maxPendingWire = 8 * MaxReturnLen

func encodePending(p *pendingLogin) ([]byte, error) {
	return json.Marshal(pendingWire{
		V: wireVersion, State: p.p.State, Nonce: p.p.Nonce, Verifier: p.p.Verifier.Reveal(), Created: p.p.Created,
		Binding: hex.EncodeToString(p.binding[:]), Return: p.ret,
	})
}

// decodePending decodes and checks a stored login in progress.
func decodePending(b []byte) (*pendingLogin, error) {
	if len(b) > maxPendingWire {
		return nil, fmt.Errorf("%w: login in progress of %d bytes", errWire, len(b))
	}
	var w pendingWire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", errWire, err)
	}
	p := &pendingLogin{
		p:   cis2.Pending{State: w.State, Nonce: w.Nonce, Verifier: cis2.Secret(w.Verifier), Created: w.Created},
		ret: w.Return,
	}
	bind, err := hex.DecodeString(w.Binding)
	switch {
	case w.V != wireVersion:
		return nil, fmt.Errorf("%w: login in progress version %d", errWire, w.V)
	case w.State == "" || w.Nonce == "" || w.Verifier == "" || w.Created.IsZero():
		return nil, fmt.Errorf("%w: login in progress incomplete", errWire)
	case err != nil || len(bind) != len(p.binding):
		return nil, fmt.Errorf("%w: login in progress binding", errWire)
	case safeReturn(w.Return) != w.Return:
		return nil, fmt.Errorf("%w: login in progress return path", errWire)
	}
	copy(p.binding[:], bind)
	return p, nil
}
