package cissim

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencis/cisauth/cis"
)

// Ticket shape: "AQIC" + base64(32 random bytes) + "@" + serverID + "#",
// like the OpenSSO session ids the real SSB hands out.
const (
	ticketPrefix  = "AQIC"
	ticketServer  = "@AAJTSQACMDE=#"
	ticketRandLen = 32
	sessionShards = 64
	noRole        = -1
)

// ErrSessionLimit means the simulator holds as many live sessions as its
// Config allows.
var ErrSessionLimit = errors.New("cissim: session limit reached")

type sessionKey [ticketRandLen]byte

// session is one SSO session, kept small: 100,000 of them must fit in a
// few megabytes. Times are Unix nanoseconds.
type session struct {
	created int64
	last    int64
	user    int32
	role    int16 // index into the user's roles, or noRole
	mode    uint8
	ip      [16]byte // client address at login (IPv4 mapped)
	// listened: session listeners are registered, so its end is notified
	// (sessionStore.ended). It fits in what was padding.
	listened bool
}

type sessionShard struct {
	mu        sync.Mutex
	m         map[sessionKey]session
	sweepAt   int // sweep expired entries when len(m) reaches this
	_padShard [40]byte
}

// sessionStore holds live sessions in shards so concurrent RoleAssertion
// requests rarely contend. Expired sessions are removed lazily on access and
// in sweeps amortised over inserts; the total is capped.
type sessionStore struct {
	shards [sessionShards]sessionShard
	idle   int64 // ns
	max    int64 // ns
	limit  int64
	count  atomic.Int64
	// ended, if set, is told of every listened session that ends, with
	// why, under the shard's lock: it must not block or take a shard lock.
	ended func(k *sessionKey, v *session, why endReason)
}

func newSessionStore(idle, max time.Duration, limit int) *sessionStore {
	s := &sessionStore{idle: int64(idle), max: int64(max), limit: int64(limit)}
	for i := range s.shards {
		s.shards[i].m = make(map[sessionKey]session)
		s.shards[i].sweepAt = 1024
	}
	return s
}

func (s *sessionStore) shard(k *sessionKey) *sessionShard { return &s.shards[k[0]%sessionShards] }

func (s *sessionStore) expired(v *session, now int64) bool {
	return now >= v.last+s.idle || now >= v.created+s.max
}

// timedOut says which of v's timeouts ends it: the one that comes first.
func (s *sessionStore) timedOut(v *session) endReason {
	if v.created+s.max <= v.last+s.idle {
		return endMaxTimeout
	}
	return endIdleTimeout
}

// dropLocked deletes k, whose session is v, from sh (whose lock is held)
// and tells ended if it has listeners.
func (s *sessionStore) dropLocked(sh *sessionShard, k *sessionKey, v *session, why endReason) {
	delete(sh.m, *k)
	s.count.Add(-1)
	if v.listened && s.ended != nil {
		s.ended(k, v, why)
	}
}

// expires is when v ends if not used again.
func (s *sessionStore) expires(v *session) int64 { return min(v.last+s.idle, v.created+s.max) }

// add stores a new session under k. At the limit it first sweeps every
// shard for expired sessions; if none can go, it fails.
func (s *sessionStore) add(k sessionKey, v session, now int64) error {
	if s.count.Load() >= s.limit {
		s.sweep(now)
		if s.count.Load() >= s.limit {
			return ErrSessionLimit
		}
	}
	sh := s.shard(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.m) >= sh.sweepAt {
		s.sweepLocked(sh, now)
		sh.sweepAt = max(1024, 2*len(sh.m))
	}
	sh.m[k] = v
	s.count.Add(1)
	return nil
}

// sweepLocked ends the sessions of sh (whose lock is held) whose time has
// run out by now, and returns how many.
func (s *sessionStore) sweepLocked(sh *sessionShard, now int64) int {
	n := 0
	for k, v := range sh.m {
		if s.expired(&v, now) {
			s.dropLocked(sh, &k, &v, s.timedOut(&v))
			n++
		}
	}
	return n
}

// use looks up k and, if live, applies f to it (which may change it) and
// refreshes its idle timer when touch is set. It reports whether k is live.
func (s *sessionStore) use(k *sessionKey, now int64, touch bool, f func(*session)) (session, bool) {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[*k]
	if !ok {
		return session{}, false
	}
	if s.expired(&v, now) {
		s.dropLocked(sh, k, &v, s.timedOut(&v))
		return session{}, false
	}
	if f != nil {
		f(&v)
	}
	if touch {
		v.last = now
	}
	sh.m[*k] = v
	return v, true
}

// remove ends the session k for the reason why, reporting whether it was
// there.
func (s *sessionStore) remove(k *sessionKey, why endReason) bool {
	sh := s.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.m[*k]
	if !ok {
		return false
	}
	s.dropLocked(sh, k, &v, why)
	return true
}

// sweep ends every session whose time has run out by now, in every shard,
// and returns how many.
func (s *sessionStore) sweep(now int64) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += s.sweepLocked(sh, now)
		sh.mu.Unlock()
	}
	return n
}

// each calls f for every live session, shard by shard, under the shard's lock.
func (s *sessionStore) each(now int64, f func(k *sessionKey, v *session)) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, v := range sh.m {
			if !s.expired(&v, now) {
				f(&k, &v)
			}
		}
		sh.mu.Unlock()
	}
}

// findByID returns the key of the live session whose opaque id is id.
func (s *sessionStore) findByID(id string, now int64) (sessionKey, bool) {
	var found sessionKey
	ok := false
	s.each(now, func(k *sessionKey, _ *session) {
		if !ok && sessionID(k) == id {
			found, ok = *k, true
		}
	})
	return found, ok
}

// sessionID is the opaque id the admin API shows: a hash of the ticket's
// random part, from which the ticket cannot be recovered.
func sessionID(k *sessionKey) string {
	h := sha256.New()
	h.Write([]byte("cis-sim session id\x00"))
	h.Write(k[:])
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// formatTicket renders the OpenSSO-shaped ticket for k.
func formatTicket(k *sessionKey) cis.Ticket {
	var b strings.Builder
	b.Grow(len(ticketPrefix) + base64.StdEncoding.EncodedLen(ticketRandLen) + len(ticketServer))
	b.WriteString(ticketPrefix)
	b.WriteString(base64.StdEncoding.EncodeToString(k[:]))
	b.WriteString(ticketServer)
	return cis.Ticket(b.String())
}

// parseTicket returns the key inside a ticket this simulator minted.
func parseTicket(t string) (sessionKey, bool) {
	var k sessionKey
	body, ok := strings.CutPrefix(t, ticketPrefix)
	if !ok {
		return k, false
	}
	body, ok = strings.CutSuffix(body, ticketServer)
	if !ok || len(body) != base64.StdEncoding.EncodedLen(ticketRandLen) {
		return k, false
	}
	// Strict: one ticket string per session, no aliases differing in the
	// unused bits of the last character.
	var buf [ticketRandLen + 3]byte
	n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(body))
	if err != nil || n != ticketRandLen {
		return k, false
	}
	copy(k[:], buf[:n])
	return k, true
}

func ipBytes(a netip.Addr) [16]byte {
	if !a.IsValid() {
		return [16]byte{}
	}
	return a.As16()
}

func ipString(b [16]byte) string {
	a := netip.AddrFrom16(b).Unmap()
	if a.IsUnspecified() {
		return "127.0.0.1"
	}
	return a.String()
}

// SessionInfo describes a live SSO session for the admin API and tests. ID
// is opaque and is never the ticket.
type SessionInfo struct {
	ID      string    `json:"id"`
	UID     string    `json:"uid"`
	RoleID  string    `json:"role_id"` // empty until a role is selected
	Mode    cis.Mode  `json:"mode"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

func sortSessions(out []SessionInfo) {
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
