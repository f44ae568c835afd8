package cissim

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// The provider's server-side state: authorization codes, access and refresh
// tokens, pending role prompts and used client assertion ids. Tokens are
// opaque: 32 random bytes, base64url. Everything is tied to an SSO session
// and dies with it (checked on each use), so logging out, expiring or
// pulling the card revokes every token issued on the session.

// ErrGrantLimit means the provider holds as many codes and tokens as its
// configuration allows.
var ErrGrantLimit = errors.New("cissim: OIDC grant limit reached")

type opaqueKey [32]byte

func newOpaque() (opaqueKey, string, error) {
	var k opaqueKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, "", err
	}
	return k, base64.RawURLEncoding.EncodeToString(k[:]), nil
}

func parseOpaque(s string) (opaqueKey, bool) {
	var k opaqueKey
	if len(s) != base64.RawURLEncoding.EncodedLen(len(k)) {
		return k, false
	}
	n, err := base64.RawURLEncoding.Strict().Decode(k[:], []byte(s))
	return k, err == nil && n == len(k)
}

// grant is what an authorization gave a client: whose session, which
// scopes, which role.
type grant struct {
	client   string
	session  sessionKey
	user     int32
	role     int16 // noRole if none selected
	scopes   scopeSet
	authTime int64 // Unix seconds: the SSO session's start (the card login)
}

type authCode struct {
	grant
	redirect  string
	nonce     string
	challenge string // S256 code challenge, "" if none
	expires   int64  // Unix ns
	used      bool
	issued    []opaqueKey // tokens issued for it, revoked on replay
}

type accessToken struct {
	grant
	expires int64 // Unix ns
}

type interaction struct {
	session sessionKey
	query   string // the authorization request it belongs to
	expires int64  // Unix ns
}

type grantStore struct {
	mu           sync.Mutex
	limit        int
	alive        func(sessionKey) bool // whether an SSO session still lives
	codes        map[opaqueKey]*authCode
	access       map[opaqueKey]*accessToken
	refresh      map[opaqueKey]*grant
	interactions map[opaqueKey]*interaction
	jtis         map[string]int64 // client assertion jti → expiry (Unix ns)
}

func newGrantStore(limit int, alive func(sessionKey) bool) *grantStore {
	return &grantStore{
		limit:        limit,
		alive:        alive,
		codes:        make(map[opaqueKey]*authCode),
		access:       make(map[opaqueKey]*accessToken),
		refresh:      make(map[opaqueKey]*grant),
		interactions: make(map[opaqueKey]*interaction),
		jtis:         make(map[string]int64),
	}
}

func (g *grantStore) countLocked() int {
	return len(g.codes) + len(g.access) + len(g.refresh) + len(g.interactions) + len(g.jtis)
}

// roomLocked makes room for one more entry, sweeping what has expired or
// lost its SSO session.
func (g *grantStore) roomLocked(now int64) error {
	if g.countLocked() < g.limit {
		return nil
	}
	for k, c := range g.codes {
		if now >= c.expires+int64(usedCodeKept) {
			delete(g.codes, k)
		}
	}
	for k, t := range g.access {
		if now >= t.expires || !g.alive(t.session) {
			delete(g.access, k)
		}
	}
	for k, t := range g.refresh {
		if !g.alive(t.session) {
			delete(g.refresh, k)
		}
	}
	for k, i := range g.interactions {
		if now >= i.expires {
			delete(g.interactions, k)
		}
	}
	for k, exp := range g.jtis {
		if now >= exp {
			delete(g.jtis, k)
		}
	}
	if g.countLocked() >= g.limit {
		return ErrGrantLimit
	}
	return nil
}

// usedCodeKept is how long a code is remembered past its expiry, so that
// a late replay is still recognised (and revokes what the code gave).
const usedCodeKept = 10 * time.Minute

// addCode stores a code and returns its text.
func (g *grantStore) addCode(c *authCode, now int64) (string, error) { return put(g, g.codes, c, now) }

// put stores v under a fresh key in m (one of g's maps), making room
// first, and returns the key's text.
func put[V any](g *grantStore, m map[opaqueKey]V, v V, now int64) (string, error) {
	k, text, err := newOpaque()
	if err != nil {
		return "", err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.roomLocked(now); err != nil {
		return "", err
	}
	m[k] = v
	return text, nil
}

// redeemCode marks a code used and returns it. A code used before is
// returned with replay set, after revoking the tokens it gave.
func (g *grantStore) redeemCode(text string) (c authCode, replay, ok bool) {
	k, ok := parseOpaque(text)
	if !ok {
		return authCode{}, false, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.codes[k]
	if !ok {
		return authCode{}, false, false
	}
	if p.used {
		for _, t := range p.issued {
			delete(g.access, t)
			delete(g.refresh, t)
		}
		p.issued = nil
		return *p, true, true
	}
	p.used = true
	return *p, false, true
}

// issue stores a new access token (and, with refresh, a refresh token) for
// gr, remembering them on the code they came from, if any.
func (g *grantStore) issue(gr grant, accessExpires int64, refresh bool, code string, now int64) (access, refreshText string, err error) {
	ak, access, err := newOpaque()
	if err != nil {
		return "", "", err
	}
	var rk opaqueKey
	if refresh {
		if rk, refreshText, err = newOpaque(); err != nil {
			return "", "", err
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.roomLocked(now); err != nil {
		return "", "", err
	}
	g.access[ak] = &accessToken{grant: gr, expires: accessExpires}
	var issued []opaqueKey
	issued = append(issued, ak)
	if refresh {
		cp := gr
		g.refresh[rk] = &cp
		issued = append(issued, rk)
	}
	if ck, ok := parseOpaque(code); ok {
		if c, ok := g.codes[ck]; ok {
			c.issued = append(c.issued, issued...)
		}
	}
	return access, refreshText, nil
}

// accessGrant returns the grant of a live access token.
func (g *grantStore) accessGrant(text string, now int64) (grant, bool) {
	k, ok := parseOpaque(text)
	if !ok {
		return grant{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.access[k]
	if !ok {
		return grant{}, false
	}
	if now >= t.expires {
		delete(g.access, k)
		return grant{}, false
	}
	return t.grant, true
}

// refreshGrant returns the grant of a refresh token.
func (g *grantStore) refreshGrant(text string) (grant, bool) {
	k, ok := parseOpaque(text)
	if !ok {
		return grant{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.refresh[k]
	if !ok {
		return grant{}, false
	}
	return *t, true
}

// revokeRefresh deletes a refresh token.
func (g *grantStore) revokeRefresh(text string) {
	if k, ok := parseOpaque(text); ok {
		g.mu.Lock()
		delete(g.refresh, k)
		g.mu.Unlock()
	}
}

// addInteraction stores a pending role prompt and returns its id.
func (g *grantStore) addInteraction(in *interaction, now int64) (string, error) {
	return put(g, g.interactions, in, now)
}

// takeInteraction removes and returns a live role prompt for the request
// canon, or nil.
func (g *grantStore) takeInteraction(text, canon string, now int64) *interaction {
	k, ok := parseOpaque(text)
	if !ok {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, ok := g.interactions[k]
	if !ok || in.query != canon {
		return nil
	}
	delete(g.interactions, k)
	if now >= in.expires {
		return nil
	}
	return in
}

// useJTI records a client assertion id until exp; false if seen before.
func (g *grantStore) useJTI(client, jti string, exp, now int64) (bool, error) {
	key := client + "\x00" + jti
	g.mu.Lock()
	defer g.mu.Unlock()
	if until, seen := g.jtis[key]; seen && now < until {
		return false, nil
	}
	if err := g.roomLocked(now); err != nil {
		return false, err
	}
	g.jtis[key] = exp
	return true, nil
}
