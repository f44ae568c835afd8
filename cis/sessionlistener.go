package cis

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// AddSessionListener in OpenSSO's session service: a client asks the
// server to POST session notifications (see ParseNotificationSet) for one
// SSO session to a URL of its own. These are the request encoding and the
// answer parsing; the session-service client sends one to the other.

// ErrListenerRefused means the session service answered AddSessionListener
// with an exception other than "Invalid session ID." (that one is
// ErrSessionInvalid).
var ErrListenerRefused = errors.New("cis: session service refused the session listener")

// Limits of the AddSessionListener exchange.
const (
	// MaxListenerURLLen bounds a listener URL.
	MaxListenerURLLen = 2048
	// maxSessionResponseSize bounds a session service answer to one request.
	maxSessionResponseSize = 64 << 10
)

const addListenerWhat = "AddSessionListener answer"

// AddSessionListenerRequest returns the body to POST (Content-Type
// text/xml;charset=UTF-8) to the session service, the environment's
// /amserver/sessionservice or the URL its naming service names, to register
// listenerURL for the SSO session of ticket:
//
//	<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[<SessionRequest vers="1.0" reqid="0">
//	<AddSessionListener><SessionID>TICKET</SessionID><URL>LISTENER</URL></AddSessionListener>
//	</SessionRequest>]]></Request></RequestSet>
//
// listenerURL must be an absolute http or https URL with a host, without
// user information or fragment, at most MaxListenerURLLen bytes: the server
// POSTs notifications to it, so it must be reachable from CIS. The ticket
// must be non-empty printable ASCII. Errors never contain the ticket. Read
// the answer with ParseAddSessionListenerResponse.
func AddSessionListenerRequest(ticket Ticket, listenerURL string) ([]byte, error) {
	if err := checkTicket("AddSessionListener", ticket); err != nil {
		return nil, err
	}
	t := ticket.Reveal()
	if err := CheckListenerURL(listenerURL); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[<SessionRequest vers="1.0" reqid="0"><AddSessionListener><SessionID>`)
	escapeXML(&b, t, false) // '>' escaped: no "]]>" can end the CDATA early
	b.WriteString(`</SessionID><URL>`)
	escapeXML(&b, listenerURL, false)
	b.WriteString(`</URL></AddSessionListener></SessionRequest>]]></Request></RequestSet>`)
	return b.Bytes(), nil
}

// CheckListenerURL reports whether s can be registered as a session
// listener: an absolute http or https URL with a host, without user
// information, fragment, white space or control characters, at most
// MaxListenerURLLen bytes.
func CheckListenerURL(s string) error {
	if len(s) > MaxListenerURLLen {
		return fmt.Errorf("cis: listener URL longer than %d bytes", MaxListenerURLLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return errors.New("cis: listener URL holds white space or a control character")
		}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("cis: listener URL does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("cis: listener URL must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("cis: listener URL has no host")
	case u.User != nil:
		return errors.New("cis: listener URL must not carry user information")
	case strings.Contains(s, "#"):
		return errors.New("cis: listener URL must not have a fragment")
	}
	return nil
}

// ParseAddSessionListenerResponse reads the session service's answer to
// AddSessionListenerRequest: a ResponseSet (svcid "session" or "Session")
// holding one Response whose SessionResponse holds
// <AddSessionListener><OK></OK></AddSessionListener> (nil) or an
// <Exception>. The exception "TICKET Invalid session ID." is an error
// wrapping ErrSessionInvalid, any other ErrListenerRefused; the exception's
// text is not kept, since it quotes the ticket. An answer that does not
// have this shape, with the same strictness as ParseNotificationSet, is a
// *ParseError wrapping ErrMalformed (ErrTooLarge over 64 KiB).
func ParseAddSessionListenerResponse(body []byte) error {
	if len(body) > maxSessionResponseSize {
		return &ParseError{What: addListenerWhat, Offset: -1,
			Msg: fmt.Sprintf("answer is %d bytes, limit %d", len(body), maxSessionResponseSize), Err: ErrTooLarge}
	}
	r := newPLLReader(body, addListenerWhat)
	if _, _, _, err := r.sessionEnvelope("ResponseSet", "reqid"); err != nil {
		return err
	}
	inner, err := r.singleResponse()
	if err != nil {
		return err
	}
	return parseAddListenerSessionResponse(inner)
}

// listenerOutcome is what an AddSessionListener answer said.
type listenerOutcome int

const (
	listenerOK listenerOutcome = iota + 1
	listenerInvalidSession
	listenerRefused
)

// parseAddListenerSessionResponse reads the SessionResponse inside the
// ResponseSet.
func parseAddListenerSessionResponse(data []byte) error {
	r := newPLLReader(data, addListenerWhat+" SessionResponse")
	if err := r.root("SessionResponse"); err != nil {
		return err
	}
	var outcome listenerOutcome
	seen := false
	err := r.children(func() error {
		if !r.is("AddSessionListener") {
			return r.errorf("unexpected element <%s> in <SessionResponse>", r.tag())
		}
		if err := r.once(&seen); err != nil {
			return err
		}
		return r.children(func() error {
			if outcome != 0 {
				return r.errorf("more than one answer in <AddSessionListener>")
			}
			switch {
			case r.is("OK"):
				outcome = listenerOK
				return r.empty()
			case r.is("Exception"):
				text, err := r.textContent()
				outcome = listenerRefused
				if bytes.Contains(text, []byte("Invalid session ID")) {
					outcome = listenerInvalidSession
				}
				return err
			}
			return r.errorf("unexpected element <%s> in <AddSessionListener>", r.tag())
		})
	})
	if err != nil {
		return err
	}
	if err := r.end(); err != nil {
		return err
	}
	switch outcome {
	case listenerOK:
		return nil
	case listenerInvalidSession:
		return fmt.Errorf("cis: AddSessionListener: %w", ErrSessionInvalid)
	case listenerRefused:
		return fmt.Errorf("%w (the exception's text is withheld: it quotes the ticket)", ErrListenerRefused)
	}
	return r.errorf("no OK or Exception in the answer")
}
