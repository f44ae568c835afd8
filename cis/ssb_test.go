package cis

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// inWindow is inside single-role.xml's validity window (10:27:51–10:31:51).
var inWindow = time.Date(2026, 11, 26, 10, 29, 0, 0, time.UTC)

// ssbServer serves /saml/RoleAssertion over TLS with answer, after checking
// that the ticket arrived intact.
type ssbServer struct {
	t        *testing.T
	srv      *httptest.Server
	requests atomic.Int32
}

func newSSBServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *ssbServer {
	s := &ssbServer{t: t}
	// Answers see a context that ends when the test does, not when the
	// client goes away: a blocking answer stays silent until the client's
	// own deadline or cancellation ends the request, which is under test.
	testDone, stop := context.WithCancel(context.Background())
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/saml/RoleAssertion" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		if got := r.URL.Query().Get("token"); got != fixtureTicket {
			t.Errorf("token on the wire decodes to %q, want the raw ticket", got)
		}
		if strings.ContainsAny(r.URL.RawQuery[len("token="):], "+/=@#") {
			t.Errorf("ticket not URL-encoded: %q", r.URL.RawQuery)
		}
		if r.Header.Get("User-Agent") == "" {
			t.Error("no User-Agent")
		}
		answer(w, r.WithContext(testDone))
	}))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected in the wrong-CA case
	s.srv.StartTLS()
	t.Cleanup(s.srv.Close)
	t.Cleanup(stop) // runs before Close, which waits for blocked answers
	return s
}

func (s *ssbServer) env() Environment {
	return Environment{Name: "test", GASURL: s.srv.URL, SSBURL: s.srv.URL, Roots: []*x509.Certificate{s.srv.Certificate()}}
}

func serveFixture(t *testing.T, name string) func(http.ResponseWriter, *http.Request) {
	doc := readFixture(t, name)
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write(doc)
	}
}

// logBuffer captures every slog record, at debug level.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func newTestSSBClient(t *testing.T, cfg SSBConfig) *SSBClient {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return inWindow }
	}
	c, err := NewSSBClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSSBClientValidate(t *testing.T) {
	srv := newSSBServer(t, serveFixture(t, "two-roles-selected-last.xml"))
	logger, logs := logBuffer()
	c := newTestSSBClient(t, SSBConfig{Env: srv.env(), Logger: logger})
	a, err := c.Validate(context.Background(), fixtureTicket)
	if err != nil {
		t.Fatal(err)
	}
	if a.User.UID != "555006130103" || a.SelectedRole().ID != "555006304103" || !a.SelectedRole().HasActivity("B1680") {
		t.Errorf("assertion %+v", a)
	}
	if !strings.Contains(logs.String(), "uid=555006130103") {
		t.Errorf("no debug record of the validation: %s", logs)
	}
	if strings.Contains(logs.String(), fixtureTicket) {
		t.Errorf("log holds the ticket: %s", logs)
	}
}

func TestSSBClientErrors(t *testing.T) {
	thursday, err := ParseMaintenanceSlot("Test slot", "Thu 00:00-Fri 00:00")
	if err != nil {
		t.Fatal(err)
	}
	otherCA := selfSignedCA(t)
	tests := []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request)
		cfg    func(*SSBConfig)
		want   error
		msg    string
	}{
		{name: "non-Success status", answer: serveFixture(t, "status-requester.xml"), want: ErrSessionInvalid},
		{name: "server error", answer: status(http.StatusInternalServerError, "boom"), want: ErrUnavailable, msg: "HTTP 500"},
		{name: "maintenance answer", answer: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "Thu, 26 Nov 2026 12:00:00 GMT")
			status(http.StatusServiceUnavailable, "Down for scheduled maintenance")(w, nil)
		}, want: ErrMaintenance, msg: "until Thu 26 Nov 12:00"},
		{name: "failure in a maintenance slot", answer: status(http.StatusBadGateway, "bad gateway"),
			cfg: func(c *SSBConfig) { c.Env.Maintenance = []MaintenanceSlot{thursday} }, want: ErrMaintenance, msg: "Test slot"},
		{name: "timeout", answer: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			cfg: func(c *SSBConfig) { c.Timeout = 50 * time.Millisecond }, want: ErrTimeout},
		{name: "oversized", answer: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(bytes.Repeat([]byte("x"), 1001)) },
			cfg: func(c *SSBConfig) { c.MaxResponse = 1000 }, want: ErrTooLarge},
		{name: "wrong CA", answer: serveFixture(t, "single-role.xml"),
			cfg: func(c *SSBConfig) { c.Env.Roots = []*x509.Certificate{otherCA} }, want: ErrTrust},
		{name: "malformed", answer: serveFixture(t, "duplicate-uid.xml"), want: ErrMalformed},
		{name: "expired", answer: serveFixture(t, "single-role.xml"),
			cfg: func(c *SSBConfig) { c.Now = func() time.Time { return inWindow.Add(time.Hour) } }, want: ErrExpired, msg: "expired"},
		{name: "not yet valid", answer: serveFixture(t, "single-role.xml"),
			cfg: func(c *SSBConfig) { c.Now = func() time.Time { return inWindow.Add(-time.Hour) } }, want: ErrExpired, msg: "not yet valid"},
		{name: "trust failure in a maintenance slot stays ErrTrust", answer: serveFixture(t, "single-role.xml"),
			cfg: func(c *SSBConfig) {
				c.Env.Roots = []*x509.Certificate{otherCA}
				c.Env.Maintenance = []MaintenanceSlot{thursday}
			}, want: ErrTrust},
		{name: "assertion about another ticket", answer: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Replace(readFixture(t, "single-role.xml"), []byte(fixtureTicket), []byte("AQIC5wM2LY4SfczSomeoneElse=@AAJTSQACMDE=#"), 1))
		}, want: ErrMalformed, msg: "not about the ticket"},
		{name: "assertion echoing no ticket", answer: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Replace(readFixture(t, "single-role.xml"), []byte(fixtureTicket), nil, 1))
		}, want: ErrMalformed, msg: "not about the ticket"},
		{name: "beyond a small skew", answer: serveFixture(t, "single-role.xml"), cfg: func(c *SSBConfig) {
			c.Now = func() time.Time { return inWindow.Add(5 * time.Minute) } // 2m09s after NotOnOrAfter
			c.Skew = time.Minute
		}, want: ErrExpired},
	}
	logger, logs := logBuffer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSSBServer(t, tt.answer)
			cfg := SSBConfig{Env: srv.env(), Logger: logger}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			c := newTestSSBClient(t, cfg)
			a, err := c.Validate(context.Background(), fixtureTicket)
			if !errors.Is(err, tt.want) || a != nil || (tt.want == ErrTrust && errors.Is(err, ErrMaintenance)) {
				t.Fatalf("Validate = %v, %v; want %v", a, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), fixtureTicket) || strings.Contains(err.Error(), "AQIC") {
				t.Errorf("error holds the ticket: %q", err)
			}
			want := int32(1)
			if errors.Is(err, ErrTrust) {
				want = 0
			}
			if n := srv.requests.Load(); n != want {
				t.Errorf("%d requests, want %d", n, want)
			}
		})
	}
	if strings.Contains(logs.String(), fixtureTicket) || strings.Contains(logs.String(), "AQIC") {
		t.Errorf("log holds the ticket: %s", logs)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("failures not logged: %s", logs)
	}
}

func TestSSBClientSkew(t *testing.T) {
	srv := newSSBServer(t, serveFixture(t, "single-role.xml"))
	// Four minutes after NotOnOrAfter (10:31:51): inside the default skew.
	late := func() time.Time { return time.Date(2026, 11, 26, 10, 35, 51, 0, time.UTC) }
	c := newTestSSBClient(t, SSBConfig{Env: srv.env(), Now: late})
	if _, err := c.Validate(context.Background(), fixtureTicket); err != nil {
		t.Errorf("default skew: %v", err)
	}
	c = newTestSSBClient(t, SSBConfig{Env: srv.env(), Now: late, Skew: 3 * time.Minute})
	if _, err := c.Validate(context.Background(), fixtureTicket); !errors.Is(err, ErrExpired) {
		t.Errorf("3m skew: %v, want ErrExpired", err)
	}
	// The public sample that is an hour off passes with an hour's skew.
	hourOff := func() time.Time { return inWindow.Add(time.Hour) }
	c = newTestSSBClient(t, SSBConfig{Env: srv.env(), Now: hourOff, Skew: time.Hour})
	if _, err := c.Validate(context.Background(), fixtureTicket); err != nil {
		t.Errorf("hour skew: %v", err)
	}
}

// An empty ticket, or one not shaped like an SSO ticket (too long, outside
// OpenSSO's alphabet, smuggling a query parameter), is refused before any
// request: it names no session.
func TestSSBClientMalformedTicket(t *testing.T) {
	srv := newSSBServer(t, serveFixture(t, "single-role.xml"))
	c := newTestSSBClient(t, SSBConfig{Env: srv.env()})
	for _, bad := range []Ticket{"", "x", "AQIC5wM2@AAJ#&token=other", "AQIC5wM2 @AAJ#", Ticket("AQIC" + strings.Repeat("A", MaxTicketLen) + "@AAJ#")} {
		_, err := c.Validate(context.Background(), bad)
		if !errors.Is(err, ErrSessionInvalid) {
			t.Errorf("ticket %.20q: err = %v, want ErrSessionInvalid", bad.Reveal(), err)
		}
		if code, _ := HTTPStatus(err); code != http.StatusUnauthorized {
			t.Errorf("ticket %.20q: HTTPStatus %d, want 401", bad.Reveal(), code)
		}
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests for malformed tickets", n)
	}
}

func TestSSBClientRoleAssertionRaw(t *testing.T) {
	srv := newSSBServer(t, serveFixture(t, "forty-roles.xml"))
	c := newTestSSBClient(t, SSBConfig{Env: srv.env()})
	b, err := c.RoleAssertion(context.Background(), fixtureTicket)
	if err != nil || !bytes.Equal(b, readFixture(t, "forty-roles.xml")) {
		t.Fatalf("RoleAssertion = %d bytes, %v", len(b), err)
	}
}

func TestSSBClientCanceled(t *testing.T) {
	started := make(chan struct{})
	srv := newSSBServer(t, func(_ http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	})
	c := newTestSSBClient(t, SSBConfig{Env: srv.env()})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	if _, err := c.Validate(ctx, fixtureTicket); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestNewSSBClientConfig(t *testing.T) {
	srv := newSSBServer(t, serveFixture(t, "single-role.xml"))
	env := srv.env()
	for name, cfg := range map[string]SSBConfig{
		"negative skew":          {Env: env, Skew: -time.Second},
		"negative timeout":       {Env: env, Timeout: -time.Second},
		"no ssb url":             {Env: Environment{Name: "x", Roots: env.Roots}},
		"https without anchors":  {Env: Environment{Name: "x", SSBURL: env.SSBURL}},
		"ssb url with a query":   {Env: Environment{Name: "x", SSBURL: env.SSBURL + "/?a=b", Roots: env.Roots}},
		"ssb url not http(s)":    {Env: Environment{Name: "x", SSBURL: "ftp://example.org", Roots: env.Roots}},
		"ssb url without a host": {Env: Environment{Name: "x", SSBURL: "https://", Roots: env.Roots}},
	} {
		if _, err := NewSSBClient(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func status(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// selfSignedCA returns a CA certificate that signed nothing the test
// servers present.
func selfSignedCA(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Not the SSB's CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
