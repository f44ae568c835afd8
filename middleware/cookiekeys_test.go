package middleware_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/opencis/cisauth/internal/redistest"
	"github.com/opencis/cisauth/middleware"
)

// Two keys of the file format (44 and 64 bytes).
const (
	keyA = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6"
	keyB = "b2xkIGtleSBzdGlsbCB2ZXJpZmllcyBjb29raWVzIHNpZ25lZCBsYXN0IHllYXI="
)

func TestReadCookieKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"one", keyA, []string{keyA}},
		{"rotation, comments, blank lines", "# new first\n" + keyA + "\n\n   # old\n" + keyB + "\n", []string{keyA, keyB}},
		{"CRLF and ASCII white space trimmed", " \t" + keyA + "\r\n\v" + keyB + "\f \r\n", []string{keyA, keyB}},
		{"inner space and # kept", "pass phrase with # and spaces inside it, long enough", []string{"pass phrase with # and spaces inside it, long enough"}},
		{"raw bytes, not UTF-8", "\xff\xfe" + keyA + "\x00", []string{"\xff\xfe" + keyA + "\x00"}},
		{"non-ASCII space kept", "\u00a0" + keyA, []string{"\u00a0" + keyA}},
		{"exactly the minimum", strings.Repeat("k", middleware.MinCookieKeyLen), []string{strings.Repeat("k", middleware.MinCookieKeyLen)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := middleware.ReadCookieKeys(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tc.want) {
				t.Fatalf("%d keys, want %d", len(keys), len(tc.want))
			}
			for i := range keys {
				if string(keys[i]) != tc.want[i] {
					t.Errorf("key %d = %q, want %q", i, keys[i], tc.want[i])
				}
			}
			// The keys are what the middleware accepts.
			if _, err := middleware.New(middleware.Config{Validator: &fakeValidator{}, Cookie: middleware.CookieConfig{Keys: keys}}); err != nil {
				t.Errorf("New with the keys read: %v", err)
			}
		})
	}

	// The largest file accepted, and one byte more.
	big := keyA + "\n" + strings.Repeat("#", middleware.MaxCookieKeysSize-len(keyA)-1)
	if _, err := middleware.ReadCookieKeys(strings.NewReader(big)); err != nil {
		t.Errorf("a file of exactly MaxCookieKeysSize bytes: %v", err)
	}

	const secret = "s3cr3t-but-short"
	for _, tc := range []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "no key"},
		{"only comments", "# a\n\n  # b\n \r\n", "no key"},
		{"short key names its line", "# keys\n" + keyA + "\n\n" + secret + "\n", "line 4: the key is 16 bytes, want at least 32"},
		{"short after trimming", "  " + strings.Repeat("k", middleware.MinCookieKeyLen-1) + " \r\n", "line 1:"},
		{"too large", big + "#", "more than 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := middleware.ReadCookieKeys(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error, %d keys", len(keys))
			}
			if !errors.Is(err, middleware.ErrCookieKeys) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want ErrCookieKeys and %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error prints the key: %q", err)
			}
		})
	}

	// A failing reader: both errors can be tested.
	boom := errors.New("disk on fire")
	_, err := middleware.ReadCookieKeys(iotest.ErrReader(boom))
	if !errors.Is(err, middleware.ErrCookieKeys) || !errors.Is(err, boom) {
		t.Errorf("reader error: %v", err)
	}
}

func TestLoadCookieKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys, err := middleware.LoadCookieKeys(write("good", "# rotated 2026-11\n"+keyA+"\n"+keyB+"\n"))
	if err != nil || len(keys) != 2 || string(keys[0]) != keyA || string(keys[1]) != keyB {
		t.Fatalf("LoadCookieKeys = %q, %v", keys, err)
	}

	bad := write("bad", keyA+"\nshort\n")
	_, err = middleware.LoadCookieKeys(bad)
	if !errors.Is(err, middleware.ErrCookieKeys) || !strings.Contains(err.Error(), bad+": line 2:") || strings.Contains(err.Error(), "short\n") {
		t.Errorf("bad file: %v", err)
	}

	missing := filepath.Join(dir, "none")
	_, err = middleware.LoadCookieKeys(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := middleware.LoadCookieKeys(dir); err == nil {
		t.Error("a directory read as a keys file")
	}
}

func TestSharedCookieKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := redistest.Prefix(t)
	maker := redistest.Client(t)

	first, err := middleware.SharedCookieKeys(ctx, maker, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || len(first[0]) < middleware.MinCookieKeyLen {
		t.Fatalf("made %d keys, first %d bytes", len(first), len(first[0]))
	}
	// Stored without expiry, as a keys file whose line is the key.
	name := prefix + middleware.SharedCookieKeysName
	if ttl := maker.TTL(ctx, name).Val(); ttl != -1 {
		t.Errorf("TTL of %s = %v, want none", name, ttl)
	}
	stored, err := maker.Get(ctx, name).Result()
	if err != nil {
		t.Fatal(err)
	}
	if fromFile, err := middleware.ReadCookieKeys(strings.NewReader(stored)); err != nil || !bytes.Equal(fromFile[0], first[0]) {
		t.Errorf("the stored value read as a keys file gives %q, %v; want the key returned", fromFile, err)
	}

	// A later instance (another client) gets the same key; so does the
	// maker again.
	for who, client := range map[string]*redis.Client{"a later instance": redistest.Client(t), "the maker again": maker} {
		again, err := middleware.SharedCookieKeys(ctx, client, prefix)
		if err != nil || len(again) != 1 || !bytes.Equal(again[0], first[0]) {
			t.Errorf("%s: %q, %v; want the key made first", who, again, err)
		}
	}

	// Rotation: an operator puts a new key first; both come back, in order.
	if err := maker.Set(ctx, name, "# rotated\n"+keyA+"\n"+stored, 0).Err(); err != nil {
		t.Fatal(err)
	}
	keys, err := middleware.SharedCookieKeys(ctx, redistest.Client(t), prefix)
	if err != nil || len(keys) != 2 || string(keys[0]) != keyA || !bytes.Equal(keys[1], first[0]) {
		t.Errorf("after rotation: %q, %v", keys, err)
	}

	// A stored value that does not parse is refused, naming the Redis key
	// and not the value.
	const secret = "leaked-short-key"
	if err := maker.Set(ctx, name, secret, 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = middleware.SharedCookieKeys(ctx, redistest.Client(t), prefix)
	if !errors.Is(err, middleware.ErrCookieKeys) || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), secret) {
		t.Errorf("unparsable stored value: %v", err)
	}
	if got := maker.Get(ctx, name).Val(); got != secret {
		t.Errorf("the bad value was overwritten with %q", got)
	}

	// Redis unreachable: an error, not a key of its own.
	closed := redistest.Client(t)
	closed.Close()
	if keys, err := middleware.SharedCookieKeys(ctx, closed, redistest.Prefix(t)); err == nil {
		t.Errorf("closed client: %d keys, no error", len(keys))
	}
	if _, err := middleware.SharedCookieKeys(ctx, nil, prefix); err == nil {
		t.Error("nil client: no error")
	}
}

// Many instances starting at once all sign with the same key.
func TestSharedCookieKeysConcurrentStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := redistest.Prefix(t)
	const n = 20
	clients := make([]*redis.Client, n) // separate instances: separate clients
	for i := range clients {
		clients[i] = redistest.Client(t)
	}
	got := make([][][]byte, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = middleware.SharedCookieKeys(ctx, clients[i], prefix)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		if len(got[i]) != 1 || !bytes.Equal(got[i][0], got[0][0]) {
			t.Errorf("instance %d got other keys than instance 0", i)
		}
	}
}

// A fleet given no keys file: a session opened on one instance is served
// by another, and by an instance restarted (which asks for the keys again).
func TestSharedCookieKeysFleet(t *testing.T) {
	keyPrefix := redistest.Prefix(t)
	fl := newFleet(t, 2, func(i int, c *middleware.Config) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, err := middleware.SharedCookieKeys(ctx, redistest.Client(t), keyPrefix)
		if err != nil {
			t.Fatal(err)
		}
		c.Cookie.Keys = keys
	})
	name := fl.inst[0].m.CookieName()
	ck := loginTo(t, fl.inst[0].h, name, fl.srv.MustLogin(t, alice, aliceRole))
	if got := whoFrom(t, fl.inst[1].get("/whoami", ck)); got.UID != alice {
		t.Fatalf("the other instance: %+v", got)
	}
	fl.inst[0].store.Close()
	if got := whoFrom(t, fl.start(0).get("/whoami", ck)); got.UID != alice {
		t.Fatalf("the restarted instance: %+v", got)
	}
}
