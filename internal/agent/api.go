package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis"
)

// The Ticket API, the Identity Agent's calls (see docs/agent.md):
//
//	GET  /ticket            the ticket, starting a login if there is none
//	GET  /ticket?noauth=1   the ticket only if a session exists (404 if not)
//	POST /ticket/new        log out and log in afresh
//	GET  /status            card, user, roles, selected role, mode
//	GET  /events            server-sent events (inserted, authenticated, …)
//	POST /role              {"role_id": "…"}: switch role through GAS
//	POST /logout            end the session
//
// Answers are JSON; errors are {"error": "…"} in plain words.

// maxRequestBody caps what the API reads of a request.
const maxRequestBody = 4 << 10

// sseHeartbeat is how often an idle event stream gets a comment, so that
// proxies and clients see it alive.
const sseHeartbeat = 15 * time.Second

// ticketJSON is the answer of GET /ticket: the one place, with the
// one-shot login, where the ticket leaves the agent.
type ticketJSON struct {
	Ticket         string `json:"ticket"`
	UID            string `json:"uid"`
	Name           string `json:"name"`
	SelectedRoleID string `json:"selected_role_id"`
}

type api struct {
	a    *Agent
	wait time.Duration
	log  *slog.Logger
}

// routes returns the API's handlers (without the access guard).
func (h *api) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ticket", h.ticket)
	mux.HandleFunc("POST /ticket/new", h.newTicket)
	mux.HandleFunc("GET /status", h.status)
	mux.HandleFunc("GET /events", h.events)
	mux.HandleFunc("POST /role", h.role)
	mux.HandleFunc("POST /logout", h.logout)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err in plain words with its status.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae *accessError
	if errors.As(err, &ae) {
		status = ae.status
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (h *api) ticket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("noauth") == "1" {
		ti, err := h.a.Ticket(r.Context(), false)
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no session", "state": string(h.a.Status().State)})
			return
		}
		h.give(w, r, ti)
		return
	}
	h.waitTicket(w, r, func(ctx context.Context) (TicketInfo, error) { return h.a.Ticket(ctx, true) })
}

func (h *api) newTicket(w http.ResponseWriter, r *http.Request) {
	h.waitTicket(w, r, h.a.NewTicket)
}

// waitTicket waits, at most h.wait, for get's ticket.
func (h *api) waitTicket(w http.ResponseWriter, r *http.Request, get func(context.Context) (TicketInfo, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), h.wait)
	defer cancel()
	ti, err := get(ctx)
	switch {
	case err == nil:
		h.give(w, r, ti)
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		st := h.a.Status()
		writeJSON(w, http.StatusGatewayTimeout, map[string]string{
			"error": fmt.Sprintf("no login within %s: %s", h.wait, st.Message), "state": string(st.State)})
	case r.Context().Err() != nil:
		return // the caller went away
	default:
		cause := err
		var lf *loginFailed
		if errors.As(err, &lf) {
			cause = lf.cause
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{
			"error": h.a.describe(cause), "state": string(h.a.Status().State)})
	}
}

// give sends the ticket to the caller and notes who got it (never the
// ticket itself).
func (h *api) give(w http.ResponseWriter, r *http.Request, ti TicketInfo) {
	c := callerOf(r.Context())
	h.log.Info("ticket given", "to", c.who, "uid", ti.UID)
	writeJSON(w, http.StatusOK, ticketJSON{Ticket: ti.Ticket.Reveal(), UID: ti.UID, Name: ti.Name, SelectedRoleID: ti.SelectedRoleID})
}

func (h *api) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.a.Status())
}

// events streams the agent's events as server-sent events: first the
// status, then each event as it happens ("event: <kind>", "data: <JSON>").
func (h *api) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errors.New("streaming not supported"))
		return
	}
	ch, stop := h.a.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	writeSSE(w, "status", h.a.Status())
	fl.Flush()
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return // fell behind: the client reconnects and reads the status again
			}
			writeSSE(w, string(ev.Kind), ev)
		case <-beat.C:
			io.WriteString(w, ": alive\n\n")
		case <-r.Context().Done():
			return
		}
		fl.Flush()
	}
}

func writeSSE(w io.Writer, event string, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
}

// roleRequest is the body of POST /role.
type roleRequest struct {
	RoleID string `json:"role_id"`
}

func (h *api) role(w http.ResponseWriter, r *http.Request) {
	id, err := readRoleID(w, r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	err = h.a.SelectRole(r.Context(), id)
	switch {
	case err == nil:
		h.log.Info("role switched", "by", callerOf(r.Context()).who, "role", id)
		writeJSON(w, http.StatusOK, h.a.Status())
	case errors.Is(err, ErrNoSession):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "no session"})
	case errors.Is(err, cis.ErrUnknownRole):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": h.a.describe(err)})
	default:
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": h.a.describe(err)})
	}
}

// readRoleID reads the role id of a JSON ({"role_id": …}) or form body.
func readRoleID(w http.ResponseWriter, r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var req roleRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return "", errors.New("want a JSON body {\"role_id\": \"…\"}")
		}
		return req.RoleID, nil
	}
	if err := r.ParseForm(); err != nil {
		return "", errors.New("unreadable form body")
	}
	if id := r.PostForm.Get("role_id"); id != "" {
		return id, nil
	}
	return "", errors.New("no role_id given")
}

func (h *api) logout(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r.Context())
	h.a.Logout("Logged out (asked by " + c.who + ")")
	writeJSON(w, http.StatusOK, h.a.Status())
}
