package samlidp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"html"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/opencis/cisauth/cis"
)

// Keys are slow to make under -race, so each kind is made once per run.
var (
	rsaKeyA = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaKeyB = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaKeyC = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaWeak = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(1024) })
	ecKey   = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// testEpoch is the start of every test clock: certificates are valid a
// day either side of it.
var testEpoch = time.Now().UTC().Truncate(time.Second)

// selfSigned makes a self-signed SHA-256 certificate for key.
func selfSigned(t testing.TB, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    testEpoch.Add(-24 * time.Hour),
		NotAfter:     testEpoch.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

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

// spOptions describes a test service provider.
type spOptions struct {
	key         crypto.Signer // RSA: offers an encryption key; ECDSA: does not
	signRequest bool
	binding     string // samlsp.Options.Binding
}

// testSP is a supplier's web app behind crewjam's samlsp.
type testSP struct {
	m   *samlsp.Middleware
	srv *httptest.Server
}

// newTestSP starts an SP app: /app shows the attributes it got, /prescribe
// needs activity B0264 in activity_codes (decided here, by the SP).
func newTestSP(t testing.TB, o spOptions, clock *testClock) *testSP {
	t.Helper()
	sp := &testSP{}
	var handler http.Handler
	sp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(sp.srv.Close)
	root, _ := url.Parse(sp.srv.URL)
	key := o.key
	if key == nil {
		key = rsaKeyB()
	}
	opts := samlsp.Options{
		URL:                 *root,
		Key:                 key,
		Certificate:         selfSigned(t, key, "sp "+root.Host),
		SignRequest:         o.signRequest,
		Binding:             o.binding,
		KeyAttributesByName: true,
	}
	if clock != nil {
		opts.Clock = dsigClock(clock.Now)
	}
	m, err := samlsp.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sp.m = m
	m.OnError = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "SP refused: "+err.Error(), http.StatusForbidden)
	}
	mux := http.NewServeMux()
	mux.Handle("/saml/", m)
	mux.Handle("/app", m.RequireAccount(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attrs := samlsp.SessionFromContext(r.Context()).(samlsp.SessionWithAttributes).GetAttributes()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(attrs)
	})))
	mux.Handle("/prescribe", m.RequireAccount(requireActivity("B0264", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "prescribing as "+samlsp.AttributeFromContext(r.Context(), AttrName))
	}))))
	handler = mux
	return sp
}

// requireActivity is the SP app's own access rule on activity_codes.
func requireActivity(code string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := samlsp.SessionFromContext(r.Context()).(samlsp.SessionWithAttributes)
		if ok {
			for _, v := range s.GetAttributes()[AttrActivityCodes] {
				if v == code {
					next.ServeHTTP(w, r)
					return
				}
			}
		}
		http.Error(w, "activity "+code+" required", http.StatusForbidden)
	})
}

// metadataOf returns the SP's metadata as the file an SP would hand over.
func (sp *testSP) metadataOf(t testing.TB) []byte {
	t.Helper()
	b, err := xml.MarshalIndent(sp.m.ServiceProvider.Metadata(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (sp *testSP) acsURL() url.URL { return sp.m.ServiceProvider.AcsURL }

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
func newTestIdP(t testing.TB, clock *testClock, edit func(*Config), sps ...*testSP) *testIdP {
	t.Helper()
	ti := &testIdP{login: &loginRecorder{}, logs: &logCapture{}}
	var handler http.Handler
	ti.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	key := rsaKeyA()
	cfg := Config{
		ExternalURL: "http://" + ti.srv.Listener.Addr().String(),
		Key:         key,
		Certificate: selfSigned(t, key, "test idp"),
		Identity:    fakeIdentity,
		Login:       ti.login.Login,
		Logger:      slog.New(ti.logs),
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	for _, sp := range sps {
		parsed, err := ParseServiceProvider(sp.metadataOf(t))
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
		sp.m.ServiceProvider.IDPMetadata = md
	}
	return ti
}

func (ti *testIdP) metadata(t testing.TB) *saml.EntityDescriptor {
	t.Helper()
	resp, err := http.Get(ti.srv.URL + MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %s: %s", resp.Status, b)
	}
	md, err := samlsp.ParseMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

// browser is an HTTP client with cookies that also submits the
// auto-posting forms of the SAML HTTP-POST binding, as a browser's
// JavaScript would.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// signIn puts a fake CIS session for uid in the browser's cookies for the
// bridge.
func (b *browser) signIn(ti *testIdP, uid string) {
	u, _ := url.Parse(ti.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: uid, Path: "/"}})
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// postedForm is an auto-posting form found in a page.
type postedForm struct {
	action string
	values url.Values
}

func findForm(body []byte) (postedForm, bool) {
	m := formAction.FindSubmatch(body)
	if m == nil {
		return postedForm{}, false
	}
	f := postedForm{action: html.UnescapeString(string(m[1])), values: url.Values{}}
	for _, in := range formInput.FindAllSubmatch(body, -1) {
		f.values.Add(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	return f, true
}

// get fetches u, following redirects and auto-posting forms, and returns
// the last response with its body read.
func (b *browser) get(u string) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.follow(resp)
}

func (b *browser) follow(resp *http.Response) (*http.Response, []byte) {
	b.t.Helper()
	for range 10 {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.t.Fatal(err)
		}
		f, ok := findForm(body)
		if resp.StatusCode != http.StatusOK || !ok {
			return resp, body
		}
		if resp, err = b.c.PostForm(f.action, f.values); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Fatal("too many auto-posted forms")
	return nil, nil
}

// responseXML asks the bridge, through b, for a Response to req (sent with
// the HTTP-Redirect binding) and returns the decoded Response XML without
// posting it anywhere.
func (b *browser) responseXML(ti *testIdP, sp *testSP, req *saml.AuthnRequest, relayState string) []byte {
	b.t.Helper()
	u, err := req.Redirect(relayState, &sp.m.ServiceProvider)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.c.Get(u.String())
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("SSO: %s: %s", resp.Status, body)
	}
	f, ok := findForm(body)
	if !ok {
		b.t.Fatalf("no form in %s", body)
	}
	if want := sp.acsURL(); f.action != want.String() {
		b.t.Fatalf("form posts to %q, want the ACS %q", f.action, want.String())
	}
	x, err := base64.StdEncoding.DecodeString(f.values.Get("SAMLResponse"))
	if err != nil {
		b.t.Fatal(err)
	}
	return x
}

// authnRequest makes an AuthnRequest from sp to the bridge.
func authnRequest(t testing.TB, ti *testIdP, sp *testSP) *saml.AuthnRequest {
	t.Helper()
	req, err := sp.m.ServiceProvider.MakeAuthenticationRequest(ti.idp.SSOURL(), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
