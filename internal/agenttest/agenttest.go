// Package agenttest is a fake of the workstation agent's local Ticket API
// (cis-agent) as a web page sees it, for browser tests of pages that ask
// the agent for the SSO ticket: GET /ticket from an allowed browser origin
// (CORS) answers the ticket the test gave it, as JSON {"ticket": …, "uid",
// "name", "selected_role_id"} like the real agent, or as plain text.
//
// Like the real agent it listens on loopback only, refuses Host values
// that are not loopback (DNS rebinding), refuses origins not on its list
// without CORS headers (so the page cannot read the answer), answers
// preflights, and answers 404 {"error": "no session"} when it holds no
// ticket. It does not authenticate local processes, ask the person, or
// talk to a card: the test puts the ticket in with SetTicket (a ticket
// from cis/cistest's simulator, so that the login behind it is real).
//
// It is for tests only.
package agenttest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/opencis/cisauth/cis"
)

// Config configures a fake agent.
type Config struct {
	// Origins are the browser origins ("http://127.0.0.1:8080") allowed to
	// read the ticket.
	Origins []string
	// PlainText answers GET /ticket with the bare ticket as text/plain
	// instead of JSON (older agents and other implementations do).
	PlainText bool
}

// Agent is a running fake agent. Its methods are safe for concurrent use.
type Agent struct {
	// URL is the agent's base URL (http://127.0.0.1:port); the page asks
	// URL + "/ticket".
	URL string

	cfg Config
	srv *httptest.Server

	mu      sync.Mutex
	session *Session
	given   int
	refused int
}

// Session is what the agent holds after a card login.
type Session struct {
	Ticket         cis.Ticket
	UID, Name      string
	SelectedRoleID string
}

// New starts a fake agent on a loopback port, closed when the test ends.
func New(t testing.TB, cfg Config) *Agent {
	t.Helper()
	a := &Agent{cfg: Config{Origins: slices.Clone(cfg.Origins), PlainText: cfg.PlainText}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	a.URL = a.srv.URL
	t.Cleanup(a.srv.Close)
	return a
}

// SetTicket makes the agent hold a session, as after a card login.
func (a *Agent) SetTicket(s Session) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.session = &s
}

// ClearTicket makes the agent hold no session, as after the card was
// pulled.
func (a *Agent) ClearTicket() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.session = nil
}

// Given returns how many times the agent handed the ticket out.
func (a *Agent) Given() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.given
}

// Refused returns how many requests the agent refused (bad Host, origin
// not allowed, no Origin at all).
func (a *Agent) Refused() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused
}

func (a *Agent) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil || !cis.IsLoopbackHost(host) {
		a.refuse(w, http.StatusForbidden, "refused: not a loopback host name")
		return
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		// The real agent lets local programs in by peer credentials or its
		// secret file; this fake serves web pages only.
		a.refuse(w, http.StatusUnauthorized, "refused: this fake agent serves web pages only")
		return
	}
	if !slices.Contains(a.cfg.Origins, origin) {
		a.refuse(w, http.StatusForbidden, "refused: origin not allowed")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET")
		h.Set("Access-Control-Max-Age", "600")
		if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
			h.Set("Access-Control-Allow-Private-Network", "true")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.URL.Path != "/ticket" || r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
		return
	}
	a.mu.Lock()
	s := a.session
	if s != nil {
		a.given++
	}
	a.mu.Unlock()
	if s == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no session", "state": "no_card"})
		return
	}
	if a.cfg.PlainText {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(s.Ticket.Reveal() + "\n"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"ticket": s.Ticket.Reveal(), "uid": s.UID, "name": s.Name, "selected_role_id": s.SelectedRoleID,
	})
}

func (a *Agent) refuse(w http.ResponseWriter, status int, msg string) {
	a.mu.Lock()
	a.refused++
	a.mu.Unlock()
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
