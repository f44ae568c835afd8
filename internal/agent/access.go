package agent

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// The Ticket API hands out a bearer credential on a machine other people's
// processes and every web page can reach through loopback. Who may call it
// (security.md, point 10):
//
//   - Every connection must come from the desktop user's own processes: the
//     unix socket's peer credentials (SO_PEERCRED, LOCAL_PEERCRED) name the
//     user; on Linux the owner of a loopback TCP peer is found in
//     /proc/net/tcp{,6}. A connection from another user, or one whose owner
//     cannot be told where it should be, is refused.
//   - The TCP listener answers only Host values that name loopback and its
//     own port (a DNS-rebinding page sends its own host name).
//   - A request with an Origin header is a web page's: only configured
//     origins are let in (CORS, never "*"), and the person is asked, once
//     per origin and run, before a new origin gets anything.
//   - Any other request must carry the per-user secret (Authorization:
//     Bearer, from the 0600 secret file), which a web page cannot read.
//     Over the unix socket the peer credentials are enough.

// caller is who made an API request, once let in.
type caller struct {
	origin string // the web origin, for a page
	who    string // for logs and questions
}

type callerKey struct{}

// accessError is a refusal with its HTTP status.
type accessError struct {
	status int
	msg    string
}

func (e *accessError) Error() string { return e.msg }

// access decides who may use the Ticket API.
type access struct {
	uid     int             // the desktop user
	secret  []byte          // the per-user secret ("" for no TCP listener)
	origins map[string]bool // allowed web origins
	hosts   map[string]bool // Host values of the TCP listener
	prompts *Prompts

	mu       sync.Mutex
	decided  map[string]bool          // origin → allowed (this run)
	deciding map[string]chan struct{} // origin → closed when the person answered
}

// normalizeOrigin returns scheme://host[:port] of an origin, lower case,
// default ports dropped; ok false for anything that is not an http(s)
// origin.
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, true
}

// loopbackHosts returns the Host values that name the listener at addr.
func loopbackHosts(addr net.Addr) map[string]bool {
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return map[string]bool{}
	}
	return map[string]bool{"127.0.0.1:" + port: true, "localhost:" + port: true, "[::1]:" + port: true}
}

// checkConn refuses a connection that is not the desktop user's.
func (ac *access) checkConn(p peer) error {
	switch {
	case p.uid >= 0 && p.uid != ac.uid:
		return &accessError{http.StatusForbidden, fmt.Sprintf("refused: the caller runs as uid %d, not as the desktop user", p.uid)}
	case p.uid < 0 && (p.unix || tcpPeerKnown):
		return &accessError{http.StatusForbidden, "refused: the caller's user cannot be told: " + errText(p.err)}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return "unknown"
	}
	return err.Error()
}

// checkHost refuses a TCP request whose Host is not this listener's
// loopback name (DNS rebinding).
func (ac *access) checkHost(r *http.Request, p peer) error {
	if p.unix || ac.hosts[strings.ToLower(r.Host)] {
		return nil
	}
	return &accessError{http.StatusForbidden, "refused: Host " + truncate(r.Host, 64) + " is not this agent's loopback address"}
}

// truncate cuts s for a message.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkBearer reports whether r carries the per-user secret.
func (ac *access) checkBearer(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && len(ac.secret) > 0 && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), ac.secret) == 1
}

// allowedOrigin returns the normalised origin of a web page's request when
// it is on the list.
func (ac *access) allowedOrigin(r *http.Request) (string, bool) {
	o, ok := normalizeOrigin(r.Header.Get("Origin"))
	return o, ok && ac.origins[o]
}

// approve asks the person, once per origin and run, whether origin may use
// the login; what says what it asked for. Concurrent requests of one
// origin wait for the one question.
func (ac *access) approve(ctx context.Context, origin, what string) error {
	for {
		ac.mu.Lock()
		if allowed, ok := ac.decided[origin]; ok {
			ac.mu.Unlock()
			if !allowed {
				return &accessError{http.StatusForbidden, "refused: the person did not allow " + origin}
			}
			return nil
		}
		if ch, ok := ac.deciding[origin]; ok {
			ac.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		ac.deciding[origin] = ch
		ac.mu.Unlock()
		ans, err := ac.prompts.Ask(ctx, Question{Kind: AskOrigin, Origin: origin, TriesLeft: -1,
			Text: "The web page " + origin + " asks for your smartcard login (" + what + "). Allow it?"})
		ac.mu.Lock()
		delete(ac.deciding, origin)
		close(ch)
		if err == nil || errors.Is(err, ErrCancelled) {
			ac.decided[origin] = err == nil && ans.Allow
		}
		ac.mu.Unlock()
		if err != nil && !errors.Is(err, ErrCancelled) {
			return err
		}
	}
}

// checkRequest refuses (and answers) a request that is not the desktop
// user's or not addressed to this listener's loopback name.
func (ac *access) checkRequest(w http.ResponseWriter, r *http.Request) (peer, bool) {
	p := peerOf(r.Context())
	err := ac.checkConn(p)
	if err == nil {
		err = ac.checkHost(r, p)
	}
	if err != nil {
		writeError(w, err)
		return p, false
	}
	return p, true
}

// setCORS writes the CORS headers for an allowed origin.
func setCORS(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
}

// guard lets a request through to next only as the rules above say; for a
// web page it also answers the CORS preflight.
func (ac *access) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := ac.checkRequest(w, r)
		if !ok {
			return
		}
		c := caller{who: p.describe()}
		if r.Header.Get("Origin") != "" {
			origin, ok := ac.allowedOrigin(r)
			if !ok {
				writeError(w, &accessError{http.StatusForbidden, "refused: origin not allowed"})
				return
			}
			setCORS(w, origin)
			if r.Method == http.MethodOptions {
				preflight(w, r)
				return
			}
			if err := ac.approve(r.Context(), origin, r.Method+" "+r.URL.Path); err != nil {
				writeError(w, err)
				return
			}
			c = caller{origin: origin, who: "the web page " + origin}
		} else if !p.unix && !ac.checkBearer(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cis-agent"`)
			writeError(w, &accessError{http.StatusUnauthorized, "refused: send the secret of the agent's secret file as Authorization: Bearer"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

// preflight answers a CORS preflight from an allowed origin, Private
// Network Access included (a public page asking for loopback).
func preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// callerOf returns the caller guard let in.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}
