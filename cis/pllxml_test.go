package cis

import (
	"errors"
	"strings"
	"testing"
)

// anyTree reads whatever elements the document holds, recursively, as a
// parser of a deeper format would.
func anyTree(r *pllReader) error {
	return r.children(func() error { return anyTree(r) })
}

func TestPLLReaderDepth(t *testing.T) {
	doc := func(n int) []byte {
		return []byte(strings.Repeat("<a>", n) + strings.Repeat("</a>", n))
	}
	for n, ok := range map[int]bool{maxPLLDepth: true, maxPLLDepth + 1: false} {
		r := newPLLReader(doc(n), "test")
		err := r.root("a")
		if err == nil {
			err = anyTree(r)
		}
		if err == nil {
			err = r.end()
		}
		if (err == nil) != ok || err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("depth %d: %v", n, err)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "-7": -7, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63, "007": 7} {
		if n, ok := parseDecimal([]byte(in)); !ok || n != want {
			t.Errorf("%q: %d %v", in, n, ok)
		}
	}
	for _, in := range []string{"", "-", "+1", " 1", "1 ", "1e3", "0x10", "9223372036854775808", "12345678901234567890", "١"} {
		if n, ok := parseDecimal([]byte(in)); ok {
			t.Errorf("%q parsed as %d", in, n)
		}
	}
}
