package middleware_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/sessions"

	"github.com/opencis/cisauth/middleware"
)

// SessionStore keeps an application's values with the CIS session, on
// the server, and ends the session when asked.
func TestSessionStore(t *testing.T) {
	f := newFixture(t)
	store := f.m.SessionStore()
	name := f.m.CookieName()
	var got any
	var gotErr error
	h := f.m.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, name)
		if err != nil {
			gotErr = err
			return
		}
		switch r.URL.Path {
		case "/set":
			s.Values["ward"] = "7B"
			s.Values[42] = []string{"a", "b"}
			gotErr = s.Save(r, w)
		case "/get":
			got = s.Values["ward"]
		case "/end":
			s.Options.MaxAge = -1
			gotErr = sessions.Save(r, w)
		case "/other":
			_, gotErr = store.Get(r, "another")
		case "/big":
			s.Values["big"] = strings.Repeat("x", 70<<10)
			gotErr = s.Save(r, w)
		}
	}))
	// Without a session: a new empty session whose Save fails.
	serve(h, http.MethodGet, "/set", nil)
	if !errors.Is(gotErr, middleware.ErrNoSession) {
		t.Errorf("Save without a session = %v, want ErrNoSession", gotErr)
	}
	c := loginTo(t, h, name, f.srv.MustLogin(t, alice, aliceRole))
	resp := serve(h, http.MethodGet, "/set", nil, withCookie(c))
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("Save wrote a cookie %v: values stay on the server", resp.Header["Set-Cookie"])
	}
	serve(h, http.MethodGet, "/get", nil, withCookie(c))
	if got != "7B" {
		t.Errorf("value read back = %v", got)
	}
	serve(h, http.MethodGet, "/big", nil, withCookie(c))
	if gotErr == nil {
		t.Error("70 KiB of values were accepted")
	}
	serve(h, http.MethodGet, "/other", nil, withCookie(c))
	if !errors.Is(gotErr, middleware.ErrOtherSession) {
		t.Errorf("Get(another name) = %v", gotErr)
	}
	resp = serve(h, http.MethodGet, "/end", nil, withCookie(c))
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	if cc := cookieNamed(resp, name); cc == nil || cc.MaxAge >= 0 {
		t.Error("ending the session did not clear the cookie")
	}
	if resp := f.do(http.MethodGet, "/whoami", nil, withCookie(c)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after MaxAge -1 and Save: %d", resp.StatusCode)
	}
}
