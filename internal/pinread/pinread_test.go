package pinread

import (
	"io"
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

// TestReadLine: one line is taken (CR dropped), nothing after it; an
// over-long line and an empty input are errors.
func TestReadLine(t *testing.T) {
	r := strings.NewReader("1234\r\nnext\n")
	got, err := readLine(r)
	if err != nil || string(got) != "1234" {
		t.Fatalf("readLine = %q, %v", got, err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "next\n" {
		t.Errorf("left %q, want the next line untouched", rest)
	}
	if got, err := readLine(strings.NewReader("5678")); err != nil || string(got) != "5678" {
		t.Errorf("line without end: %q, %v", got, err)
	}
	if _, err := readLine(strings.NewReader(strings.Repeat("9", MaxSize+1) + "\n")); err == nil {
		t.Error("an over-long line was accepted")
	}
	if _, err := readLine(strings.NewReader("")); err == nil {
		t.Error("empty input was accepted")
	}
}
