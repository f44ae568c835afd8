package cis2

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Secret is a credential this package hands to its caller to keep server
// side: a PKCE verifier, an access, refresh or ID token. Like cis.Ticket,
// its String, GoString, Format, LogValue and MarshalJSON redact it, so it
// never shows up in a log line, an error or a JSON dump by accident; Reveal
// gives the value to the one place that stores it (a session store writes
// Reveal's value and reads it back with a conversion, Secret(s)).
type Secret string

const redactedSecret = "[secret redacted]"

// String returns a redacted placeholder.
func (s Secret) String() string { return redactedSecret }

// GoString returns a redacted placeholder.
func (s Secret) GoString() string { return redactedSecret }

// Format writes a redacted placeholder for every fmt verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		f.Write([]byte(strconv.Quote(redactedSecret)))
		return
	}
	f.Write([]byte(redactedSecret))
}

// LogValue makes slog print a redacted placeholder.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redactedSecret) }

// MarshalJSON encodes a redacted placeholder.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedSecret + `"`), nil }

// Reveal returns the value.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }
