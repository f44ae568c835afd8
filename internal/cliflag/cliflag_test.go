package cliflag

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

var errUsage = errors.New("usage")

func TestParse(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l List
	fs.Var(&l, "item", "")
	b := fs.Bool("b", false, "")
	pos, err := Parse(fs, []string{"one", "--item", "a", "two", "-b", "--item", "b,c"}, errUsage)
	if err != nil || !slices.Equal(pos, []string{"one", "two"}) || !*b || !slices.Equal(l, List{"a", "b,c"}) || l.String() != "a,b,c" {
		t.Fatalf("Parse = %q, %v; b %v, items %q", pos, err, *b, l)
	}
	if _, err := Parse(fs, []string{"--nope"}, errUsage); !errors.Is(err, errUsage) {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := Parse(fs, []string{"-h"}, errUsage); !errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		t.Errorf("-h: %v", err)
	}
}
