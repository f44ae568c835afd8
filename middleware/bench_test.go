package middleware_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"github.com/gorilla/sessions"

	"github.com/opencis/cisauth/middleware"
)

// The authenticated hot path: a request with a valid session cookie
// through Middleware.Handler to a handler that reads the user, for a
// legacy session (memory and Redis stores) and a CIS2 one. Peers in the
// same run: crewjam/saml's samlsp RequireAccount with its default cookie
// session (a JWT signed with the SP key), and a bare gorilla/sessions
// CookieStore Get. Every benchmark checks that the wrapped handler ran for
// each request (a refused cookie would measure a redirect instead).

// benchWriter is a ResponseWriter that keeps nothing.
type benchWriter struct{ h http.Header }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(int)             {}

// countingApp counts requests that reached it with a user.
type countingApp struct{ n atomic.Int64 }

func (a *countingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, ok := middleware.UserFrom(r.Context()); ok && u.UID != "" {
		a.n.Add(1)
	}
}

func runHotPath(b *testing.B, h http.Handler, app *countingApp, c *http.Cookie) {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, appOrigin+"/records", nil)
	r.AddCookie(c)
	w := &benchWriter{h: http.Header{}}
	app.n.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(w, r)
	}
	b.StopTimer()
	if got := app.n.Load(); got != int64(b.N) {
		b.Fatalf("the handler ran %d times for %d requests", got, b.N)
	}
}

func BenchmarkHotPathMemory(b *testing.B) {
	f := newFixture(b)
	app := &countingApp{}
	h := f.m.Handler(middleware.RequireActivity("B0264")(app))
	runHotPath(b, h, app, f.login(f.srv.MustLogin(b, alice, aliceRole)))
}

// A CIS2 session (logged in through the simulator's provider) takes the
// same path: same cookie, same cache, same guard.
func BenchmarkHotPathCIS2(b *testing.B) {
	a := newCIS2App(b, cis2Options{})
	browser := a.srv.Browser()
	a.login(b, browser, a.srv.MustLogin(b, alice, aliceRole), "")
	app := &countingApp{}
	h := a.m.Handler(middleware.RequireActivity("B0264")(app))
	runHotPath(b, h, app, a.sessionCookie(b, browser))
}

func BenchmarkHotPathRedis(b *testing.B) {
	fl := newFleet(b, 1)
	in := fl.inst[0]
	app := &countingApp{}
	h := in.m.Handler(middleware.RequireActivity("B0264")(app))
	c := loginTo(b, h, in.m.CookieName(), fl.srv.MustLogin(b, alice, aliceRole))
	before := in.hook.n.Load()
	runHotPath(b, h, app, c)
	if n := in.hook.n.Load() - before; n != 0 {
		b.Fatalf("%d Redis commands on the hot path", n)
	}
}

func BenchmarkSamlspRequireAccount(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	root, _ := url.Parse("https://app.example/")
	sp, err := samlsp.New(samlsp.Options{URL: *root, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	// A session with what a CIS session carries: user, role, org,
	// activities.
	attr := func(name string, vals ...string) saml.Attribute {
		a := saml.Attribute{Name: name, FriendlyName: name}
		for _, v := range vals {
			a.Values = append(a.Values, saml.AttributeValue{Value: v})
		}
		return a
	}
	assertion := &saml.Assertion{
		Subject: &saml.Subject{NameID: &saml.NameID{Value: alice}},
		AttributeStatements: []saml.AttributeStatement{{Attributes: []saml.Attribute{
			attr("uid", alice), attr("cn", "Jones Alice Dr"), attr("role", aliceRole), attr("org", "RCJ"),
			attr("jobRoleCode", "S8000:G8000:R8003"), attr("activities", "B0264", "B0360"),
		}}},
	}
	rec := httptest.NewRecorder()
	if err := sp.Session.CreateSession(rec, httptest.NewRequest(http.MethodPost, "https://app.example/saml/acs", nil), assertion); err != nil {
		b.Fatal(err)
	}
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "token" {
			cookie = c
		}
	}
	if cookie == nil {
		b.Fatal("samlsp set no session cookie")
	}
	var ran atomic.Int64
	h := sp.RequireAccount(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := samlsp.SessionFromContext(r.Context()); s != nil {
			ran.Add(1)
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "https://app.example/records", nil)
	r.AddCookie(cookie)
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.ServeHTTP(w, r)
	}
	b.StopTimer()
	if got := ran.Load(); got != int64(b.N) {
		b.Fatalf("samlsp's wrapped handler ran %d times for %d requests: it did not take the authenticated path", got, b.N)
	}
}

func BenchmarkGorillaCookieStoreGet(b *testing.B) {
	store := sessions.NewCookieStore(make([]byte, 32))
	store.MaxAge(36000)
	rec := httptest.NewRecorder()
	r0 := httptest.NewRequest(http.MethodGet, appOrigin+"/", nil)
	s, _ := store.New(r0, "session")
	s.Values["uid"] = alice
	s.Values["role"] = aliceRole
	if err := s.Save(r0, rec); err != nil {
		b.Fatal(err)
	}
	base := httptest.NewRequest(http.MethodGet, appOrigin+"/records", nil)
	base.AddCookie(rec.Result().Cookies()[0])
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := *base // gorilla keeps a registry per request
		s, err := store.Get(&r, "session")
		if err != nil || s.IsNew || s.Values["uid"] != alice {
			b.Fatalf("Get: %v, new %v", err, s.IsNew)
		}
	}
}

// 1,000 concurrent first requests with one fresh ticket: exactly one
// RoleAssertion fetch.
func TestOneFetchPerTicket(t *testing.T) {
	f := newFixture(t)
	tk := f.srv.MustLogin(t, alice, aliceRole)
	statuses := concurrentLogins(t, 1000, func(i int) http.Handler { return f.h }, tk.Reveal())
	if statuses[http.StatusOK] != 1000 {
		t.Fatalf("statuses %v, want 1000 × 200", statuses)
	}
	if n := f.fetches(); n != 1 {
		t.Errorf("%d RoleAssertion fetches for 1,000 concurrent logins with one ticket, want 1", n)
	}
}

// The same across three instances sharing Redis: at most one fetch per
// instance.
func TestOneFetchPerTicketFleet(t *testing.T) {
	fl := newFleet(t, 3)
	tk := fl.srv.MustLogin(t, alice, aliceRole)
	statuses := concurrentLogins(t, 1000, func(i int) http.Handler { return fl.inst[i%3].h }, tk.Reveal())
	if statuses[http.StatusOK] != 1000 {
		t.Fatalf("statuses %v, want 1000 × 200", statuses)
	}
	if n := fl.fetches(); n < 1 || n > 3 {
		t.Errorf("%d RoleAssertion fetches for 1,000 concurrent logins on 3 instances, want 1 to 3", n)
	}
}

func concurrentLogins(t *testing.T, n int, handler func(i int) http.Handler, ticket string) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp := serve(handler(i), http.MethodPost, "/cis/login", nil, withHeader("X-CIS-Ticket", ticket))
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return statuses
}
