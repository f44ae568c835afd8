package cis

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const rawTicket = "AQIC5wM2LY4SfczRawTicket+/=@AAJTSQACMDE=#"

// leaks reports whether s shows any recognisable part of rawTicket, raw or
// hex-encoded.
func leaks(s string) bool {
	return strings.Contains(s, "AQIC") || strings.Contains(s, "RawTicket") ||
		strings.Contains(strings.ToLower(s), fmt.Sprintf("%x", "AQIC"))
}

func TestTicketFormatRedactsEveryVerb(t *testing.T) {
	tk := Ticket(rawTicket)
	s := &Session{Ticket: tk, UID: "555000000001"}
	// Every verb but %p and %w, which fmt handles before consulting any
	// method (see Ticket's doc; go vet reports both misuses).
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%d", "%c", "%x", "%X", "%q", "%U", "%t", "%b", "%o", "%e", "%g", "%T", "%10.3s", "%-20x", "% x", "%#q", "%!", "%z"} {
		for _, v := range []any{tk, &tk, s, *s, []Ticket{tk}, map[string]Ticket{"k": tk}, []Session{*s}} {
			if got := fmt.Sprintf(verb, v); leaks(got) {
				t.Errorf("Sprintf(%q, %T) = %q shows the ticket", verb, v, got)
			}
		}
	}
	// A struct of the caller's own that holds a Ticket is safe with the
	// verbs that suit a struct (fmt then calls the field's Format).
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x"} {
		if got := fmt.Sprintf(verb, struct{ T Ticket }{tk}); leaks(got) {
			t.Errorf("Sprintf(%q, struct) = %q shows the ticket", verb, got)
		}
	}
	if got := fmt.Sprint(s); !strings.Contains(got, "555000000001") {
		t.Errorf("Session prints as %q: the uid is missing", got)
	}
	if got := fmt.Sprintf("%q", tk); got != `"[ticket redacted]"` {
		t.Errorf("%%q = %s", got)
	}
}

func TestTicketJSONAndSlogRedact(t *testing.T) {
	s := &Session{Ticket: Ticket(rawTicket), UID: "555000000001", Name: "Jones Alice Dr", Roles: []LoginRole{{ID: "555000000101"}}}
	for _, v := range []any{s, *s, Ticket(rawTicket), struct{ Held Ticket }{Ticket(rawTicket)}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if leaks(string(b)) || !strings.Contains(string(b), redactedTicket) {
			t.Errorf("json.Marshal(%T) = %s", v, b)
		}
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		log := slog.New(h)
		log.Info("login", "session", s, "value", *s, "ticket", s.Ticket, slog.Any("any", struct{ T Ticket }{s.Ticket}))
		log.Info("group", slog.Group("g", "t", s.Ticket))
	}
	if leaks(buf.String()) {
		t.Errorf("slog output shows the ticket:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `"uid":"555000000001"`) {
		t.Errorf("slog JSON lost the session's uid:\n%s", buf.String())
	}
}

// Session stores keep tickets with gob: it must round-trip the real value,
// which is why Ticket is not a (redacting) TextMarshaler.
func TestTicketGobKeepsValue(t *testing.T) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(struct{ T Ticket }{Ticket(rawTicket)}); err != nil {
		t.Fatal(err)
	}
	var out struct{ T Ticket }
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.T.Reveal() != rawTicket {
		t.Errorf("gob round trip gave %q", out.T.Reveal())
	}
}
