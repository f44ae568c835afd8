package cis

import (
	"fmt"
	"strings"
)

// MaxTicketLen bounds the length of an SSO ticket ParseTicket accepts. Real
// tickets are about 60 bytes; the bound leaves room for longer server ids
// while keeping a request that carries one small.
const MaxTicketLen = 2048

// ErrTicketShape means a string is not shaped like an SSO ticket. It wraps
// ErrMalformed, so errors.Is(err, ErrMalformed) holds too (a server that
// received the string from a browser answers 400 itself rather than
// HTTPStatus's 502, which is for CIS's own answers).
var ErrTicketShape = fmt.Errorf("cis: not an SSO ticket: %w", ErrMalformed)

// ticketPrefix starts every OpenSSO session id CIS issues.
const ticketPrefix = "AQIC"

// ticketAlphabet[b] is true for the bytes a ticket may hold: standard and
// URL-safe base64 (A–Z a–z 0–9 + / = - _) and OpenSSO's separators and
// markers (@ # * .).
var ticketAlphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_@#*." {
		t[c] = true
	}
	return t
}()

// checkTicket is what every client in this package does before a ticket
// leaves for CIS (in a URL or a message): a ticket that is not shaped like
// one names no session, so the error wraps ErrSessionInvalid as well as
// ErrTicketShape, and nothing is sent.
func checkTicket(op string, t Ticket) error {
	if _, err := ParseTicket(t.Reveal()); err != nil {
		return fmt.Errorf("cis: %s: %w: %w", op, ErrSessionInvalid, err)
	}
	return nil
}

// ParseTicket checks that s is shaped like an SSO ticket (an OpenSSO
// session id) before anything sends it anywhere: at most MaxTicketLen bytes,
// "AQIC", a non-empty session part, "@", a non-empty server part and a
// final "#", each part made of base64 (standard or URL-safe) and "*" or
// ".". For example AQIC5wM2LY4SfczntBbXvEAOuECbqMY3J4NW3byH6xwgkGE=@AAJTSQACMDE=#.
//
// It says nothing about whether the ticket is live: only the SSB knows
// that. Errors wrap ErrTicketShape (and so ErrMalformed) and never contain
// any part of s.
func ParseTicket(s string) (Ticket, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrTicketShape)
	}
	if len(s) > MaxTicketLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrTicketShape, MaxTicketLen)
	}
	for i := 0; i < len(s); i++ {
		if !ticketAlphabet[s[i]] {
			return "", fmt.Errorf("%w: byte %d is outside the ticket alphabet", ErrTicketShape, i)
		}
	}
	if !strings.HasPrefix(s, ticketPrefix) {
		return "", fmt.Errorf("%w: does not start with %s", ErrTicketShape, ticketPrefix)
	}
	body, ok := strings.CutSuffix(s[len(ticketPrefix):], "#")
	if !ok {
		return "", fmt.Errorf("%w: does not end with '#'", ErrTicketShape)
	}
	session, server, ok := strings.Cut(body, "@")
	switch {
	case !ok:
		return "", fmt.Errorf("%w: no '@' before the server part", ErrTicketShape)
	case session == "":
		return "", fmt.Errorf("%w: empty session part", ErrTicketShape)
	case server == "":
		return "", fmt.Errorf("%w: empty server part", ErrTicketShape)
	case strings.ContainsAny(server, "@#"), strings.Contains(session, "#"):
		return "", fmt.Errorf("%w: more than one '@' or '#'", ErrTicketShape)
	}
	return Ticket(s), nil
}
