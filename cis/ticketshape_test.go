package cis

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// ticketShape is ParseTicket's rule written as a regular expression: the
// referee for the table and the fuzz target.
var ticketShape = regexp.MustCompile(`^AQIC[A-Za-z0-9+/=_*.-]+@[A-Za-z0-9+/=_*.-]+#$`)

func TestParseTicket(t *testing.T) {
	long := "AQIC" + strings.Repeat("A", MaxTicketLen-len("AQIC@B#")) + "@B#"
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"opensso", "AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#", true},
		{"url-safe and markers", "AQIC5w-_*.M2@AA-_*.E=#", true},
		{"longest", long, true},
		{"one too long", "AQICA" + long[4:], false},
		{"empty", "", false},
		{"no prefix", "AQID5wM2@AAJTSQACMDE=#", false},
		{"lower-case prefix", "aqic5wM2@AAJTSQACMDE=#", false},
		{"no hash", "AQIC5wM2@AAJTSQACMDE=", false},
		{"no at", "AQIC5wM2AAJTSQACMDE=#", false},
		{"empty session", "AQIC@AAJT#", false},
		{"empty server", "AQIC5wM2@#", false},
		{"two at", "AQIC5w@M2@AAJT#", false},
		{"two hash", "AQIC5w#M2@AAJT#", false},
		{"hash in server", "AQIC5wM2@AA#JT#", false},
		{"space", "AQIC5w M2@AAJT#", false},
		{"percent-encoded", "AQIC5wM2%3D@AAJT#", false},
		{"newline", "AQIC5wM2@AAJT#\n", false},
		{"query injection", "AQIC5wM2@AAJT#&token=x", false},
		{"non-ascii", "AQIC5wM2\u00e9@AAJT#", false},
		{"nul", "AQIC5wM2\x00@AAJT#", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTicket(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseTicket: err = %v, want ok = %v", err, tc.ok)
			}
			if tc.ok != ticketShape.MatchString(tc.in) && len(tc.in) <= MaxTicketLen {
				t.Fatalf("table disagrees with the referee regexp")
			}
			if err != nil {
				if !errors.Is(err, ErrTicketShape) || !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v does not wrap ErrTicketShape and ErrMalformed", err)
				}
				if len(tc.in) > 5 && strings.Contains(err.Error(), tc.in[4:len(tc.in)-1]) {
					t.Errorf("error quotes the input: %v", err)
				}
				return
			}
			if got.Reveal() != tc.in {
				t.Errorf("Reveal = %q, want the input", got.Reveal())
			}
		})
	}
}

func FuzzParseTicket(f *testing.F) {
	f.Add("AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#")
	f.Add("AQIC@#")
	f.Add("AQIC5w@M2@AAJT#")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ParseTicket(s)
		want := len(s) <= MaxTicketLen && ticketShape.MatchString(s)
		if want != (err == nil) {
			t.Fatalf("ParseTicket(%q): err = %v, referee says ok = %v", s, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrTicketShape) {
				t.Fatalf("error does not wrap ErrTicketShape: %v", err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		if tk.Reveal() != s {
			t.Fatalf("Reveal changed the ticket")
		}
	})
}
