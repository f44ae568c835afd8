package cis

import "log/slog"

// Ticket is an SSO ticket (an OpenSSO session id such as "AQIC…@…#"). It is a
// bearer credential: its String, GoString and LogValue redact it, so a Ticket
// printed with fmt or logged with slog never shows its value. Use Reveal to
// get the value for the one place that must send it.
type Ticket string

const redactedTicket = "[ticket redacted]"

// String returns a redacted placeholder, never the ticket.
func (t Ticket) String() string { return redactedTicket }

// GoString returns a redacted placeholder, never the ticket.
func (t Ticket) GoString() string { return redactedTicket }

// LogValue makes slog print a redacted placeholder.
func (t Ticket) LogValue() slog.Value { return slog.StringValue(redactedTicket) }

// Reveal returns the ticket's value, for sending it to CIS.
func (t Ticket) Reveal() string { return string(t) }

// IsZero reports whether the ticket is empty.
func (t Ticket) IsZero() bool { return t == "" }
