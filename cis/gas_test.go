package cis

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// gasFixtureTicket is the sso_ticket of validate-response-40roles.xml.
const gasFixtureTicket = "AQIC5wM2LY4SfcxV0oQ1k8Hc3kgdBJGlfJ+Zt0B6y7nBc1o=@AAJTSQACMDE=#"

// fakeGAS is a small GAS and SSB that checks what the client sends and
// answers with the fixtures; fail switches it into one failure mode.
type fakeGAS struct {
	t        *testing.T
	srv      *httptest.Server
	activate []byte
	validate []byte
	release  chan struct{} // closed at cleanup; "block" handlers wait on it

	mu        sync.Mutex
	fail      string // "", invalid, failed, noticket, 500, maint, block, huge, badchallenge, notok, body:<answer>
	failOn    string // path the failure applies to; "" = all
	hits      map[string]int
	selected  string
	loggedOut bool
	headers   http.Header
}

func newFakeGAS(t *testing.T) *fakeGAS {
	f := &fakeGAS{t: t, hits: map[string]int{}, release: make(chan struct{})}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.release) }) // runs first: frees blocked handlers so Close returns
	f.activate = readGPFixture(t, "activate-response.xml")
	f.validate = bytes.ReplaceAll(readGPFixture(t, "validate-response-40roles.xml"),
		[]byte("https://gas.vn03.national.ncrs.nhs.uk"), []byte(f.srv.URL))
	return f
}

func (f *fakeGAS) env() Environment {
	return Environment{Name: "fake", GASURL: f.srv.URL, SSBURL: f.srv.URL, Roots: []*x509.Certificate{f.srv.Certificate()}}
}

func (f *fakeGAS) set(fail, on string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.failOn = fail, on
}

func (f *fakeGAS) hitCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

var (
	lsidRE     = regexp.MustCompile(`^[A-Za-z0-9+/]{10}$`)
	deviceIDRE = regexp.MustCompile(`^[0-9a-f]{8},ClientIP=\d+\.\d+\.\d+\.\d+$`)
)

func (f *fakeGAS) serve(w http.ResponseWriter, r *http.Request) {
	// Read the body first: the server notices a client hanging up (and
	// cancels r.Context) only once the body is consumed.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	f.hits[r.URL.Path]++
	f.headers = r.Header.Clone()
	fail := f.fail
	if f.failOn != "" && f.failOn != r.URL.Path {
		fail = ""
	}
	f.mu.Unlock()
	if body, ok := strings.CutPrefix(fail, "body:"); ok {
		w.Write([]byte(body))
		return
	}
	switch fail {
	case "invalid":
		w.Write(readGPFixture(f.t, "invalid-request.html"))
		return
	case "failed":
		w.Write(readGPFixture(f.t, "validate-failed.html"))
		return
	case "500":
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case "maint":
		http.Error(w, "Service down for scheduled maintenance", http.StatusServiceUnavailable)
		return
	case "block":
		// Stay silent until the test ends, whatever the client does: the
		// client's own deadline must end the request.
		<-f.release
		return
	case "huge":
		w.Write(bytes.Repeat([]byte("x"), MaxGPObjectSize+10))
		return
	case "notok":
		w.Write([]byte("<HTML><STATUS>INVALID TOKEN</STATUS></HTML>"))
		return
	}
	if r.URL.Path == "/saml/RoleSelectionGP.jsp" {
		f.serveRoleSelection(w, r)
		return
	}
	if r.Method != http.MethodPost || !bytes.Contains(body, []byte(`<!DOCTYPE USER SYSTEM "gpOBJECT.DTD">`)) {
		f.t.Errorf("%s %s: not a POSTed gpOBJECT request", r.Method, r.URL.Path)
	}
	req, err := ParseGPObject(body)
	if err != nil {
		f.t.Errorf("%s: request does not parse: %v", r.URL.Path, err)
		w.Write(readGPFixture(f.t, "invalid-request.html"))
		return
	}
	checkStdlibXML(f.t, body, req)
	switch r.URL.Path {
	case "/login/authactivate":
		f.expect(req, map[string]string{"auth_method": "3", "app_url": "NHST", "service": "ACTIVATION"})
		if fail == "badchallenge" {
			w.Write(bytes.Replace(f.activate, []byte(`"challenge">`), []byte(`"challenge">***`), 1))
			return
		}
		w.Write(f.activate)
	case "/login/authvalidate":
		f.serveValidate(w, req, fail)
	case "/login/authlogout":
		f.expect(req, map[string]string{"service": "LOGOUT", "sso_ticket": gasFixtureTicket, "uid": "555000000001"})
		f.mu.Lock()
		f.loggedOut = true
		f.mu.Unlock()
		w.Write([]byte("<HTML><STATUS>OK</STATUS></HTML>"))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeGAS) expect(req *GPObject, want map[string]string) {
	for k, v := range want {
		if got := req.Get(k); got != v {
			f.t.Errorf("param %s = %q, want %q", k, got, v)
		}
	}
	if !lsidRE.MatchString(req.Get("log_session_id")) || !deviceIDRE.MatchString(req.Get("device_id")) {
		f.t.Errorf("log_session_id %q / device_id %q malformed", req.Get("log_session_id"), req.Get("device_id"))
	}
}

func (f *fakeGAS) serveValidate(w http.ResponseWriter, req *GPObject, fail string) {
	act, _ := ParseGPObject(f.activate)
	f.expect(req, map[string]string{"auth_method": "3", "app_url": "NHST", "service": "AUTHENTICATION",
		"challenge": act.Get("challenge"), "signature": act.Get("signature"), "card_type": "p11", "mobility": "0"})
	resp, _ := req.Lookup("response")
	der, err := DecodeSMIME(resp.Value)
	if resp.Attr("encoding") != "base64" || err != nil {
		f.t.Errorf("response param: %v", err)
	}
	content, cert, err := VerifyChallenge(der)
	want, _ := base64.StdEncoding.DecodeString(act.Get("challenge"))
	if err != nil || !bytes.Equal(content, want) || cert.Subject.CommonName != req.Get("uid") {
		w.Write(readGPFixture(f.t, "validate-failed.html"))
		return
	}
	if fail == "noticket" {
		w.Write(regexp.MustCompile(`(?m)^.*sso_ticket.*\n`).ReplaceAll(f.validate, nil))
		return
	}
	w.Write(f.validate)
}

func (f *fakeGAS) serveRoleSelection(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("token") != gasFixtureTicket || q.Get("ssbMode") != "0" || q.Get("fallbackStatus") != "0" || q.Get("gacVersion") != GACVersion {
		f.t.Errorf("role selection query %v", q)
		w.Write([]byte("<HTML><STATUS>ERROR</STATUS></HTML>"))
		return
	}
	f.mu.Lock()
	f.selected = q.Get("selectedRoleUid")
	f.mu.Unlock()
	w.Write([]byte("<HTML><STATUS>OK</STATUS></HTML>"))
}

// lockedLog collects log output.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestClient(t *testing.T, env Environment, logs *lockedLog, timeout time.Duration) *GASClient {
	t.Helper()
	c, err := NewGASClient(GASConfig{
		Env:       env,
		Timeout:   timeout,
		Analytics: func(lsid string) string { return `{"SessionId":"` + lsid + `"}` },
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loggedIn starts a fake GAS and logs the test card in to it.
func loggedIn(t *testing.T, timeout time.Duration) (*fakeGAS, *GASClient, *lockedLog, *Session) {
	t.Helper()
	f := newFakeGAS(t)
	logs := &lockedLog{}
	c := newTestClient(t, f.env(), logs, timeout)
	key, cert := testCard(t)
	s, err := c.Login(context.Background(), key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return f, c, logs, s
}

func TestGASLoginFlow(t *testing.T) {
	f, c, logs, s := loggedIn(t, 5*time.Second)
	ctx := context.Background()
	if s.Ticket.Reveal() != gasFixtureTicket || s.UID != "555000000001" || s.Name != `O'Brien-Müller Siân "Sam" Dr` ||
		len(s.Roles) != 40 || s.SessionTime != 10*time.Hour || s.MaxSessionTime != 10*time.Hour ||
		s.LogoutURL != f.srv.URL+"/login/authlogout" || s.GASVersion != "5.2.7" || !lsidRE.MatchString(s.LogSessionID) {
		t.Fatalf("session = %+v", s)
	}
	if h := f.headers; h.Get("User-Agent") != DefaultUserAgent || h.Get("Analytics") != `{"SessionId":"`+s.LogSessionID+`"}` {
		t.Errorf("headers %v", h)
	}

	before := f.hitCount("/saml/RoleSelectionGP.jsp")
	if err := c.SelectRole(ctx, s, "999999999999", ModeLive); !errors.Is(err, ErrUnknownRole) {
		t.Errorf("unknown role: %v", err)
	}
	if f.hitCount("/saml/RoleSelectionGP.jsp") != before {
		t.Error("an unknown role was sent to the SSB")
	}
	if err := c.SelectRole(ctx, s, s.Roles[3].ID, ModeLive); err != nil {
		t.Fatal(err)
	}
	if f.selected != "555000100003" {
		t.Errorf("selected %q", f.selected)
	}
	if err := c.Logout(ctx, s); err != nil || !f.loggedOut {
		t.Fatalf("logout: %v", err)
	}
	for _, out := range []string{logs.String(), fmt.Sprint(s), fmt.Sprintf("%+v %#v", *s, s.Ticket)} {
		if strings.Contains(out, gasFixtureTicket) || strings.Contains(out, "AQIC") {
			t.Errorf("ticket leaked: %s", out)
		}
	}
	if !strings.Contains(logs.String(), "role selected") {
		t.Errorf("no debug log: %s", logs.String())
	}
}

func TestGASFailures(t *testing.T) {
	key, cert := testCard(t)
	for _, tc := range []struct {
		fail, on string
		want     error
	}{
		{"invalid", "/login/authactivate", ErrInvalidRequest},
		{"invalid", "/login/authvalidate", ErrInvalidRequest},
		{"failed", "/login/authvalidate", ErrValidationFailed},
		{"noticket", "/login/authvalidate", ErrValidationFailed},
		{"badchallenge", "/login/authactivate", ErrMalformed},
		{"500", "/login/authvalidate", ErrUnavailable},
		{"maint", "/login/authactivate", ErrMaintenance},
		{"huge", "/login/authvalidate", ErrTooLarge},
		{"notok", "/login/authactivate", ErrMalformed},
	} {
		t.Run(tc.fail+tc.on, func(t *testing.T) {
			f := newFakeGAS(t)
			logs := &lockedLog{}
			c := newTestClient(t, f.env(), logs, 5*time.Second)
			f.set(tc.fail, tc.on)
			s, err := c.Login(context.Background(), key, cert)
			if !errors.Is(err, tc.want) || s != nil {
				t.Fatalf("Login = %v, %v; want %v", s, err, tc.want)
			}
			if strings.Contains(err.Error(), gasFixtureTicket) || strings.Contains(logs.String(), gasFixtureTicket) {
				t.Errorf("ticket leaked")
			}
		})
	}
}

// TestGASActivateTrimsXMLSpaceOnly: a challenge wrapped in Unicode space
// (NO-BREAK SPACE, EM SPACE) is not base64; XML white space around it is
// dropped.
func TestGASActivateTrimsXMLSpaceOnly(t *testing.T) {
	f := newFakeGAS(t)
	c := newTestClient(t, f.env(), &lockedLog{}, 5*time.Second)
	orig := f.activate
	const challenge = `"challenge">3q2+7w`
	for wrapped, want := range map[string]error{"\u00a0": ErrMalformed, "&#x2003;": ErrMalformed, "&#160;": ErrMalformed, " \t\r\n": nil} {
		f.activate = bytes.Replace(orig, []byte(challenge), []byte(`"challenge">`+wrapped+`3q2+7w`), 1)
		ch, err := c.Activate(context.Background())
		if !errors.Is(err, want) || (want == nil && (err != nil || ch.Challenge[0] != 0xde)) {
			t.Errorf("challenge after %q: %+v, %v; want %v", wrapped, ch, err, want)
		}
	}
}

func TestGASSessionFailuresKeepTicketSecret(t *testing.T) {
	f, c, logs, s := loggedIn(t, 500*time.Millisecond)
	ctx := context.Background()
	for _, tc := range []struct {
		fail string
		want error
	}{{"notok", ErrSessionInvalid}, {"500", ErrUnavailable}, {"block", ErrTimeout}, {"maint", ErrMaintenance}} {
		f.set(tc.fail, "")
		for name, err := range map[string]error{
			"select": c.SelectRole(ctx, s, s.Roles[0].ID, ModeTraining),
			"logout": c.Logout(ctx, s),
		} {
			if !errors.Is(err, tc.want) {
				t.Errorf("%s/%s: %v, want %v", tc.fail, name, err, tc.want)
			} else if strings.Contains(err.Error(), gasFixtureTicket) || strings.Contains(err.Error(), "AQIC") {
				t.Errorf("%s/%s: ticket in error %q", tc.fail, name, err)
			}
		}
	}
	if strings.Contains(logs.String(), "AQIC") {
		t.Errorf("ticket in logs: %s", logs.String())
	}
}

// TestGASStatusOK: role selection and logout succeed on a STATUS element
// whose text is OK, or a body that is OK alone; a body that merely holds
// the word fails.
func TestGASStatusOK(t *testing.T) {
	f, c, _, s := loggedIn(t, 5*time.Second)
	ctx := context.Background()
	for body, ok := range map[string]bool{
		"<HTML><STATUS>OK</STATUS></HTML>":                  true,
		"<HTML>\r\n  <STATUS> OK\n</STATUS>\r\n</HTML>\r\n": true,
		"<html><status>OK</status></html>":                  true,
		"OK":                                                true,
		" OK\r\n":                                           true,
		"NOT OK":                                            false,
		"Click OK to continue":                              false,
		"<html><body>Error. Press OK to retry.</body></html>":     false,
		"<HTML><STATUS>NOT OK</STATUS></HTML>":                    false,
		"<HTML><STATUS>ok</STATUS></HTML>":                        false,
		"<HTML><STATUS>OK.</STATUS></HTML>":                       false,
		"<HTML><STATUS>FAILED</STATUS><REASON>OK</REASON></HTML>": false,
		"<HTML><STATUS>OK</STATUS><STATUS>FAILED</STATUS></HTML>": false,
		"<HTML><STATUS>OK</HTML>":                                 false,
		"<HTML><STATUS x=1>OK</STATUS></HTML>":                    false,
		"":                                                        false,
		"ok":                                                      false,
		"\u00a0OK":                                                false,
	} {
		f.set("body:"+body, "")
		for name, err := range map[string]error{
			"select": c.SelectRole(ctx, s, s.Roles[0].ID, ModeLive),
			"logout": c.Logout(ctx, s),
		} {
			if ok && err != nil || !ok && !errors.Is(err, ErrSessionInvalid) {
				t.Errorf("%s answered %q: %v", name, body, err)
			}
		}
	}
}

func TestGASTimeout(t *testing.T) {
	f := newFakeGAS(t)
	c := newTestClient(t, f.env(), &lockedLog{}, 300*time.Millisecond)
	f.set("block", "")
	key, cert := testCard(t)
	if _, err := c.Login(context.Background(), key, cert); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Login = %v, want ErrTimeout", err)
	}
	// The caller's own deadline bounds it too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c = newTestClient(t, f.env(), &lockedLog{}, time.Minute)
	if _, err := c.Activate(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Activate = %v, want ErrTimeout", err)
	}
}

func TestGASTrust(t *testing.T) {
	f := newFakeGAS(t)
	other := httptest.NewTLSServer(http.NotFoundHandler())
	other.Close()
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	wrongCA := makeCert(otherKey, otherKey, "wrong CA", 9)

	wrongRoots := f.env()
	wrongRoots.Roots = []*x509.Certificate{wrongCA}
	// httptest's certificate names 127.0.0.1 and example.com, not localhost.
	wrongHost := f.env()
	wrongHost.GASURL = strings.Replace(f.srv.URL, "127.0.0.1", "localhost", 1)
	for name, env := range map[string]Environment{"wrong CA": wrongRoots, "host name mismatch": wrongHost} {
		c := newTestClient(t, env, &lockedLog{}, 5*time.Second)
		if _, err := c.Activate(context.Background()); !errors.Is(err, ErrTrust) {
			t.Errorf("%s: %v, want ErrTrust", name, err)
		}
	}
}

func TestGASLogoutForeignURLRefused(t *testing.T) {
	f, c, _, s := loggedIn(t, 5*time.Second)
	plain := strings.Replace(f.srv.URL, "https:", "http:", 1)
	for _, u := range []string{
		"https://evil.example/login/authlogout",
		plain + "/login/authlogout",
		f.srv.URL + "0/login/authlogout", // another port
		"https://user@" + strings.TrimPrefix(f.srv.URL, "https://") + "/login/authlogout",
		"/login/authlogout",
	} {
		s.LogoutURL = u
		if err := c.Logout(context.Background(), s); !errors.Is(err, ErrForeignURL) {
			t.Errorf("%s: %v, want ErrForeignURL", u, err)
		}
	}
	if f.hitCount("/login/authlogout") != 0 {
		t.Fatal("ticket sent to a refused logout URL")
	}
	s.LogoutURL = "" // falls back to the environment's endpoint
	if err := c.Logout(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func TestGASConfigAndInputs(t *testing.T) {
	f := newFakeGAS(t)
	if _, err := NewGASClient(GASConfig{Env: f.env(), Hash: crypto.MD5}); err == nil {
		t.Error("MD5 accepted")
	}
	if _, err := NewGASClient(GASConfig{Env: Environment{GASURL: "https://x", SSBURL: "https://x"}}); err == nil {
		t.Error("https environment without roots accepted")
	}
	c := newTestClient(t, f.env(), &lockedLog{}, 5*time.Second)
	key, _ := testCard(t)
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := c.Login(context.Background(), key, makeCert(caKey, key, "Dr Nobody", 5)); !errors.Is(err, ErrNotUserCertificate) {
		t.Errorf("CN not a uid: %v", err)
	}
	if _, err := c.Authenticate(context.Background(), nil, "555000000001", key, nil); err == nil {
		t.Error("validate without a challenge")
	}
	if f.hitCount("/login/authactivate")+f.hitCount("/login/authvalidate") != 0 {
		t.Error("requests sent for refused inputs")
	}
	s := &Session{}
	if err := c.SelectRole(context.Background(), s, "x", ModeLive); !errors.Is(err, ErrSessionInvalid) {
		t.Errorf("select role without a session: %v", err)
	}
	s = &Session{Ticket: fixtureTicket, Roles: []LoginRole{{ID: "1"}}}
	if err := c.SelectRole(context.Background(), s, "1", Mode(7)); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("mode 7: %v", err)
	}
	// A ticket not shaped like one never reaches a URL or a message.
	for _, bad := range []Ticket{"t", "AQIC abc@x#", "AQIC\nx@y#", Ticket("AQIC" + strings.Repeat("A", MaxTicketLen) + "@x#"), "AQIC5wM2=@AAJ#&x=1"} {
		s := &Session{Ticket: bad, UID: "555000000001", Roles: []LoginRole{{ID: "1"}}}
		for name, err := range map[string]error{
			"select role": c.SelectRole(context.Background(), s, "1", ModeLive),
			"logout":      c.Logout(context.Background(), s),
		} {
			if !errors.Is(err, ErrSessionInvalid) || !errors.Is(err, ErrTicketShape) {
				t.Errorf("%s with ticket %q: %v", name, bad.Reveal(), err)
			}
		}
	}
	if n := f.hitCount("/saml/RoleSelectionGP.jsp") + f.hitCount("/login/authlogout"); n != 0 {
		t.Errorf("%d requests sent with malformed tickets", n)
	}
}

// FuzzAnswerOK: answerOK never panics, and says OK only when the body holds
// OK as its whole text or in a STATUS element.
func FuzzAnswerOK(f *testing.F) {
	f.Add([]byte("<HTML><STATUS>OK</STATUS></HTML>"))
	f.Add([]byte("<HTML><STATUS>NOT OK</STATUS></HTML>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !answerOK(body) {
			return
		}
		lower := bytes.ToLower(body)
		if string(bytes.Trim(body, " \t\r\n")) != "OK" && !bytes.Contains(lower, []byte("<status>")) {
			t.Fatalf("OK for %q", body)
		}
		if !bytes.Contains(body, []byte("OK")) {
			t.Fatalf("OK without OK: %q", body)
		}
	})
}
