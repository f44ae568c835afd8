package cis

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// SessionServiceConfig configures a SessionServiceClient. Only Env is
// required.
type SessionServiceConfig struct {
	// Env is the CIS environment whose session service is asked (the one
	// its naming service names, else Env.Endpoints().SessionService) and
	// whose trust anchors verify TLS.
	Env Environment
	// HTTPClient sends the requests; nil means Env.NewHTTPClient(Timeout).
	// A client given here is refused (ErrUnverifiedTransport) unless it
	// verifies TLS against exactly Env's trust anchors, as for SSBConfig.
	HTTPClient *http.Client
	// WrapTransport, if not nil, wraps the client's (verified) transport,
	// e.g. to count requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Timeout bounds each request (DefaultTimeout if zero).
	Timeout time.Duration
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives debug records, never the ticket (nil discards them).
	Logger *slog.Logger
	// UserAgent is sent with each request (DefaultOpenSSOUserAgent if
	// empty).
	UserAgent string
	// Naming finds the session service, as OpenSSO clients do, through
	// the naming service (and remembers it); nil means a NamingClient made
	// from the fields above. Share one between clients of an environment.
	Naming *NamingClient
}

// SessionServiceClient talks to the OpenSSO session service of a CIS
// environment: it checks whether an SSO session is still valid and keeps
// it alive (GetSession with reset, which also restarts the session's idle
// timer) without an SSB RoleAssertion round trip, and registers session
// listeners (AddSessionListener). It is safe for concurrent use.
type SessionServiceClient struct {
	naming *NamingClient
}

// NewSessionServiceClient checks cfg and returns a client.
func NewSessionServiceClient(cfg SessionServiceConfig) (*SessionServiceClient, error) {
	n := cfg.Naming
	if n == nil {
		var err error
		n, err = NewNamingClient(NamingConfig{Env: cfg.Env, HTTPClient: cfg.HTTPClient, WrapTransport: cfg.WrapTransport,
			Timeout: cfg.Timeout, Now: cfg.Now, Logger: cfg.Logger, UserAgent: cfg.UserAgent})
		if err != nil {
			return nil, fmt.Errorf("cis: session service client: %w", err)
		}
	}
	return &SessionServiceClient{naming: n}, nil
}

// SessionInfo is what the session service says about a live SSO session.
// It never holds the ticket.
type SessionInfo struct {
	// UID is the user id (the UserId property).
	UID string
	// SelectedRoleID is the role selected in the session (the
	// ssbSessionRoleUid property), empty if none is or the service does
	// not say.
	SelectedRoleID string
	// TimeLeft is how long the session lasts if not used again: the
	// earlier of its idle and its maximum time running out (timeleft).
	TimeLeft time.Duration
	// TimeIdle is how long the session has been idle (timeidle); after a
	// reset, zero.
	TimeIdle time.Duration
	// MaxTime and MaxIdle are the session's maximum and idle lifetimes
	// (maxtime, maxidle).
	MaxTime, MaxIdle time.Duration
}

const sessionServiceOp = "session service GetSession"

// GetSession asks the session service about t's session. With reset it
// also restarts the session's idle timer: this is how a workstation keeps
// a session alive while the card is in. A session that is unknown,
// expired or logged out (an Exception, or a state other than valid) is
// ErrSessionInvalid; other errors wrap ErrMalformed, ErrTooLarge,
// ErrTimeout, ErrTrust, ErrUnavailable or ErrMaintenance. The answer must
// be about t (the service echoes it); no error or log line contains the
// ticket.
func (c *SessionServiceClient) GetSession(ctx context.Context, t Ticket, reset bool) (*SessionInfo, error) {
	if err := checkTicket(sessionServiceOp, t); err != nil {
		return nil, err
	}
	answer, err := c.naming.post(ctx, c.naming.SessionServiceURL(ctx), getSessionRequest(t, reset), sessionServiceOp, maxSessionResponseSize)
	if err != nil {
		return nil, err
	}
	info, sid, err := parseGetSessionResponse(answer)
	if err != nil {
		c.naming.log.LogAttrs(ctx, slog.LevelDebug, "session service refused", slog.String("error", err.Error()))
		return nil, err
	}
	if sid != t.Reveal() {
		return nil, fmt.Errorf("cis: %s: the answer is not about the ticket asked for: %w", sessionServiceOp, ErrMalformed)
	}
	c.naming.log.LogAttrs(ctx, slog.LevelDebug, "session service: session valid", slog.String("uid", info.UID),
		slog.Bool("reset", reset), slog.Duration("time_left", info.TimeLeft))
	return info, nil
}

// AddSessionListener asks the session service to POST session
// notifications for t's session to listenerURL (see
// SessionListenerClient.AddSessionListener, which this is).
func (c *SessionServiceClient) AddSessionListener(ctx context.Context, t Ticket, listenerURL string) error {
	return addSessionListener(ctx, c.naming, t, listenerURL)
}

// getSessionRequest is the RequestSet of one GetSession for t (checked by
// the caller: printable ASCII, no "]]>"); the ticket is XML-escaped
// besides, as every value this package sends is.
func getSessionRequest(t Ticket, reset bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[<SessionRequest vers="1.0" reqid="0"><GetSession reset="`)
	b.WriteString(strconv.FormatBool(reset))
	b.WriteString(`"><SessionID>`)
	escapeXML(&b, t.Reveal(), false) // '>' escaped: no "]]>" can end the CDATA early
	b.WriteString(`</SessionID></GetSession></SessionRequest>]]></Request></RequestSet>`)
	return b.Bytes()
}

const getSessionWhat = "GetSession answer"

// parseGetSessionResponse reads the session service's answer to one
// GetSession: a ResponseSet (svcid session) with one Response whose
// SessionResponse holds one GetSession, which holds either a Session (its
// details and its sid are returned; a state other than valid is
// ErrSessionInvalid) or an Exception (ErrSessionInvalid; its text, which
// quotes the ticket, is not kept). The answer is read as strictly as a
// notification (see ParseNotificationSet): anything else is a *ParseError
// wrapping ErrMalformed (ErrTooLarge over 64 KiB).
func parseGetSessionResponse(data []byte) (*SessionInfo, string, error) {
	if len(data) > maxSessionResponseSize {
		return nil, "", &ParseError{What: getSessionWhat, Offset: -1,
			Msg: fmt.Sprintf("answer is %d bytes, limit %d", len(data), maxSessionResponseSize), Err: ErrTooLarge}
	}
	r := newPLLReader(data, getSessionWhat)
	if _, _, _, err := r.sessionEnvelope("ResponseSet", "reqid"); err != nil {
		return nil, "", err
	}
	inner, err := r.singleResponse()
	if err != nil {
		return nil, "", err
	}
	s, err := parseGetSessionSessionResponse(inner)
	if err != nil {
		return nil, "", err
	}
	if s.State != SessionStateValid {
		return nil, "", fmt.Errorf("cis: %s: the session is %.16q: %w", sessionServiceOp, s.State, ErrSessionInvalid)
	}
	info := &SessionInfo{TimeLeft: s.TimeLeft, TimeIdle: s.TimeIdle, MaxTime: s.MaxTime, MaxIdle: s.MaxIdle}
	info.UID, _ = s.Properties.Get("UserId")
	info.SelectedRoleID, _ = s.Properties.Get("ssbSessionRoleUid")
	if info.UID == "" {
		return nil, "", &ParseError{What: getSessionWhat, Offset: -1, Msg: "the Session has no UserId property", Err: ErrMalformed}
	}
	for _, d := range []time.Duration{info.TimeLeft, info.TimeIdle, info.MaxTime, info.MaxIdle} {
		if d < 0 {
			return nil, "", &ParseError{What: getSessionWhat, Offset: -1, Msg: "a negative time in the Session", Err: ErrMalformed}
		}
	}
	return info, s.Ticket.Reveal(), nil
}

// parseGetSessionSessionResponse reads the SessionResponse inside the
// ResponseSet: one GetSession with one Session, or an Exception (then
// ErrSessionInvalid).
func parseGetSessionSessionResponse(data []byte) (*OpenSSOSession, error) {
	r := newPLLReader(data, getSessionWhat+" SessionResponse")
	if err := r.root("SessionResponse"); err != nil {
		return nil, err
	}
	var (
		s         *OpenSSOSession
		exception bool
		seen      bool
	)
	err := r.children(func() error {
		if !r.is("GetSession") {
			return r.errorf("unexpected element <%s> in <SessionResponse>", r.tag())
		}
		if err := r.once(&seen); err != nil {
			return err
		}
		return r.children(func() error {
			if s != nil || exception {
				return r.errorf("more than one answer in <GetSession>")
			}
			switch {
			case r.is("Session"):
				v, err := r.openSSOSession()
				s = &v
				return err
			case r.is("Exception"):
				exception = true
				_, err := r.textContent()
				return err
			}
			return r.errorf("unexpected element <%s> in <GetSession>", r.tag())
		})
	})
	if err != nil {
		return nil, err
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	switch {
	case exception:
		return nil, fmt.Errorf("cis: %s: the service does not know the session: %w", sessionServiceOp, ErrSessionInvalid)
	case s == nil:
		return nil, r.errorf("no Session or Exception in <GetSession>")
	}
	return s, nil
}
