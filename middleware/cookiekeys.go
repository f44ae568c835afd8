package middleware

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/redis/go-redis/v9"
)

// ErrCookieKeys is matched (errors.Is) by every error of ReadCookieKeys,
// LoadCookieKeys and SharedCookieKeys about the keys themselves: a file or
// stored value that is too large, holds no key, or holds a key shorter than
// MinCookieKeyLen. The error names the line, never the key.
var ErrCookieKeys = errors.New("middleware: bad cookie keys")

// MaxCookieKeysSize bounds a cookie keys file (and the keys SharedCookieKeys
// reads from Redis).
const MaxCookieKeysSize = 64 << 10

// SharedCookieKeysName is the name of the Redis key (after the prefix)
// under which SharedCookieKeys keeps a fleet's cookie keys.
const SharedCookieKeysName = "cookie-keys"

// sharedKeyLen is the number of random bytes in a key SharedCookieKeys
// makes.
const sharedKeyLen = 32

// ReadCookieKeys reads cookie signing keys (CookieConfig.Keys) in the
// keys file format: one key a line, the key being the raw bytes of the
// line with ASCII white space trimmed from both ends; blank lines and
// lines starting with # are skipped. Each key is at least MinCookieKeyLen
// bytes (`openssl rand -base64 48` makes a good one); there is at least
// one, and at most MaxCookieKeysSize bytes are read. The first key signs
// new cookies and every key verifies, so keys rotate by adding a new first
// line and, once the old cookies have expired, removing the old one.
//
// Errors match ErrCookieKeys and name the line at fault, never the key.
func ReadCookieKeys(r io.Reader) ([][]byte, error) {
	keys, err := parseCookieKeys(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCookieKeys, err)
	}
	return keys, nil
}

// LoadCookieKeys reads a cookie keys file (the format of ReadCookieKeys).
// Errors name the file; a file that cannot be opened also matches the
// fs error (errors.Is(err, fs.ErrNotExist)), a bad one ErrCookieKeys.
func LoadCookieKeys(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("middleware: cookie keys: %w", err)
	}
	defer f.Close()
	keys, err := parseCookieKeys(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCookieKeys, path, err)
	}
	return keys, nil
}

// SharedCookieKeys returns the cookie keys a fleet of instances shares
// through Redis, for a fleet given no keys file: the first instance to ask
// makes a random key and stores it, without expiry, under prefix +
// SharedCookieKeysName (prefix "" means DefaultRedisPrefix; use the prefix
// of the fleet's RedisStore); every instance, that one included, then
// reads what is stored and returns it. Instances starting at once all get
// the same keys: only one store succeeds (SET NX).
//
// The stored value is itself a keys file (see ReadCookieKeys): the maker
// stores one line, 32 random bytes in standard base64, and that line is
// the key, as it would be in a file. To rotate, an operator stores new
// lines first (the first signs, the rest verify) and restarts the fleet; a
// value that does not parse is refused with an error naming the Redis key
// (matching ErrCookieKeys). The key must survive in Redis: a Redis that
// evicts keys without expiry (maxmemory-policy allkeys-…) or loses its data
// on restart would make the next instance sign with a new key, logging
// everyone out.
func SharedCookieKeys(ctx context.Context, client redis.UniversalClient, prefix string) ([][]byte, error) {
	if client == nil {
		return nil, errors.New("middleware: SharedCookieKeys: nil Redis client")
	}
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	name := prefix + SharedCookieKeysName
	raw := make([]byte, sharedKeyLen)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("middleware: making a cookie key: %w", err)
	}
	made := base64.StdEncoding.EncodeToString(raw) + "\n"
	if err := client.SetNX(ctx, name, made, 0).Err(); err != nil {
		return nil, fmt.Errorf("middleware: storing the shared cookie keys at Redis key %q: %w", name, err)
	}
	stored, err := client.Get(ctx, name).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: Redis key %q vanished just after it was stored (is Redis evicting keys?)", ErrCookieKeys, name)
	}
	if err != nil {
		return nil, fmt.Errorf("middleware: reading the shared cookie keys at Redis key %q: %w", name, err)
	}
	keys, err := parseCookieKeys(bytes.NewReader(stored))
	if err != nil {
		return nil, fmt.Errorf("%w: Redis key %q: %w", ErrCookieKeys, name, err)
	}
	return keys, nil
}

// parseCookieKeys reads the keys file format (see ReadCookieKeys); its
// errors never quote the input.
func parseCookieKeys(r io.Reader) ([][]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxCookieKeysSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxCookieKeysSize {
		return nil, fmt.Errorf("more than %d bytes", MaxCookieKeysSize)
	}
	var keys [][]byte
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		line = bytes.TrimFunc(line, isASCIISpace)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(line) < MinCookieKeyLen {
			return nil, fmt.Errorf("line %d: the key is %d bytes, want at least %d", n, len(line), MinCookieKeyLen)
		}
		keys = append(keys, bytes.Clone(line))
	}
	if len(keys) == 0 {
		return nil, errors.New("no key (only blank lines and # comments)")
	}
	return keys, nil
}

// isASCIISpace reports whether r is ASCII white space (as C isspace).
func isASCIISpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
