package cissim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"sync"
)

const challengeLen = 48

var (
	errChallengeUnknown = errors.New("challenge unknown or already used")
	errChallengeExpired = errors.New("challenge expired")
	errChallengeLimit   = errors.New("too many outstanding challenges")
)

// challengeStore holds outstanding activate challenges: each may be
// answered once, before it expires.
type challengeStore struct {
	mu      sync.Mutex
	m       map[[challengeLen]byte]int64 // expiry, Unix ns
	limit   int
	sweepAt int
}

func newChallengeStore(limit int) *challengeStore {
	return &challengeStore{m: make(map[[challengeLen]byte]int64), limit: limit, sweepAt: 1024}
}

// issue makes a fresh challenge valid until expiry.
func (c *challengeStore) issue(rnd io.Reader, now, expiry int64) ([challengeLen]byte, error) {
	var ch [challengeLen]byte
	if _, err := io.ReadFull(rnd, ch[:]); err != nil {
		return ch, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.sweepAt || len(c.m) >= c.limit {
		for k, exp := range c.m {
			if now >= exp {
				delete(c.m, k)
			}
		}
		c.sweepAt = max(1024, 2*len(c.m))
		if len(c.m) >= c.limit {
			return ch, errChallengeLimit
		}
	}
	c.m[ch] = expiry
	return ch, nil
}

// take consumes a challenge: it succeeds once, and only before expiry.
func (c *challengeStore) take(ch []byte, now int64) error {
	if len(ch) != challengeLen {
		return errChallengeUnknown
	}
	k := [challengeLen]byte(ch)
	c.mu.Lock()
	exp, ok := c.m[k]
	delete(c.m, k)
	c.mu.Unlock()
	switch {
	case !ok:
		return errChallengeUnknown
	case now >= exp:
		return errChallengeExpired
	}
	return nil
}

// challengeMAC is the opaque server "signature" sent with a challenge and
// echoed by the client: HMAC-SHA256 under a key that lives as long as the
// Simulator, standard base64 as clients expect.
func (s *Simulator) challengeMAC(challenge []byte) string {
	m := hmac.New(sha256.New, s.macKey[:])
	m.Write([]byte("cis-sim challenge\x00"))
	m.Write(challenge)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// checkChallengeMAC reports whether sig is the MAC of challenge.
func (s *Simulator) checkChallengeMAC(challenge []byte, sig string) bool {
	return hmac.Equal([]byte(s.challengeMAC(challenge)), []byte(sig))
}
