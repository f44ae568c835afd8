package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The loopback web page: the agent's face for desktop use. The person
// opens it through a one-time link (printed by cis-agent run, or made by
// cis-agent ui), which sets a session cookie (HttpOnly, SameSite=Strict);
// the page shows the agent's messages and asks its questions — the PIN
// with the tries left and the final-try confirmation, the role, whether a
// web page may use the login. Its POSTs must be same-origin
// (http.CrossOriginProtection) and JSON; the page may not be framed.

//go:embed webui/index.html webui/app.js webui/style.css
var webuiFiles embed.FS

// Lifetimes of the page's one-time link codes and of the wait of a
// long-poll.
const (
	uiCodeLife = 10 * time.Minute
	uiLongPoll = 25 * time.Second
	uiCookie   = "cis_agent_ui"
)

type webUI struct {
	a    *Agent
	csrf *http.CrossOriginProtection
	wait time.Duration // how long a login started from the page may take

	mu       sync.Mutex
	codes    map[string]time.Time // one-time link codes → expiry
	sessions map[string]bool      // cookie values
}

func newWebUI(a *Agent, wait time.Duration) *webUI {
	return &webUI{a: a, csrf: http.NewCrossOriginProtection(), wait: wait,
		codes: map[string]time.Time{}, sessions: map[string]bool{}}
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newCode returns a fresh one-time link code.
func (u *webUI) newCode() string {
	c := randomToken()
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, exp := range u.codes {
		if now.After(exp) {
			delete(u.codes, k)
		}
	}
	u.codes[c] = now.Add(uiCodeLife)
	return c
}

// routes adds the page's handlers; guard checks the connection (peer and
// Host) first.
func (u *webUI) routes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	mux.Handle("GET /ui/login", guard(http.HandlerFunc(u.login)))
	for _, name := range []string{"app.js", "style.css"} {
		mux.Handle("GET /ui/"+name, guard(u.session(u.asset(name))))
	}
	mux.Handle("GET /ui/{$}", guard(u.session(u.asset("index.html"))))
	mux.Handle("GET /ui/state", guard(u.session(http.HandlerFunc(u.state))))
	post := func(h http.HandlerFunc) http.Handler { return guard(u.csrf.Handler(u.session(jsonOnly(h)))) }
	mux.Handle("POST /ui/answer", post(u.answer))
	mux.Handle("POST /ui/login", post(u.startLogin))
	mux.Handle("POST /ui/logout", post(u.logout))
	mux.Handle("POST /ui/role", post(u.role))
}

// pageHeaders keep the page to itself: no framing, no outside script,
// style or connection.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// login trades a one-time code for the session cookie.
func (u *webUI) login(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	u.mu.Lock()
	exp, ok := u.codes[code]
	delete(u.codes, code)
	var session string
	if ok && time.Now().Before(exp) {
		session = randomToken()
		u.sessions[session] = true
	}
	u.mu.Unlock()
	pageHeaders(w)
	if session == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "This link has been used or has expired. Run `cis-agent ui` for a new one.\n")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: uiCookie, Value: session, Path: "/ui/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// session lets in requests with a page session cookie.
func (u *webUI) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(uiCookie)
		ok := false
		if err == nil {
			u.mu.Lock()
			for s := range u.sessions {
				if subtle.ConstantTimeCompare([]byte(s), []byte(c.Value)) == 1 {
					ok = true
				}
			}
			u.mu.Unlock()
		}
		if !ok {
			writeError(w, &accessError{http.StatusUnauthorized, "open the link cis-agent printed, or run cis-agent ui"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonOnly refuses a POST whose body is not JSON (a form cannot send it
// cross-site without a preflight).
func jsonOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeError(w, &accessError{http.StatusUnsupportedMediaType, "want a JSON body"})
			return
		}
		next(w, r)
	}
}

func (u *webUI) asset(name string) http.Handler {
	types := map[string]string{"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
		"style.css": "text/css; charset=utf-8"}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b, err := webuiFiles.ReadFile("webui/" + name)
		if err != nil {
			writeError(w, err)
			return
		}
		pageHeaders(w)
		w.Header().Set("Content-Type", types[name])
		w.Write(b)
	})
}

// state returns the status; with ?wait=V it first waits (a long-poll,
// at most uiLongPoll) until the status is no longer at version V.
func (u *webUI) state(w http.ResponseWriter, r *http.Request) {
	if v, err := strconv.ParseUint(r.URL.Query().Get("wait"), 10, 64); err == nil {
		t := time.NewTimer(uiLongPoll)
		defer t.Stop()
		for {
			ac, pc := u.a.Changed(), u.a.Prompts().Changed()
			if u.a.Status().Version != v {
				break
			}
			select {
			case <-ac:
				continue
			case <-pc:
				continue
			case <-t.C:
			case <-r.Context().Done():
				return
			}
			break
		}
	}
	writeJSON(w, http.StatusOK, u.a.Status())
}

// answerRequest is the body of POST /ui/answer; the PIN stays raw JSON so
// that it is never a Go string (which could not be cleared).
type answerRequest struct {
	ID              uint64          `json:"id"`
	PIN             json.RawMessage `json:"pin"`
	ConfirmFinalTry bool            `json:"confirm_final_try"`
	RoleID          string          `json:"role_id"`
	Allow           bool            `json:"allow"`
	Cancel          bool            `json:"cancel"`
}

// errBadPIN: a PIN field that is not a short JSON string of printable
// ASCII.
var errBadPIN = errors.New("the PIN must be a JSON string of digits and letters")

// pinFromJSON copies the PIN out of its JSON string into a new slice.
func pinFromJSON(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) < 2 || len(raw) > 66 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, errBadPIN
	}
	pin := make([]byte, 0, len(raw)-2)
	for _, c := range raw[1 : len(raw)-1] {
		if c < 0x21 || c > 0x7E || c == '\\' || c == '"' {
			clear(pin)
			return nil, errBadPIN
		}
		pin = append(pin, c)
	}
	return pin, nil
}

func (u *webUI) answer(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	defer clear(body)
	var req answerRequest
	if err == nil {
		err = json.NewDecoder(bytes.NewReader(body)).Decode(&req)
	}
	defer clear(req.PIN)
	if err != nil {
		writeError(w, &accessError{http.StatusBadRequest, "want a JSON answer"})
		return
	}
	pin, err := pinFromJSON(req.PIN)
	if err != nil {
		writeError(w, &accessError{http.StatusBadRequest, err.Error()})
		return
	}
	err = u.a.Prompts().Answer(req.ID, Answer{PIN: pin, ConfirmFinalTry: req.ConfirmFinalTry, RoleID: req.RoleID,
		Allow: req.Allow, Cancel: req.Cancel})
	if err != nil {
		writeError(w, &accessError{http.StatusConflict, "that question is no longer asked"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// startLogin starts a login with the card in (as GET /ticket would) and
// answers at once; the page follows it through the state.
func (u *webUI) startLogin(w http.ResponseWriter, _ *http.Request) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), u.wait)
		defer cancel()
		_, _ = u.a.Ticket(ctx, true)
	}()
	writeJSON(w, http.StatusAccepted, map[string]bool{"ok": true})
}

func (u *webUI) logout(w http.ResponseWriter, _ *http.Request) {
	u.a.Logout("Logged out on the agent's page")
	writeJSON(w, http.StatusOK, u.a.Status())
}

func (u *webUI) role(w http.ResponseWriter, r *http.Request) {
	id, err := readRoleID(w, r)
	if err == nil {
		err = u.a.SelectRole(r.Context(), id)
	}
	if err != nil {
		writeError(w, &accessError{http.StatusBadRequest, u.a.describe(err)})
		return
	}
	writeJSON(w, http.StatusOK, u.a.Status())
}
