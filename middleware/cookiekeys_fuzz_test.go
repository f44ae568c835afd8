package middleware_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencis/cisauth/middleware"
)

// FuzzReadCookieKeys: a keys file is outside input (an operator's file, or
// a value any client of the fleet's Redis can write). Whatever it holds,
// ReadCookieKeys returns keys long enough, as the lines they were, or an ErrCookieKeys that does not quote the input.
func FuzzReadCookieKeys(f *testing.F) {
	for _, s := range []string{
		keyA,
		"# new first\n" + keyA + "\n\n  # old\n" + keyB + "\n",
		" \t" + keyA + "\r\n\v" + keyB + "\f\r\n",
		"# only a comment\n",
		"short\n",
		keyA + "\nshort",
		"\xff\x00" + keyA + "\x00",
		"",
	} {
		f.Add([]byte(s))
	}
	// Past the cap (here, so the fuzzer need not find and minimise it).
	f.Add(append([]byte(keyA+"\n"), bytes.Repeat([]byte{'#'}, middleware.MaxCookieKeysSize)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := middleware.ReadCookieKeys(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, middleware.ErrCookieKeys) {
				t.Fatalf("error %v does not match ErrCookieKeys", err)
			}
			if len(err.Error()) > 120 {
				t.Fatalf("error of %d bytes: it may quote the input: %q", len(err.Error()), err)
			}
			return
		}
		if len(b) > middleware.MaxCookieKeysSize {
			t.Fatalf("%d bytes accepted", len(b))
		}
		if len(keys) == 0 {
			t.Fatal("no key and no error")
		}
		rest := b // the keys appear in the input, in order
		for i, k := range keys {
			at := bytes.Index(rest, k)
			if len(k) < middleware.MinCookieKeyLen || k[0] == '#' || bytes.IndexByte(k, '\n') >= 0 ||
				strings.ContainsAny(string(k[:1])+string(k[len(k)-1:]), " \t\r\n\v\f") || at < 0 {
				t.Fatalf("key %d = %q", i, k)
			}
			rest = rest[at+len(k):]
		}
		// The keys written back one a line read the same.
		again, err := middleware.ReadCookieKeys(bytes.NewReader(bytes.Join(keys, []byte("\n"))))
		if err != nil || !slices.EqualFunc(again, keys, bytes.Equal) {
			t.Fatalf("written back: %q, %v; want %q", again, err, keys)
		}
	})
}
