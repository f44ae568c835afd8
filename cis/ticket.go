package cis

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Ticket is an SSO ticket (an OpenSSO session id such as "AQIC…@…#"). It is a
// bearer credential: its String, GoString, Format, LogValue and MarshalJSON
// redact it, so a Ticket printed with fmt (any verb), logged with slog or
// encoded as JSON — alone or inside a struct — never shows its value. Use
// Reveal to get the value for the one place that must send or store it.
//
// The exceptions are %p and %w (outside an error argument), which fmt
// handles before it consults any method: go vet reports both misuses, and
// make test runs it.
//
// Ticket is deliberately not an encoding.TextMarshaler: gob and other
// encoders would then save the redaction. Code that stores a ticket (a
// session store) writes Reveal's value explicitly and reads it back with a
// conversion, Ticket(s).
type Ticket string

const redactedTicket = "[ticket redacted]"

// String returns a redacted placeholder, never the ticket.
func (t Ticket) String() string { return redactedTicket }

// GoString returns a redacted placeholder, never the ticket.
func (t Ticket) GoString() string { return redactedTicket }

// Format writes a redacted placeholder for every fmt verb (%d, %x, %q, %c,
// … included: without it, fmt's bad-verb path would print the raw value).
func (t Ticket) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		f.Write([]byte(strconv.Quote(redactedTicket)))
		return
	}
	f.Write([]byte(redactedTicket))
}

// LogValue makes slog print a redacted placeholder.
func (t Ticket) LogValue() slog.Value { return slog.StringValue(redactedTicket) }

// MarshalJSON encodes a redacted placeholder, never the ticket.
func (t Ticket) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedTicket + `"`), nil }

// Reveal returns the ticket's value, for sending it to CIS.
func (t Ticket) Reveal() string { return string(t) }

// IsZero reports whether the ticket is empty.
func (t Ticket) IsZero() bool { return t == "" }
