package cis

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultSessionServiceUserAgent is the User-Agent the session service
// client sends unless its config names another.
const DefaultSessionServiceUserAgent = "cisauth-sessionservice/1"

// SessionServiceConfig configures a SessionServiceClient. Only Env is
// required.
type SessionServiceConfig struct {
	// Env is the CIS environment whose session service
	// (Env.Endpoints().SessionService, on GAS) is asked, and whose trust
	// anchors verify its TLS certificate.
	Env Environment
	// HTTPClient sends the requests. Nil means Env.NewHTTPClient(Timeout):
	// TLS verified against Env.Roots only, no redirects. A client given
	// here must do its own verification.
	HTTPClient *http.Client
	// Timeout bounds each request (DefaultTimeout if zero); it is applied
	// as a context deadline even with a caller's HTTPClient.
	Timeout time.Duration
	// MaxResponse bounds the answer read (MaxSessionResponseSize if zero
	// or larger).
	MaxResponse int64
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Logger receives debug records, never the ticket (nil discards them).
	Logger *slog.Logger
	// UserAgent is sent with each request (DefaultSessionServiceUserAgent
	// if empty).
	UserAgent string
}

// SessionServiceClient talks to the OpenSSO session service of a CIS
// environment: it checks whether an SSO session is still valid and keeps
// it alive (GetSession with reset, which also restarts the session's idle
// timer), without an SSB RoleAssertion round trip. It is safe for
// concurrent use.
type SessionServiceClient struct {
	serviceClient
}

// NewSessionServiceClient checks cfg and returns a client.
func NewSessionServiceClient(cfg SessionServiceConfig) (*SessionServiceClient, error) {
	if err := cfg.Env.Check(); err != nil {
		return nil, fmt.Errorf("cis: session service client: %w", err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("cis: session service client: negative timeout %s", cfg.Timeout)
	}
	return &SessionServiceClient{newServiceClient(cfg.Env, cfg.HTTPClient, cfg.Env.Endpoints().SessionService, cfg.Timeout,
		cfg.MaxResponse, MaxSessionResponseSize, cfg.Now, cfg.Logger, cfg.UserAgent, DefaultSessionServiceUserAgent)}, nil
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

const sessionServiceOp = "session service"

// GetSession asks the session service about t's session. With reset it
// also restarts the session's idle timer: this is how a workstation keeps
// a session alive while the card is in. A session that is unknown,
// expired or logged out is ErrSessionInvalid; other errors wrap
// ErrMalformed, ErrTooLarge, ErrTimeout, ErrTrust, ErrUnavailable or
// ErrMaintenance. The answer must be about t (the service echoes it); no
// error or log line contains the ticket.
func (c *SessionServiceClient) GetSession(ctx context.Context, t Ticket, reset bool) (*SessionInfo, error) {
	if t.IsZero() {
		return nil, fmt.Errorf("cis: %s: empty ticket: %w", sessionServiceOp, ErrSessionInvalid)
	}
	body, err := c.post(ctx, getSessionRequest(t, reset))
	if err != nil {
		return nil, err
	}
	info, sid, err := parseGetSessionResponse(body)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "session service refused", slog.String("error", err.Error()))
		return nil, err
	}
	if sid != t.Reveal() {
		return nil, fmt.Errorf("cis: %s: the answer is not about the ticket asked for: %w", sessionServiceOp, ErrMalformed)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "session service: session valid", slog.String("uid", info.UID),
		slog.Bool("reset", reset), slog.Duration("time_left", info.TimeLeft))
	return info, nil
}

// getSessionRequest is the RequestSet of one GetSession for t. The ticket
// is XML-escaped inside the CDATA section (which cannot itself be
// escaped): an OpenSSO ticket holds no characters that need it, but
// nothing from outside is written unescaped.
func getSessionRequest(t Ticket, reset bool) []byte {
	var sid bytes.Buffer
	escapeXML(&sid, t.Reveal(), false)
	inner := `<SessionRequest vers="1.0" reqid="0"><GetSession reset="` + strconv.FormatBool(reset) + `"><SessionID>` +
		strings.ReplaceAll(sid.String(), "]]>", "]]&gt;") + `</SessionID></GetSession></SessionRequest>`
	return []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[` + inner + `]]></Request></RequestSet>`)
}

// post sends one RequestSet and returns the body of a 2xx answer. Neither
// the request body (it carries the ticket) nor the answer appears in an
// error.
func (c *SessionServiceClient) post(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("cis: %s: cannot build the request: %w", sessionServiceOp, ErrUnavailable)
	}
	req.Header.Set("Content-Type", "text/xml;charset=UTF-8")
	return c.do(req, sessionServiceOp)
}

const sessionResponseWhat = "session service answer"

// parseGetSessionResponse reads the session service's answer to one
// GetSession: a ResponseSet (svcid session) with one Response whose
// document is a SessionResponse holding one GetSession, which holds either
// a Session (valid: its details and its sid) or an Exception
// (ErrSessionInvalid; its text, which names the ticket, is not kept).
func parseGetSessionResponse(data []byte) (*SessionInfo, string, error) {
	if len(data) > MaxSessionResponseSize {
		return nil, "", &ParseError{What: sessionResponseWhat, Offset: -1,
			Msg: fmt.Sprintf("larger than %d bytes", MaxSessionResponseSize), Err: ErrTooLarge}
	}
	inner, err := parseResponseSet(sessionResponseWhat, data, "session")
	if err != nil {
		return nil, "", err
	}
	if len(inner) != 1 {
		return nil, "", ssoError(sessionResponseWhat, -1, "%d responses to one request", len(inner))
	}
	op, err := parseSessionResponse(inner[0], "GetSession")
	if err != nil {
		return nil, "", err
	}
	if len(op.children) != 1 {
		return nil, "", ssoError(sessionResponseWhat, -1, "GetSession must hold one Session or Exception")
	}
	s := op.children[0]
	switch s.name {
	case "Exception":
		if len(s.children) != 0 {
			return nil, "", ssoError(sessionResponseWhat, -1, "Exception holds elements")
		}
		return nil, "", fmt.Errorf("cis: %s: the service does not know the session: %w", sessionServiceOp, ErrSessionInvalid)
	case "Session":
		return sessionInfo(s)
	}
	return nil, "", ssoError(sessionResponseWhat, -1, "<%s> in GetSession, want Session or Exception", s.name)
}

// parseSessionResponse reads the document inside one Response: a
// SessionResponse (vers 1.0) holding exactly one element called op, which
// it returns.
func parseSessionResponse(doc []byte, op string) (*ssoNode, error) {
	root, err := parseSSOTree(sessionResponseWhat, doc)
	if err != nil {
		return nil, err
	}
	if root.name != "SessionResponse" {
		return nil, ssoError(sessionResponseWhat, -1, "inner root is <%s>, want <SessionResponse>", root.name)
	}
	if v, _ := root.attr("vers"); v != "1.0" {
		return nil, ssoError(sessionResponseWhat, -1, "SessionResponse vers %q, want 1.0", v)
	}
	return root.only(sessionResponseWhat, op)
}

// maxSessionSeconds bounds the times a Session may state (ten years), so
// conversions cannot overflow.
const maxSessionSeconds = 10 * 366 * 24 * 3600

// sessionInfo reads a valid Session element.
func sessionInfo(s *ssoNode) (*SessionInfo, string, error) {
	bad := func(format string, args ...any) (*SessionInfo, string, error) {
		return nil, "", ssoError(sessionResponseWhat, -1, "Session: "+format, args...)
	}
	sid, ok := s.attr("sid")
	if !ok || sid == "" {
		return bad("no sid")
	}
	if st, _ := s.attr("state"); st != "valid" {
		// Inactive, invalid or destroyed: not a live session.
		return nil, "", fmt.Errorf("cis: %s: session state %q: %w", sessionServiceOp, truncate(st, 16), ErrSessionInvalid)
	}
	var info SessionInfo
	for _, f := range []struct {
		attr string
		unit time.Duration
		dst  *time.Duration
	}{
		{"timeleft", time.Second, &info.TimeLeft},
		{"timeidle", time.Second, &info.TimeIdle},
		{"maxtime", time.Minute, &info.MaxTime},
		{"maxidle", time.Minute, &info.MaxIdle},
	} {
		v, ok := s.attr(f.attr)
		if !ok {
			return bad("no %s", f.attr)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n*int64(f.unit/time.Second) > maxSessionSeconds || strings.TrimSpace(v) != v {
			return bad("%s %q is not a whole number of a sensible size", f.attr, truncate(v, 16))
		}
		*f.dst = time.Duration(n) * f.unit
	}
	seen := map[string]bool{}
	for _, p := range s.children {
		if p.name != "Property" || len(p.children) != 0 || len(bytes.TrimSpace(p.text)) != 0 {
			return bad("<%s> where only empty Property elements belong", p.name)
		}
		name, ok1 := p.attr("name")
		value, ok2 := p.attr("value")
		if !ok1 || !ok2 {
			return bad("Property without name or value")
		}
		if seen[name] {
			return bad("property %q repeated", truncate(name, 32))
		}
		seen[name] = true
		switch name {
		case "UserId":
			info.UID = value
		case "ssbSessionRoleUid":
			info.SelectedRoleID = value
		}
	}
	if info.UID == "" {
		return bad("no UserId property")
	}
	return &info, sid, nil
}

// truncate cuts s to at most n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
