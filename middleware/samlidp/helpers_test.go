package samlidp

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/samltest"
)

// Keys are slow to make under -race, so each kind is made once per run
// (the SPs' default RSA key is samltest.SPKey).
var (
	rsaKeyA = sync.OnceValue(func() *rsa.PrivateKey { return samltest.NewRSAKey(2048) })
	rsaKeyC = sync.OnceValue(func() *rsa.PrivateKey { return samltest.NewRSAKey(2048) })
	rsaWeak = sync.OnceValue(func() *rsa.PrivateKey { return samltest.NewRSAKey(1024) })
	ecKey   = sync.OnceValue(samltest.NewECKey)
)

// testEpoch is the start of every test clock. Certificates
// (samltest.SelfSigned) are valid a day either side of when they are made,
// so they are at testEpoch and for less than a day after.
var testEpoch = time.Now().UTC().Truncate(time.Second)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: testEpoch} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Test people. Dr Smith's role grants B0264 (the SP app's "prescribe"),
// Ms Jones's does not.
var (
	drSmith = cis.User{
		UID:  "555000000001",
		Name: "SMITH John Dr",
		Roles: []cis.RoleProfile{{
			ID: "555000000101", OrgCode: "RX1", OrgName: "Test Trust", JobRoleCode: "S8000:G8000:R8003",
			Activities: []string{"B0264", "B0360", "B0011"},
		}},
	}
	msJones = cis.User{
		UID:  "555000000002",
		Name: "JONES Mary Ms",
		Roles: []cis.RoleProfile{{
			ID: "555000000202", OrgCode: "RX2", JobRoleCode: "S0030:G0100:R0620",
			Activities: []string{"B0360"},
		}},
	}
	people = map[string]cis.User{drSmith.UID: drSmith, msJones.UID: msJones}
)

const sessionCookie = "fake-cis-session"

// fakeIdentity is Config.Identity over a cookie holding a uid: the stand-in
// for the middleware's CIS session.
func fakeIdentity(r *http.Request) (cis.User, cis.RoleProfile, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return cis.User{}, cis.RoleProfile{}, false
	}
	u, ok := people[c.Value]
	if !ok {
		return cis.User{}, cis.RoleProfile{}, false
	}
	return u, u.Roles[0], true
}

// loginRecorder is Config.Login: it records each returnTo and redirects to
// the fake login page with it.
type loginRecorder struct {
	mu      sync.Mutex
	returns []string
}

func (l *loginRecorder) Login(w http.ResponseWriter, r *http.Request, returnTo string) {
	l.mu.Lock()
	l.returns = append(l.returns, returnTo)
	l.mu.Unlock()
	http.Redirect(w, r, "/login?"+url.Values{"return": {returnTo}}.Encode(), http.StatusFound)
}

func (l *loginRecorder) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.returns)
}

func (l *loginRecorder) last(t testing.TB) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.returns) == 0 {
		t.Fatal("Login was not called")
	}
	return l.returns[len(l.returns)-1]
}

// fakeLoginPage signs in the uid of its "as" parameter (default Dr Smith)
// and goes back to "return" if that is a path on this origin.
func fakeLoginPage(w http.ResponseWriter, r *http.Request) {
	ret := r.URL.Query().Get("return")
	if !strings.HasPrefix(ret, "/") || strings.HasPrefix(ret, "//") || strings.Contains(ret, `\`) {
		http.Error(w, "bad return", http.StatusBadRequest)
		return
	}
	uid := r.URL.Query().Get("as")
	if uid == "" {
		uid = drSmith.UID
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: uid, Path: "/"})
	http.Redirect(w, r, ret, http.StatusFound)
}

// logCapture is a slog.Handler that keeps the errors of the records.
type logCapture struct {
	mu   sync.Mutex
	errs []error
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCapture) WithGroup(string) slog.Handler            { return h }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			h.mu.Lock()
			h.errs = append(h.errs, err)
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *logCapture) errors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

// testIdP is the bridge served by httptest, with the fake login page.
type testIdP struct {
	idp   *IdP
	srv   *httptest.Server
	login *loginRecorder
	logs  *logCapture
	cfg   Config
}

// newTestIdP starts the bridge for the given SPs; edit changes the Config
// before New. The SPs are pointed at the bridge's metadata.
func newTestIdP(t testing.TB, clock *testClock, edit func(*Config), sps ...*samltest.SP) *testIdP {
	t.Helper()
	ti := &testIdP{login: &loginRecorder{}, logs: &logCapture{}}
	var handler http.Handler
	ti.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	key := rsaKeyA()
	cfg := Config{
		ExternalURL: "http://" + ti.srv.Listener.Addr().String(),
		Key:         key,
		Certificate: samltest.SelfSigned(t, key, "test idp"),
		Identity:    fakeIdentity,
		Login:       ti.login.Login,
		Logger:      slog.New(ti.logs),
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	for _, sp := range sps {
		parsed, err := ParseServiceProvider(sp.Metadata(t))
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServiceProviders = append(cfg.ServiceProviders, parsed)
	}
	if edit != nil {
		edit(&cfg)
	}
	idp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ti.idp, ti.cfg = idp, cfg
	mux := http.NewServeMux()
	mux.Handle("/saml/", idp)
	mux.HandleFunc("/login", fakeLoginPage)
	handler = mux
	ti.srv.Start()
	t.Cleanup(ti.srv.Close)

	md := ti.metadata(t)
	for _, sp := range sps {
		sp.Middleware.ServiceProvider.IDPMetadata = md
	}
	return ti
}

func (ti *testIdP) metadata(t testing.TB) *saml.EntityDescriptor {
	t.Helper()
	return samltest.IdPMetadata(t, ti.srv.URL+MetadataPath)
}

// signIn puts a fake CIS session for uid in b's cookies for the bridge.
func (ti *testIdP) signIn(b *samltest.Browser, uid string) {
	u, _ := url.Parse(ti.srv.URL)
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: uid, Path: "/"}})
}

// responseXML asks the bridge, through b, for a Response to req (sent with
// the HTTP-Redirect binding) and returns the decoded Response XML without
// posting it anywhere.
func responseXML(t testing.TB, b *samltest.Browser, ti *testIdP, sp *samltest.SP, req *saml.AuthnRequest, relayState string) []byte {
	t.Helper()
	u, err := req.Redirect(relayState, &sp.Middleware.ServiceProvider)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.Client.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SSO: %s: %s", resp.Status, body)
	}
	f, ok := samltest.FindForm(body)
	if !ok {
		t.Fatalf("no form in %s", body)
	}
	if want := sp.ACS(); f.Action != want {
		t.Fatalf("form posts to %q, want the ACS %q", f.Action, want)
	}
	x, err := base64.StdEncoding.DecodeString(f.Values.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// authnRequest makes an AuthnRequest from sp to the bridge.
func authnRequest(t testing.TB, ti *testIdP, sp *samltest.SP) *saml.AuthnRequest {
	t.Helper()
	req, err := sp.Middleware.ServiceProvider.MakeAuthenticationRequest(ti.idp.SSOURL(), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
