package pinread

import (
	"os"
	"strings"
	"testing"
)

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"246810\n":         "246810",
		"246810\r\nsecond": "246810",
		"246810":           "246810",
		" 2468 \n":         " 2468 ",
	} {
		got, err := FirstLine(strings.NewReader(in), "test")
		if err != nil || string(got) != want {
			t.Errorf("FirstLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for name, in := range map[string]string{"empty": "", "too long": strings.Repeat("1", MaxSize+1)} {
		if _, err := FirstLine(strings.NewReader(in), "test"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPromptNeedsATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := Prompt(r, w, "PIN: "); err == nil {
		t.Error("Prompt read from a pipe")
	}
}
