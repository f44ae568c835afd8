package middleware

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cis2"
)

// Fuzz targets for what the CIS2 flow reads from outside: the stored login
// in progress (read back from a shared Redis), and the login and callback
// requests (query and cookie) beyond what cis2.ParseCallback checks.

func seedCIS2Record() *record {
	rec := seedRecord()
	rec.source, rec.ticket, rec.roleID = SourceCIS2, "", ""
	rec.grant = &cis2Grant{subject: rec.user.UID, sid: "s1d", loginID: strings.Repeat("B", 43), acr: "AAL3_ANY",
		amr: []string{"N3_SMARTCARD"}, authTime: rec.created,
		tokens: cis2.Tokens{AccessToken: "at", RefreshToken: "rt", IDToken: "a.b.c", Expiry: rec.created.Add(10 * time.Minute)}}
	rec.th = rec.grant.index()
	return rec
}

func FuzzDecodePending(f *testing.F) {
	p := &pendingLogin{
		p:   cis2.Pending{State: "st", Nonce: "no", Verifier: "ve", Created: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)},
		ret: "/records?id=1", binding: sha256.Sum256([]byte("b")),
	}
	js, err := encodePending(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js)
	f.Add([]byte(`{"v":1,"state":"s","nonce":"n","verifier":"v","created":"2026-01-01T00:00:00Z","binding":"00","return":"//evil"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePending(b)
		if err != nil {
			return
		}
		if p.p.State == "" || p.p.Nonce == "" || p.p.Verifier == "" || safeReturn(p.ret) != p.ret {
			t.Fatalf("decodePending accepted an inconsistent login: %+v", p)
		}
		again, err := encodePending(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodePending(again)
		if err != nil {
			t.Fatalf("re-encoded login does not decode: %v", err)
		}
		if third, _ := encodePending(back); !bytes.Equal(third, again) {
			t.Fatalf("round trip changed the login:\n%s\n%s", again, third)
		}
	})
}

// refusingRP begins logins and refuses every code.
type refusingRP struct{ n int }

func (*refusingRP) RedirectURL() string { return "https://app.example/cis/oidc/callback" }

func (r *refusingRP) Begin(cis2.BeginOptions) (*cis2.AuthRequest, error) {
	id, err := newSessionID()
	if err != nil {
		return nil, err
	}
	return &cis2.AuthRequest{URL: "https://cis2.example/authorize?state=" + id,
		Pending: cis2.Pending{State: id, Nonce: "n", Verifier: "v", Created: time.Now()}}, nil
}

func (*refusingRP) Finish(_ context.Context, p *cis2.Pending, raw string) (*cis2.Login, error) {
	if _, err := cis2.ParseCallback(raw); err != nil {
		return nil, err
	}
	return nil, cis2.ErrGrant
}

func (*refusingRP) Revalidate(context.Context, *cis2.Login) (*cis2.Login, error) {
	return nil, cis.ErrSessionInvalid
}

func (*refusingRP) Logout(*cis2.Login, string) (*cis2.LogoutRequest, error) {
	return nil, cis2.ErrNoEndSession
}

func FuzzCIS2Endpoints(f *testing.F) {
	m, err := New(Config{CIS2: CIS2Config{RelyingParty: &refusingRP{}, MaxPendingLogins: 1000}})
	if err != nil {
		f.Fatal(err)
	}
	// A real login in progress, so that mutations reach the relying party.
	w := httptest.NewRecorder()
	m.Endpoints().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://app.example/cis/oidc/login?return=%2Fx", nil))
	loc, _ := url.Parse(w.Header().Get("Location"))
	state := loc.Query().Get("state")
	var bind string
	for _, c := range w.Result().Cookies() {
		bind = c.Name + "=" + c.Value
	}
	f.Add("/cis/oidc/callback", "code=c&state="+state, bind)
	f.Add("/cis/oidc/callback", "error=access_denied&state="+state+"&error_description=%00", bind)
	f.Add("/cis/oidc/callback", "code=c&code=d&state=s", "")
	f.Add("/cis/oidc/login", "return=%2F%2Fevil&prompt=login", "")
	f.Add("/cis/oidc/login", "return=/a;return=/b", bind)
	allowed := map[string]map[int]bool{
		"/cis/oidc/login":    {303: true, 400: true, 503: true},
		"/cis/oidc/callback": {400: true, 403: true},
	}
	f.Fuzz(func(t *testing.T, path, query, cookie string) {
		if allowed[path] == nil {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "https://app.example"+path, nil)
		r.URL.RawQuery = query
		r.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		m.Endpoints().ServeHTTP(w, r)
		if !allowed[path][w.Code] {
			t.Fatalf("%s?%s: status %d: %s", path, query, w.Code, w.Body)
		}
		if loc := w.Header().Get("Location"); w.Code == 303 && !strings.HasPrefix(loc, "https://cis2.example/authorize?") {
			t.Fatalf("login redirects to %q", loc)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == m.CookieName() && c.MaxAge >= 0 {
				t.Fatal("a refused login set a session cookie")
			}
		}
	})
}
