package middleware_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware"
)

// security.md: no ticket, cookie or session id in logs (at debug level),
// metric labels or answers, through a session's whole life.
func TestNoSecretInLogsMetricsOrAnswers(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		gas, err := cis.NewGASClient(cis.GASConfig{Env: f.srv.Env()})
		if err != nil {
			t.Fatal(err)
		}
		f.cfg.SSOLogout = gas
	})
	sess := f.srv.MustLoginSession(t, chandra, chandraAdmin)
	tk := sess.Ticket
	dead := f.srv.MustLogin(t, alice, aliceRole)
	f.srv.Logout(dead)

	var secrets []string
	var answers bytes.Buffer
	record := func(resp *http.Response) *http.Response {
		for _, c := range resp.Cookies() {
			if c.Value != "" {
				secrets = append(secrets, c.Value)
			}
		}
		answers.WriteString(fmt.Sprint(resp.Header))
		answers.WriteString(body(resp))
		return resp
	}
	c := f.login(tk)
	secrets = append(secrets, c.Value)
	b, ct := form(url.Values{"ticket": {tk.Reveal()}, "return": {"/x"}}.Encode())
	record(f.do(http.MethodPost, "/cis/login", b, ct))
	record(f.do(http.MethodPost, "/cis/login?ticket="+url.QueryEscape(tk.Reveal()), nil))
	record(f.do(http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", dead.Reveal())))
	record(f.do(http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", tk.Reveal()+"x")))
	record(f.do(http.MethodGet, "/records", nil, withCookie(c)))
	f.srv.SelectRole(context.Background(), sess, chandraClinic)
	resp := record(f.do(http.MethodPost, "/cis/refresh", nil, withCookie(c)))
	c = cookieNamed(resp, f.m.CookieName())
	f.srv.SetMaintenance(true)
	f.clock.Advance(time.Minute)
	record(f.do(http.MethodGet, "/whoami", nil, withCookie(c)))
	f.srv.SetMaintenance(false)
	f.clock.Advance(time.Minute)
	record(f.do(http.MethodGet, "/whoami", nil, withCookie(c)))
	record(f.do(http.MethodPost, "/cis/logout", nil, withCookie(c)))
	record(f.do(http.MethodGet, "/whoami", nil, withCookie(c)))

	var metrics bytes.Buffer
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&metrics, mf)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) || !strings.Contains(logs, "logout") {
		t.Fatalf("the logs did not capture the flow:\n%s", logs)
	}
	for _, s := range append(secrets, tk.Reveal(), dead.Reveal(), url.QueryEscape(tk.Reveal())) {
		for what, text := range map[string]string{"logs": logs, "metrics": metrics.String(), "answers": answers.String()} {
			if what == "answers" && strings.Contains(answers.String(), "Set-Cookie") {
				// Set-Cookie headers carry cookie values by design; look
				// at the rest.
				text = stripSetCookie(text)
			}
			if strings.Contains(text, s) {
				t.Errorf("a secret (%d bytes) appears in the %s", len(s), what)
			}
		}
	}
}

func stripSetCookie(s string) string {
	i := strings.Index(s, "Set-Cookie:[")
	for i >= 0 {
		j := strings.Index(s[i:], "]")
		s = s[:i] + s[i+j+1:]
		i = strings.Index(s, "Set-Cookie:[")
	}
	return s
}

// Forged, tampered, foreign and expired cookies are refused and cleared;
// key rotation keeps cookies signed with an older key valid until the key
// is dropped.
func TestForgedCookies(t *testing.T) {
	oldKey, newKey, otherKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	store := middleware.NewMemoryStore(middleware.MemoryStoreConfig{})
	f := newFixture(t, func(f *fixture) {
		f.cfg.Store = store
		f.cfg.Cookie.Keys = [][]byte{oldKey}
	})
	name := f.m.CookieName()
	c := f.login(f.srv.MustLogin(t, alice, aliceRole))
	id := decodeID(t, name, c.Value, oldKey)

	refused := func(what, value string) {
		t.Helper()
		resp := f.do(http.MethodGet, "/whoami", nil, withCookie(&http.Cookie{Name: name, Value: value}))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", what, resp.StatusCode)
		}
	}
	flip := []byte(c.Value)
	flip[len(flip)/2] ^= 1
	refused("flipped bit", string(flip))
	refused("signed with another key", encodeID(t, name, id, otherKey, time.Now()))
	refused("signed for another cookie name", encodeID(t, "cis_session", id, oldKey, time.Now()))
	refused("unknown session id", encodeID(t, name, strings.Repeat("A", 43), oldKey, time.Now()))
	refused("signature older than MaxAge", encodeID(t, name, id, oldKey, time.Now().Add(-10*time.Hour-time.Minute)))
	refused("empty", "")
	refused("huge", strings.Repeat("A", 5000))
	whoFrom(t, f.do(http.MethodGet, "/whoami", nil, withCookie(&http.Cookie{Name: name, Value: encodeID(t, name, id, oldKey, time.Now().Add(-9*time.Hour))})))

	// Rotation: a new key signs, the old one still verifies…
	m2, err := middleware.New(middleware.Config{Env: f.srv.Env(), Cookie: middleware.CookieConfig{Keys: [][]byte{newKey, oldKey}}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h2 := m2.Handler(appHandler())
	c2 := loginTo(t, h2, name, f.srv.MustLogin(t, alice, aliceRole))
	decodeID(t, name, c2.Value, newKey) // signed with the first key
	id2 := decodeID(t, name, c2.Value, newKey)
	if resp := serve(h2, http.MethodGet, "/whoami", nil, withCookie(&http.Cookie{Name: name, Value: encodeID(t, name, id2, oldKey, time.Now())})); resp.StatusCode != http.StatusOK {
		t.Errorf("cookie signed with the older key: %d", resp.StatusCode)
	}
	// … and once the old key is gone, its cookies are refused.
	m3, err := middleware.New(middleware.Config{Env: f.srv.Env(), Cookie: middleware.CookieConfig{Keys: [][]byte{newKey}}})
	if err != nil {
		t.Fatal(err)
	}
	h3 := m3.Handler(appHandler())
	c3 := loginTo(t, h3, name, f.srv.MustLogin(t, alice, aliceRole))
	id3 := decodeID(t, name, c3.Value, newKey)
	if resp := serve(h3, http.MethodGet, "/whoami", nil, withCookie(&http.Cookie{Name: name, Value: encodeID(t, name, id3, oldKey, time.Now())})); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("cookie signed with a dropped key: %d", resp.StatusCode)
	}
}

func decodeID(t *testing.T, name, value string, key []byte) string {
	t.Helper()
	var id []byte
	sc := securecookie.New(key, nil).SetSerializer(securecookie.NopEncoder{})
	if err := sc.Decode(name, value, &id); err != nil {
		t.Fatalf("cookie does not verify with the key: %v", err)
	}
	return string(id)
}

// encodeID signs a session id as securecookie does, at a chosen time (its
// own Encode always uses the present).
func encodeID(t *testing.T, name, id string, key []byte, at time.Time) string {
	t.Helper()
	val := base64.URLEncoding.EncodeToString([]byte(id))
	signed := fmt.Sprintf("%s|%d|%s", name, at.Unix(), val)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	b := append([]byte(signed[len(name)+1:]+"|"), mac.Sum(nil)...)
	return base64.URLEncoding.EncodeToString(b)
}

// security.md 3: SSB slow, oversized, malformed, failing, down or
// untrusted: the login fails closed, in bounded time, with a clear status,
// and a failing SSB is not hammered.
func TestSSBFaults(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	// httptest servers all share one certificate: make another root.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		down    bool
		foreign bool
		status  int
	}{
		{name: "slow", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, status: 503},
		{name: "oversized", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte("<"), cis.MaxAssertionSize+1))
		}, status: 502},
		{name: "malformed", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol"><unclosed>`))
		}, status: 502},
		{name: "server error", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, status: 503},
		{name: "maintenance page", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Planned maintenance", http.StatusServiceUnavailable)
		}, status: 503},
		{name: "down", down: true, status: 503},
		{name: "untrusted certificate", foreign: true, status: 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			requests := 0
			ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				if tc.handler != nil {
					tc.handler(w, r)
				}
			}))
			defer ts.Close()
			env := cis.Environment{Name: "fake", SSBURL: ts.URL, GASURL: ts.URL, Roots: []*x509.Certificate{ts.Certificate()}}
			if tc.foreign {
				env.Roots = []*x509.Certificate{otherRoot}
			}
			if tc.down {
				ts.Close()
			}
			clock := &fakeClock{}
			reg := prometheus.NewRegistry()
			m, err := middleware.New(middleware.Config{Env: env, ValidationTimeout: 300 * time.Millisecond, Now: clock.Now, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			h := m.Handler(appHandler())
			start := time.Now()
			resp := serve(h, http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", fakeTicket("fault").Reveal()))
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("login took %s: not bounded by the validation timeout", elapsed)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("login: %d, want %d: %s", resp.StatusCode, tc.status, body(resp))
			}
			if cookieNamed(resp, m.CookieName()) != nil {
				t.Error("a failed login set a cookie")
			}
			if tc.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tc.status != 503 {
				return
			}
			// The SSB failed: more logins at once are refused without
			// asking it (no retry storm) until the backoff has passed.
			mu.Lock()
			before := requests
			mu.Unlock()
			for i := range 10 {
				resp := serve(h, http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", fakeTicket(fmt.Sprint("more", i)).Reveal()))
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("login during the backoff: %d", resp.StatusCode)
				}
			}
			mu.Lock()
			during := requests - before
			mu.Unlock()
			if during != 0 {
				t.Errorf("%d SSB requests during the backoff, want 0", during)
			}
			if n := metric(t, reg, "cisauth_validations_total", "outcome", "backoff"); n != 10 {
				t.Errorf("validations refused by the backoff: %v, want 10", n)
			}
			clock.Advance(time.Second)
			serve(h, http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", fakeTicket("probe").Reveal()))
			if n := metric(t, reg, "cisauth_validations_total", "outcome", "backoff"); n != 10 {
				t.Errorf("the probe after the backoff was refused too")
			}
		})
	}
}
