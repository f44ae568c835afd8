package cissim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

// tlsSim is a simulator behind a real TLS listener, with the cis clients
// pointed at it and a card CA to issue test cards from.
type tlsSim struct {
	*testSim
	srv    *httptest.Server
	env    cis.Environment
	caKey  crypto.Signer
	gas    *cis.GASClient
	ssb    *cis.SSBClient
	caCert *x509.Certificate
}

func newTLSSim(t *testing.T, edit func(*Config)) *tlsSim {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "https://" + ts.Listener.Addr().String()
	clock := newFakeClock()
	ca, caKey, err := NewCardCA("SubCA test", nil, clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Users: DemoUsers(), CardCAs: []*x509.Certificate{ca}, BaseURL: base, Now: clock.Now}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s
	ts.StartTLS()
	t.Cleanup(ts.Close)
	env := cis.Environment{Name: "test", GASURL: base, SSBURL: base, Roots: []*x509.Certificate{ts.Certificate()}}
	gas, err := cis.NewGASClient(cis.GASConfig{Env: env, Now: clock.Now, DeviceID: "ab12cd34", ClientIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: env, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &tlsSim{testSim: &testSim{Simulator: s, clock: clock, cardCA: ca}, srv: ts, env: env, caKey: caKey, gas: gas, ssb: ssb, caCert: ca}
}

// lyingSigner claims pub but signs with another key.
type lyingSigner struct {
	pub  crypto.PublicKey
	real crypto.Signer
}

func (l lyingSigner) Public() crypto.PublicKey { return l.pub }
func (l lyingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return l.real.Sign(r, d, o)
}

// card is a software smartcard: an RSA key and its certificate.
type card struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var testKeys = map[int]*rsa.PrivateKey{}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	if k, ok := testKeys[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	testKeys[bits] = k
	return k
}

func (s *tlsSim) card(t testing.TB, uid string) card {
	t.Helper()
	key := rsaKey(t, 2048)
	now := s.clock.Now()
	cert, err := IssueCardCert(s.caCert, s.caKey, uid, key.Public(), now.Add(-time.Hour), now.Add(24*time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	return card{key, cert}
}

func TestLoginEndToEnd(t *testing.T) {
	s := newTLSSim(t, nil)
	ctx := context.Background()
	bob := DemoUsers()[1]
	c := s.card(t, bob.UID)
	sess, err := s.gas.Login(ctx, c.key, c.cert)
	if err != nil {
		t.Fatal(err)
	}
	if !ticketRE.MatchString(sess.Ticket.Reveal()) || sess.UID != bob.UID || sess.Name != bob.Name {
		t.Fatalf("session %+v", sess)
	}
	if sess.SessionTime != 10*time.Hour || sess.MaxSessionTime != 10*time.Hour || sess.LogoutURL != s.env.GASURL+"/login/authlogout" {
		t.Fatalf("session times/urls %+v", sess)
	}
	if len(sess.Roles) != len(bob.Roles) {
		t.Fatalf("%d roles", len(sess.Roles))
	}
	for i, r := range sess.Roles {
		w := bob.Roles[i]
		if r.ID != w.ID || r.OrgCode != w.OrgCode || r.OrgName != w.OrgName || r.StaffGroup != w.StaffGroup || r.SubGroup != w.SubGroup || r.JobRole != w.JobRole {
			t.Fatalf("role %d: %+v, want %+v", i, r, w)
		}
	}
	if got := len(s.Sessions()); got != 1 {
		t.Fatalf("%d sessions", got)
	}

	// Assertion before role selection: refused.
	if _, err := s.ssb.Validate(ctx, sess.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("assertion before role selection: %v", err)
	}
	role := bob.Roles[6]
	if err := s.gas.SelectRole(ctx, sess, role.ID, cis.ModeLive); err != nil {
		t.Fatal(err)
	}
	a, err := s.ssb.Validate(ctx, sess.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if a.User.UID != bob.UID || a.SelectedRoleID != role.ID || a.SelectedRole().OrgName != role.OrgName || len(a.User.Roles) != len(bob.Roles) {
		t.Fatalf("assertion %+v", a)
	}
	for i, r := range a.User.Roles {
		if r.OrgName != bob.Roles[i].OrgName || strings.Join(r.Activities, ",") != strings.Join(bob.Roles[i].Activities, ",") {
			t.Fatalf("assertion role %d: %+v", i, r)
		}
	}
	if err := a.CheckTime(s.clock.Now(), 0); err != nil {
		t.Fatal(err)
	}

	// Logout through GAS's sso_logout_url: the ticket dies.
	if err := s.gas.Logout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ssb.Validate(ctx, sess.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("assertion after logout: %v", err)
	}
	if err := s.gas.SelectRole(ctx, sess, role.ID, cis.ModeLive); err == nil {
		t.Fatal("role selection after logout succeeded")
	}
}

// TestValidateTrimsXMLSpaceOnly: a uid sent with XML white space around it
// is the uid; one wrapped in NO-BREAK SPACE or EM SPACE is not (it is not
// the certificate's CN).
func TestValidateTrimsXMLSpaceOnly(t *testing.T) {
	s := newTLSSim(t, nil)
	ctx := context.Background()
	bob := DemoUsers()[1]
	c := s.card(t, bob.UID)
	for uid, ok := range map[string]bool{" \t" + bob.UID + "\r\n": true, "\u00a0" + bob.UID: false, bob.UID + "\u2003": false} {
		ch, err := s.gas.Activate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.gas.Authenticate(ctx, ch, uid, c.key, c.cert)
		if ok && err != nil || !ok && !errors.Is(err, cis.ErrValidationFailed) {
			t.Errorf("uid %q: %v", uid, err)
		}
	}
}

func TestLoginFailures(t *testing.T) {
	s := newTLSSim(t, func(c *Config) { c.ChallengeTTL = 2 * time.Minute })
	ctx := context.Background()
	alice := DemoUsers()[0]
	good := s.card(t, alice.UID)
	now := s.clock.Now()
	mustFail := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, cis.ErrValidationFailed) {
			t.Errorf("%s: got %v, want ErrValidationFailed", name, err)
		}
	}

	// Wrong key: another key signed (the client is told it is the
	// certificate's, as a confused card middleware might).
	other := lyingSigner{pub: good.key.Public(), real: rsaKey(t, 1024)}
	_, err := s.gas.Login(ctx, other, good.cert)
	mustFail("wrong key", err)

	// Expired certificate.
	expired, _ := IssueCardCert(s.caCert, s.caKey, alice.UID, good.key.Public(), now.Add(-48*time.Hour), now.Add(-time.Hour), nil)
	_, err = s.gas.Login(ctx, good.key, expired)
	mustFail("expired certificate", err)

	// Not yet valid.
	future, _ := IssueCardCert(s.caCert, s.caKey, alice.UID, good.key.Public(), now.Add(time.Hour), now.Add(48*time.Hour), nil)
	_, err = s.gas.Login(ctx, good.key, future)
	mustFail("future certificate", err)

	// Unknown CA.
	rogueCA, rogueKey, _ := NewCardCA("SubCA rogue", nil, now.Add(-time.Hour))
	rogue, _ := IssueCardCert(rogueCA, rogueKey, alice.UID, good.key.Public(), now.Add(-time.Hour), now.Add(time.Hour), nil)
	_, err = s.gas.Login(ctx, good.key, rogue)
	mustFail("unknown CA", err)

	// uid param differs from the certificate's CN.
	ch, err := s.gas.Activate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.gas.Authenticate(ctx, ch, "555000000002", good.key, good.cert)
	mustFail("uid mismatch", err)

	// Unknown user with a good certificate.
	stranger := s.card(t, "555000009999")
	_, err = s.gas.Login(ctx, stranger.key, stranger.cert)
	mustFail("unknown user", err)

	// Replayed challenge: the second use fails.
	ch, _ = s.gas.Activate(ctx)
	if _, err := s.gas.Authenticate(ctx, ch, alice.UID, good.key, good.cert); err != nil {
		t.Fatal(err)
	}
	_, err = s.gas.Authenticate(ctx, ch, alice.UID, good.key, good.cert)
	mustFail("replayed challenge", err)

	// Expired challenge, on the injected clock.
	ch, _ = s.gas.Activate(ctx)
	s.clock.Advance(2*time.Minute + time.Second)
	_, err = s.gas.Authenticate(ctx, ch, alice.UID, good.key, good.cert)
	mustFail("expired challenge", err)
	good = s.card(t, alice.UID) // certificates valid at the new time

	// Tampered signature echo.
	ch, _ = s.gas.Activate(ctx)
	sig := []byte(ch.Signature)
	sig[3] ^= 1
	ch.Signature = string(sig)
	_, err = s.gas.Authenticate(ctx, ch, alice.UID, good.key, good.cert)
	mustFail("tampered signature echo", err)

	// A challenge the simulator never issued, with a MAC that does not match.
	ch, _ = s.gas.Activate(ctx)
	ch.Challenge[0] ^= 1
	ch.Encoded = base64.StdEncoding.EncodeToString(ch.Challenge)
	_, err = s.gas.Authenticate(ctx, ch, alice.UID, good.key, good.cert)
	mustFail("other challenge", err)

	// Unknown role: the client refuses before sending, the server too.
	sess, err := s.gas.Login(ctx, good.key, good.cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.gas.SelectRole(ctx, sess, "555000000201", cis.ModeLive); !errors.Is(err, cis.ErrUnknownRole) {
		t.Errorf("unknown role (client): %v", err)
	}
	if body := s.selectRole(t, sess.Ticket, "555000000201", "0"); strings.Contains(body, "OK") {
		t.Errorf("unknown role (server): %s", body)
	}

	// Logged-out (here: expired by the admin side) ticket.
	if err := s.gas.SelectRole(ctx, sess, alice.Roles[0].ID, cis.ModeLive); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireTicket(sess.Ticket); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ssb.Validate(ctx, sess.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("expired ticket: %v", err)
	}

	// Maintenance: every client call says so.
	s.SetMaintenance(true)
	if _, err := s.gas.Login(ctx, good.key, good.cert); !errors.Is(err, cis.ErrMaintenance) {
		t.Errorf("login in maintenance: %v", err)
	}
	if _, err := s.ssb.Validate(ctx, sess.Ticket); !errors.Is(err, cis.ErrMaintenance) {
		t.Errorf("assertion in maintenance: %v", err)
	}
	s.SetMaintenance(false)

	// No failure left a session behind except the ones that logged in.
	for _, si := range s.Sessions() {
		if si.UID != alice.UID {
			t.Errorf("stray session %+v", si)
		}
	}
}

// post sends a raw body to a path of the TLS simulator.
func (s *tlsSim) post(t *testing.T, method, path, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

var (
	// The regexes a public client reads the replies with.
	challengeRE = regexp.MustCompile(`<gpPARAM name="challenge">([A-Za-z0-9+/=]+)</gpPARAM>`)
	signatureRE = regexp.MustCompile(`<gpPARAM name="signature">([A-Za-z0-9+/=]+)</gpPARAM>`)
	roleLineRE  = regexp.MustCompile(`<gpPARAM name="nhsjobrole\d+" id="([^"]+)" orgcode="([^"]+)">([^<]+)</gpPARAM>`)
	tokenRE     = regexp.MustCompile(`<gpPARAM name="sso_ticket">([^<]+)</gpPARAM>`)
	logoutRE    = regexp.MustCompile(`<gpPARAM name="sso_logout_url">([^<]+)</gpPARAM>`)
	cnRE        = regexp.MustCompile(`<gpPARAM name="cn">([^<]+)</gpPARAM>`)
)

// indentedRequest is a request as one public client writes it: every line
// after the XML declaration indented, device_id of [a-z0-9], more params
// (already formatted) after the common ones.
func indentedRequest(service, more string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
    <!DOCTYPE USER SYSTEM "gpOBJECT.DTD">
    <gpOBJECT>
        <gpPARAM name="auth_method">3</gpPARAM>
        <gpPARAM name="app_url">NHST</gpPARAM>
        <gpPARAM name="log_session_id">Ao9qufl+uA</gpPARAM>
        <gpPARAM name="device_id">k3x9z0ab,ClientIP=10.1.2.3</gpPARAM>
        <gpPARAM name="service">` + service + `</gpPARAM>` + more + `
    </gpOBJECT>`
}

// TestExistingClientQuirks sends requests the way existing public clients
// do and reads the replies with their regexes.
func TestExistingClientQuirks(t *testing.T) {
	s := newTLSSim(t, nil)
	bob := DemoUsers()[1]
	c := s.card(t, bob.UID)

	activate := indentedRequest("ACTIVATION", "")
	out := s.post(t, "POST", "/login/authactivate", activate)
	if !strings.Contains(out, `<!DOCTYPE USER SYSTEM "`+s.srv.URL+`/login/dtd">`) {
		t.Fatalf("activate DOCTYPE:\n%s", out)
	}
	chm, sigm := challengeRE.FindStringSubmatch(out), signatureRE.FindStringSubmatch(out)
	if chm == nil || sigm == nil {
		t.Fatalf("activate reply not readable by line regexes:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Count(line, "<gpPARAM") > 1 {
			t.Fatalf("two params on one line: %s", line)
		}
	}
	challenge, _ := base64.StdEncoding.DecodeString(chm[1])
	if len(challenge) != 48 {
		t.Fatalf("challenge of %d bytes", len(challenge))
	}
	der, err := cis.SignChallenge(context.Background(), c.key, c.cert, challenge, crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	// S/MIME with indented headers and no empty line, body indented too.
	body64 := base64.StdEncoding.EncodeToString(der)
	var smime bytes.Buffer
	smime.WriteString("    MIME-Version: 1.0\n    Content-Disposition: attachment; filename=\"smime.p7m\"\n    Content-Type: application/x-pkcs7-mime; name=\"smime.p7m\"\n    Content-Transfer-Encoding: base64\n    \n")
	for len(body64) > 64 {
		smime.WriteString("    " + body64[:64] + "\n")
		body64 = body64[64:]
	}
	smime.WriteString("    " + body64 + "\n")
	validate := indentedRequest("AUTHENTICATION", `
        <gpPARAM name="challenge">`+chm[1]+`</gpPARAM>
        <gpPARAM name="signature">`+sigm[1]+`</gpPARAM>
        <gpPARAM name="uid">`+bob.UID+`</gpPARAM>
        <gpPARAM name="card_type">p11</gpPARAM>
        <gpPARAM name="response" encoding="base64">`+base64.StdEncoding.EncodeToString(smime.Bytes())+`</gpPARAM>
        <gpPARAM name="mobility">0</gpPARAM>`)
	out = s.post(t, "POST", "/login/authvalidate", validate)
	tm, lm, cm := tokenRE.FindStringSubmatch(out), logoutRE.FindStringSubmatch(out), cnRE.FindStringSubmatch(out)
	if tm == nil || lm == nil || cm == nil || cm[1] != bob.Name {
		t.Fatalf("validate reply not readable by line regexes:\n%s", out)
	}
	if lm[1] != s.srv.URL+"/login/authlogout" {
		t.Fatalf("sso_logout_url %q is not the simulator's own address %s", lm[1], s.srv.URL)
	}
	roles := roleLineRE.FindAllStringSubmatch(out, -1)
	if len(roles) != len(bob.Roles) {
		t.Fatalf("%d role lines", len(roles))
	}
	if roles[1][3] != `SAHA SN & DE G, "Admin & Clerical":"Admin":"Registration Authority Agent"` {
		t.Fatalf("role text %q: want the raw & of the real service", roles[1][3])
	}
	// The reply is parsed by our lenient parser nonetheless.
	g, err := cis.ParseGPObject([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	jr, err := g.JobRoles()
	if err != nil || len(jr) != len(bob.Roles) || jr[4].OrgName != "VEDUTLA, RDP & PARTNERS" {
		t.Fatalf("JobRoles: %v %+v", err, jr)
	}
	ticket := tm[1]
	// Some clients always select the first role line.
	sel := s.post(t, "GET", "/saml/RoleSelectionGP.jsp?token="+url.QueryEscape(ticket)+"&selectedRoleUid="+roles[0][1]+"&ssbMode=0&fallbackStatus=0&gacVersion=7.2.2.16", "")
	if !strings.Contains(sel, "OK") {
		t.Fatalf("role selection: %s", sel)
	}
	// Logout as GET with the gpOBJECT in the body.
	logout := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE USER SYSTEM "gpOBJECT.DTD">
<gpOBJECT>
<gpPARAM name="service">LOGOUT</gpPARAM>
<gpPARAM name="sso_ticket">` + ticket + `</gpPARAM>
<gpPARAM name="log_session_id">Ao9qufl+uA</gpPARAM>
<gpPARAM name="device_id">k3x9z0ab,ClientIP=10.1.2.3</gpPARAM>
<gpPARAM name="uid">` + bob.UID + `</gpPARAM>
</gpOBJECT>`
	if out := s.post(t, "GET", "/login/authlogout", logout); !strings.Contains(out, "<STATUS>OK</STATUS>") {
		t.Fatalf("logout: %s", out)
	}
	if len(s.Sessions()) != 0 {
		t.Fatal("session survived the GET logout")
	}
	// Malformed requests: "Invalid input request".
	for _, body := range []string{"", "<gpOBJECT>", strings.Replace(activate, "ACTIVATION", "OTHER", 1)} {
		if out := s.post(t, "POST", "/login/authactivate", body); !strings.Contains(out, "Invalid input request") {
			t.Fatalf("malformed %q: %s", body, out)
		}
	}
	if out := s.post(t, "POST", "/login/authvalidate", strings.Replace(validate, `name="uid"`, `name="uidx"`, 1)); !strings.Contains(out, "Invalid input request") {
		t.Fatalf("validate without uid: %s", out)
	}
}

// BenchmarkAuthValidate measures full authvalidate requests in-process:
// gpOBJECT parsing, S/MIME and CMS decoding, the RSA-2048 signature check,
// the certificate chain check, the session and the success reply. The
// challenges are activated and signed in batches with the timer stopped.
func BenchmarkAuthValidate(b *testing.B) {
	clock := newFakeClock()
	ca, caKey, _ := NewCardCA("SubCA bench", nil, clock.Now().Add(-time.Hour))
	s, err := New(Config{Users: DemoUsers(), CardCAs: []*x509.Certificate{ca}, BaseURL: "https://sim.test", Now: clock.Now, MaxSessions: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	key := rsaKey(b, 2048)
	uid := "555000000002"
	cert, _ := IssueCardCert(ca, caKey, uid, key.Public(), clock.Now().Add(-time.Hour), clock.Now().Add(time.Hour), nil)
	signed := func() []byte {
		ch, err := s.challenges.issue(rand.Reader, clock.Now().UnixNano(), clock.Now().Add(time.Hour).UnixNano())
		if err != nil {
			b.Fatal(err)
		}
		der, err := cis.SignChallenge(context.Background(), key, cert, ch[:], crypto.SHA1)
		if err != nil {
			b.Fatal(err)
		}
		var g cis.GPObject
		for _, kv := range [][2]string{{"auth_method", "3"}, {"app_url", "NHST"}, {"log_session_id", "Ao9qufl+uA"},
			{"device_id", "ab12cd34,ClientIP=127.0.0.1"}, {"service", "AUTHENTICATION"},
			{"challenge", base64.StdEncoding.EncodeToString(ch[:])}, {"signature", s.challengeMAC(ch[:])},
			{"uid", uid}, {"card_type", "p11"}} {
			g.Add(kv[0], kv[1])
		}
		g.Add("response", cis.EncodeSMIME(der), cis.Attr{Name: "encoding", Value: "base64"})
		g.Add("mobility", "0")
		return g.Encode("gpOBJECT.DTD")
	}
	const batch = 500
	bodies := make([][]byte, 0, batch)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		bodies = bodies[:0]
		for len(bodies) < min(batch, b.N-done) {
			bodies = append(bodies, signed())
		}
		b.StartTimer()
		for _, body := range bodies {
			r := httptest.NewRequest("POST", "/login/authvalidate", bytes.NewReader(body))
			clear(w.h)
			s.ServeHTTP(w, r)
		}
		done += len(bodies)
	}
	b.StopTimer()
	if n := len(s.Sessions()); n != b.N {
		b.Fatalf("%d sessions for %d validations", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
}

// TestNoTicketInLogsOrMetrics logs at debug level through a whole login,
// role selection, assertion, failure and logout, and checks that neither
// the log nor /metrics shows the ticket.
func TestNoTicketInLogsOrMetrics(t *testing.T) {
	var logBuf syncBuffer
	s := newTLSSim(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Admin = true
	})
	ctx := context.Background()
	alice := DemoUsers()[0]
	c := s.card(t, alice.UID)
	sess, err := s.gas.Login(ctx, c.key, c.cert)
	if err != nil {
		t.Fatal(err)
	}
	s.gas.SelectRole(ctx, sess, alice.Roles[0].ID, cis.ModeLive)
	s.ssb.Validate(ctx, sess.Ticket)
	s.gas.SelectRole(ctx, &cis.Session{Ticket: sess.Ticket, Roles: []cis.LoginRole{{ID: "555000000999"}}}, "555000000999", cis.ModeLive)
	s.post(t, "GET", "/_sim/sessions", "")
	s.gas.Logout(ctx, sess)
	s.ssb.Validate(ctx, sess.Ticket)
	metrics := s.post(t, "GET", "/metrics", "")
	tk := sess.Ticket.Reveal()
	if strings.Contains(logBuf.String(), tk) || strings.Contains(logBuf.String(), tk[4:24]) {
		t.Fatalf("ticket in the log:\n%s", logBuf.String())
	}
	if strings.Contains(metrics, tk[4:24]) {
		t.Fatal("ticket in /metrics")
	}
	for _, want := range []string{`cissim_logins_total{result="ok"} 1`, `cissim_role_assertions_total{status="success"} 1`, `cissim_role_assertions_total{status="denied"} 1`, `cissim_requests_total{code="200",endpoint="roleassertion"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(logBuf.String(), "login") || !strings.Contains(logBuf.String(), "logout") {
		t.Fatalf("log lacks login/logout lines:\n%s", logBuf.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
