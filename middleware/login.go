package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencis/cisauth/cis"
)

// TicketHeader carries the ticket of a thick client's login.
const TicketHeader = "X-CIS-Ticket"

// maxBody bounds the body of a login, refresh or logout request: room for
// a form with a ticket and a return path of MaxReturnLen bytes, every one
// of them percent-escaped.
const maxBody = 4 * MaxReturnLen

// postRequest is what a client sent to one of the POST endpoints.
type postRequest struct {
	ticket    string // login only
	hasTicket bool
	ret       string // the form's "return" field
	form      bool   // a browser form post: answer with a redirect
}

// login answers POST LoginPath: the ticket from the X-CIS-Ticket header,
// the form field "ticket" or a JSON body {"ticket": …}, never the URL.
func (m *Middleware) login(w http.ResponseWriter, r *http.Request) {
	status := m.loginStatus(w, r)
	m.metrics.login(SourceSSB, loginOutcome(status))
}

func (m *Middleware) loginStatus(w http.ResponseWriter, r *http.Request) int {
	req, p := m.readPost(w, r, true)
	if p != nil {
		writeProblem(w, r, m.now(), *p)
		return p.Status
	}
	if !req.hasTicket {
		return m.badRequest(w, r, "The login carries no ticket: send it in the X-CIS-Ticket header, the form field \"ticket\" or a JSON body {\"ticket\": …}.")
	}
	if m.val.v == nil {
		writeProblem(w, r, m.now(), problem{Status: http.StatusNotFound, Code: "not_enabled",
			Message: "Logging in with a smartcard ticket is not enabled on this service. Log in with NHS CIS2 instead.",
			Login:   m.loginLink("/")})
		return http.StatusNotFound
	}
	t, err := cis.ParseTicket(req.ticket)
	if err != nil {
		m.log.LogAttrs(r.Context(), slog.LevelInfo, "login refused: not a ticket", slog.String("error", err.Error()))
		return m.badRequest(w, r, "The ticket is not shaped like an NHS CIS SSO ticket.")
	}
	ctx := r.Context()
	th := hashTicket(t)
	id, err := m.ssb.identify(ctx, t, th, false)
	if err != nil {
		status, _ := statusOf(err)
		if status == http.StatusUnauthorized {
			m.log.LogAttrs(ctx, slog.LevelInfo, "login refused: SSO session invalid", slog.String("ticket", th.short()))
			w.Header().Set("WWW-Authenticate", `CIS-Ticket realm="NHS CIS"`)
			writeProblem(w, r, m.now(), problem{Status: status, Code: "ticket_refused",
				Message: "The NHS identity service does not know this ticket: the smartcard session has ended. Log in with your smartcard again.",
				Login:   m.loginLink("/")})
			return status
		}
		m.fail(w, r, err)
		return status
	}
	if err := m.replaceCurrent(w, r); err != nil {
		m.fail(w, r, err)
		return http.StatusServiceUnavailable
	}
	st, err := m.start(ctx, w, SourceSSB, t, th, id)
	if err != nil {
		m.fail(w, r, err)
		status, _ := statusOf(err)
		return status
	}
	m.listen(t, th)
	m.log.LogAttrs(ctx, slog.LevelInfo, "login", slog.String("uid", st.rec.user.UID),
		slog.String("role", st.rec.roleID), slog.String("org", st.pub.Role.OrgCode), slog.String("ticket", th.short()))
	return m.answerSession(w, r, req, st)
}

// replaceCurrent ends the session the request's browser already has, if
// any: a login replaces it, so the session id always changes at login.
func (m *Middleware) replaceCurrent(w http.ResponseWriter, r *http.Request) error {
	if e, _ := m.current(w, r); e != nil {
		if old := e.st.Load(); old != nil {
			return m.end(r.Context(), "replaced", old.rec)
		}
	}
	return nil
}

// start creates a session for an identity and sets its cookie.
func (m *Middleware) start(ctx context.Context, w http.ResponseWriter, source string, t cis.Ticket, th ticketHash, id identity) (*state, error) {
	now := m.now()
	m.cache.sweep(now)
	sid, err := newSessionID()
	if err != nil {
		return nil, err
	}
	cookie, err := m.ck.encode(sid)
	if err != nil {
		return nil, err
	}
	rec := &record{
		id: sid, source: source, ticket: t, th: th, user: id.user, roleID: id.roleID, mode: id.mode,
		created: now, expires: now.Add(m.s.Cookie.MaxAge), validated: id.checked, grant: id.grant,
	}
	if err := m.be.create(ctx, rec, rec.expires.Sub(m.now())); err != nil {
		return nil, err
	}
	e := &entry{id: sid}
	st := newState(rec)
	e.st.Store(st)
	m.cache.add(cookie, e, m.cache.generation())
	m.ck.set(w, cookie)
	return st, nil
}

// answerSession answers a successful login or refresh: a redirect to the
// form's return path for a browser form, the session as JSON otherwise.
func (m *Middleware) answerSession(w http.ResponseWriter, r *http.Request, req postRequest, st *state) int {
	if req.form {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, safeReturn(req.ret), http.StatusSeeOther)
		return http.StatusSeeOther
	}
	writeJSON(w, http.StatusOK, viewOf(st))
	return http.StatusOK
}

func (m *Middleware) badRequest(w http.ResponseWriter, r *http.Request, msg string) int {
	writeProblem(w, r, m.now(), problem{Status: http.StatusBadRequest, Code: "bad_request", Message: msg})
	return http.StatusBadRequest
}

// readPost checks a POST to one of the endpoints — method, origin (CSRF),
// no ticket in the URL — and reads its body, capped at maxBody: a form
// (fields "ticket", "return") or JSON ({"ticket": …} for a login, {}
// otherwise). The X-CIS-Ticket header also carries a login's ticket.
func (m *Middleware) readPost(w http.ResponseWriter, r *http.Request, login bool) (postRequest, *problem) {
	var req postRequest
	if r.Method != http.MethodPost {
		return req, &problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "Use POST."}
	}
	if err := m.cop.Check(r); err != nil {
		m.log.LogAttrs(r.Context(), slog.LevelWarn, "cross-origin request refused", slog.String("path", r.URL.Path))
		return req, &problem{Status: http.StatusForbidden, Code: "cross_origin", Message: "This request came from another site and was refused."}
	}
	if queryHasTicket(r.URL.RawQuery) {
		// Never log the query: it holds a credential.
		m.log.LogAttrs(r.Context(), slog.LevelWarn, "request refused: ticket in the URL", slog.String("path", r.URL.Path))
		return req, &problem{Status: http.StatusBadRequest, Code: "ticket_in_url",
			Message: "A ticket must never be sent in a URL (it would be logged and leaked). Send it in the request body or the X-CIS-Ticket header."}
	}
	if hv := r.Header.Values(TicketHeader); len(hv) > 0 {
		if !login || len(hv) > 1 {
			return req, &problem{Status: http.StatusBadRequest, Code: "bad_request", Message: "One X-CIS-Ticket header, and only on login."}
		}
		req.ticket, req.hasTicket = hv[0], true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, &problem{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "The request body is too large."}
		}
		return req, &problem{Status: http.StatusBadRequest, Code: "bad_request", Message: "The request body could not be read."}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var ticket string
	var hasTicket bool
	switch {
	case ct == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil || len(vals["ticket"]) > 1 || len(vals["return"]) > 1 {
			return req, &problem{Status: http.StatusBadRequest, Code: "bad_request", Message: "The form could not be read."}
		}
		req.form = true
		req.ret = vals.Get("return")
		ticket, hasTicket = vals.Get("ticket"), vals.Has("ticket")
	case ct == "application/json":
		var in struct {
			Ticket *string `json:"ticket"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil || dec.More() {
			return req, &problem{Status: http.StatusBadRequest, Code: "bad_request", Message: "Send a JSON object {\"ticket\": \"…\"} (login) or {} and nothing else."}
		}
		if in.Ticket != nil {
			ticket, hasTicket = *in.Ticket, true
		}
	default:
		return req, &problem{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "Send a form (application/x-www-form-urlencoded) or JSON (application/json)."}
	}
	if hasTicket && !login {
		return req, &problem{Status: http.StatusBadRequest, Code: "bad_request", Message: "Only a login carries a ticket."}
	}
	if hasTicket && req.hasTicket {
		return req, &problem{Status: http.StatusBadRequest, Code: "bad_request", Message: "Send the ticket once: in the body or in the X-CIS-Ticket header."}
	}
	if hasTicket {
		req.ticket, req.hasTicket = ticket, true
	}
	return req, nil
}

// queryHasTicket reports whether a query string carries what looks like a
// ticket: a parameter named like one, or a value shaped like one. A query
// that does not parse counts as carrying one (refused, never logged).
func queryHasTicket(raw string) bool {
	if raw == "" {
		return false
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return true
	}
	for k, vs := range vals {
		switch strings.ToLower(k) {
		case "ticket", "token", "sso_ticket", "x-cis-ticket", "ssotoken":
			return true
		}
		for _, v := range vs {
			if strings.Contains(v, "AQIC") {
				return true
			}
		}
	}
	return false
}
