package cissim

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

func TestMaintenance(t *testing.T) {
	slot, err := cis.ParseMaintenanceSlot("Spine CIS", "Mon 20:00-Tue 06:00")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSim(t, func(c *Config) { c.Maintenance = []cis.MaintenanceSlot{slot} })
	paths := []string{"/saml/RoleAssertion?token=x", "/saml/RoleSelectionGP.jsp?token=x", "/ssb/DeviceIDLogger?token=x"}
	for _, p := range paths {
		if w := s.do("GET", p, ""); w.Code != http.StatusOK {
			t.Fatalf("%s outside the slot: %d", p, w.Code)
		}
	}
	// Thursday 09:00 UTC → Monday 20:30 London (GMT in November).
	s.clock.Advance(4*24*time.Hour + 11*time.Hour + 30*time.Minute)
	for _, p := range append(paths, "POST /login/authactivate", "POST /login/authvalidate", "POST /amserver/sessionservice") {
		method := "GET"
		if m, rest, ok := strings.Cut(p, " "); ok {
			method, p = m, rest
		}
		w := s.do(method, p, "")
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "maintenance") {
			t.Fatalf("%s in the slot: %d %s", p, w.Code, w.Body)
		}
		ra, err := http.ParseTime(w.Header().Get("Retry-After"))
		if want := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC); err != nil || !ra.Equal(want) {
			t.Fatalf("Retry-After %q, want %s", w.Header().Get("Retry-After"), want)
		}
	}
	if w := s.do("GET", "/healthz", ""); w.Code != http.StatusOK {
		t.Fatalf("healthz in maintenance: %d", w.Code)
	}

	// By hand, outside any slot: 503 without Retry-After.
	s2 := newTestSim(t, nil)
	s2.SetMaintenance(true)
	w := s2.do("GET", paths[0], "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "" {
		t.Fatalf("forced maintenance: %d %q", w.Code, w.Header().Get("Retry-After"))
	}
	s2.SetMaintenance(false)
	if w := s2.do("GET", paths[0], ""); w.Code != http.StatusOK {
		t.Fatalf("after maintenance: %d", w.Code)
	}
}

func TestFailRateAndLatency(t *testing.T) {
	s := newTestSim(t, func(c *Config) { c.FailRate = 1 })
	if w := s.do("GET", "/saml/RoleAssertion?token=x", ""); w.Code != http.StatusInternalServerError {
		t.Fatalf("fail rate 1: %d", w.Code)
	}
	if w := s.do("GET", "/healthz", ""); w.Code != http.StatusOK {
		t.Fatalf("healthz with fail rate 1: %d", w.Code)
	}
	s = newTestSim(t, func(c *Config) { c.Latency = 30 * time.Millisecond })
	start := time.Now()
	s.do("GET", "/saml/RoleAssertion?token=x", "")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("latency not applied: %s", d)
	}
	if _, err := New(Config{Users: DemoUsers(), CardCAs: s.cfg.CardCAs, FailRate: 1.5}); err == nil {
		t.Fatal("FailRate 1.5 accepted")
	}
}

func TestAdminAPI(t *testing.T) {
	s := newTestSim(t, func(c *Config) { c.Admin = true })
	alice := DemoUsers()[0]
	t1, _ := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
	t2, _ := s.CreateSession(alice.UID, "", cis.ModeLive)

	w := s.do("GET", "/_sim/sessions", "")
	var list []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list) != 2 {
		t.Fatalf("sessions: %v %s", err, w.Body)
	}
	for _, tk := range []cis.Ticket{t1, t2} {
		if strings.Contains(w.Body.String(), tk.Reveal()) || strings.Contains(w.Body.String(), tk.Reveal()[4:20]) {
			t.Fatal("admin list shows a ticket")
		}
	}
	for _, k := range []string{"id", "uid", "role_id", "created", "expires"} {
		if _, ok := list[0][k]; !ok {
			t.Fatalf("session entry lacks %q: %v", k, list[0])
		}
	}
	id1, _ := s.SessionID(t1)
	id2, _ := s.SessionID(t2)
	if w := s.do("POST", "/_sim/sessions/"+id1+"/expire", ""); w.Code != http.StatusNoContent {
		t.Fatalf("expire: %d", w.Code)
	}
	if w := s.do("POST", "/_sim/sessions/"+id2+"/logout", ""); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := s.do("POST", "/_sim/sessions/"+id2+"/logout", ""); w.Code != http.StatusNotFound {
		t.Fatalf("logout twice: %d", w.Code)
	}
	if len(s.Sessions()) != 0 {
		t.Fatal("sessions left")
	}
	for body, code := range map[string]int{`{"on": true}`: 200, `{"on":false}`: 200, `{}`: 400, `{"on":1}`: 400, `{"on":true,"x":1}`: 400, `{"on":true}{}`: 400} {
		if w := s.do("PUT", "/_sim/maintenance", body); w.Code != code {
			t.Fatalf("PUT maintenance %s: %d %s", body, w.Code, w.Body)
		}
	}
	s.do("PUT", "/_sim/maintenance", `{"on": true}`)
	if _, in := s.InMaintenance(); !in {
		t.Fatal("maintenance not on")
	}

	// Not from loopback: refused.
	r := httptest.NewRequest("GET", "/_sim/sessions", nil)
	r.RemoteAddr, r.Host = "192.0.2.7:4000", "127.0.0.1:7443"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("remote admin: %d", rec.Code)
	}
	// A cross-site request from a browser: refused.
	r = httptest.NewRequest("PUT", "/_sim/maintenance", strings.NewReader(`{"on":false}`))
	r.RemoteAddr, r.Host = "127.0.0.1:4000", "127.0.0.1:7443"
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("cross-site admin: %d", rec.Code)
	}
	// Admin off: not there.
	off := newTestSim(t, nil)
	if w := off.do("GET", "/_sim/sessions", ""); w.Code != http.StatusNotFound {
		t.Fatalf("admin off: %d", w.Code)
	}
}

// TestAdminAPIHost: a loopback client is served only when its Host is a
// loopback address, localhost or one of the simulator's own names (with or
// without a port): a page that DNS-rebinds its own name to 127.0.0.1 must
// not switch maintenance on.
func TestAdminAPIHost(t *testing.T) {
	s := newTestSim(t, func(c *Config) { c.Admin = true; c.Hostnames = []string{"cis-sim.example.test"} })
	put := func(host string) int {
		r := httptest.NewRequest("PUT", "/_sim/maintenance", strings.NewReader(`{"on":true}`))
		r.RemoteAddr, r.Host = "127.0.0.1:4000", host
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	for _, host := range []string{
		"rebind.attacker.example:7443", "rebind.attacker.example", "", "127.0.0.1.attacker.example", "localhost.attacker.example",
		"cis-sim.example.test.attacker.example", "attacker.example:7443@localhost", "0.0.0.0:7443", "192.0.2.7", "[::]:7443",
		"localhost:notaport:7443", "[::1", "sim.test.evil:7443",
	} {
		if code := put(host); code != http.StatusForbidden {
			t.Errorf("Host %q: %d, want 403", host, code)
		}
		if _, in := s.InMaintenance(); in {
			t.Fatalf("Host %q switched maintenance on", host)
		}
	}
	for _, host := range []string{
		"127.0.0.1", "127.0.0.1:7443", "127.9.8.7:80", "[::1]:7443", "[::1]", "localhost", "LocalHost:7443", "localhost.",
		"cis-sim.example.test", "CIS-SIM.example.test:7443", "sim.test:7443", // the last from BaseURL
	} {
		if code := put(host); code != http.StatusOK {
			t.Errorf("Host %q: %d, want 200", host, code)
		}
	}
	for _, bad := range []string{"", "sim.test:7443", "a/b", "bad host", "ünï.example"} {
		if _, err := New(Config{Users: DemoUsers(), CardCAs: []*x509.Certificate{s.cardCA}, Hostnames: []string{bad}}); err == nil {
			t.Errorf("Hostnames %q accepted", bad)
		}
	}
}

func TestSessionService(t *testing.T) {
	s := newTestSim(t, nil)
	alice := DemoUsers()[0]
	tk, _ := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
	req := func(sid string) string {
		return `<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[<SessionRequest vers="1.0" reqid="0"><GetSession reset="true"><SessionID>` + sid + `</SessionID></GetSession></SessionRequest>]]></Request></RequestSet>`
	}
	w := s.do("POST", "/amserver/sessionservice", req(tk.Reveal()))
	body := w.Body.String()
	for _, want := range []string{`state="valid"`, `<Property name="UserId" value="` + alice.UID + `">`, `<Property name="SessionHandle" value="shandle:` + tk.Reveal() + `">`, `<ResponseSet vers="1.0" svcid="session" reqid="1">`} {
		if !strings.Contains(body, want) {
			t.Fatalf("GetSession lacks %s:\n%s", want, body)
		}
	}
	// XML white space around the ticket is dropped; other Unicode space is
	// part of the SessionID, which then names no session.
	for sid, valid := range map[string]bool{"\n\t" + tk.Reveal() + " ": true, "\u00a0" + tk.Reveal(): false, tk.Reveal() + "&#x2003;": false} {
		if got := strings.Contains(s.do("POST", "/amserver/sessionservice", req(sid)).Body.String(), `state="valid"`); got != valid {
			t.Errorf("SessionID %q: valid %v, want %v", sid, got, valid)
		}
	}
	s.LogoutTicket(tk)
	if w := s.do("POST", "/amserver/sessionservice", req(tk.Reveal())); strings.Contains(w.Body.String(), "valid\"") || !strings.Contains(w.Body.String(), "Exception") {
		t.Fatalf("dead session: %s", w.Body)
	}
	if w := s.do("POST", "/amserver/sessionservice", "<RequestSet><nope"); w.Code != http.StatusBadRequest {
		t.Fatalf("malformed: %d", w.Code)
	}
	w = s.do("POST", "/amserver/namingservice", `<RequestSet vers="1.0" svcid="com.iplanet.am.naming" reqid="0"><Request><![CDATA[<NamingRequest vers="3.0" reqid="1" sessid=""><GetNamingProfile></GetNamingProfile></NamingRequest>]]></Request></RequestSet>`)
	if !strings.Contains(w.Body.String(), `name="iplanet-am-naming-session-url" value="https://sim.test:7443/amserver/sessionservice"`) {
		t.Fatalf("naming: %s", w.Body)
	}
}

func TestSessionLimitAndSweep(t *testing.T) {
	s := newTestSim(t, func(c *Config) { c.MaxSessions = 10; c.SessionTime = time.Minute })
	alice := DemoUsers()[0]
	for i := 0; i < 10; i++ {
		if _, err := s.CreateSession(alice.UID, "", cis.ModeLive); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateSession(alice.UID, "", cis.ModeLive); err == nil {
		t.Fatal("11th session accepted")
	}
	s.clock.Advance(2 * time.Minute)
	for i := 0; i < 10; i++ {
		if _, err := s.CreateSession(alice.UID, "", cis.ModeLive); err != nil {
			t.Fatalf("after expiry: %v", err)
		}
	}
	if n := s.sessions.count.Load(); n > 10 {
		t.Fatalf("count %d", n)
	}
}

func TestIdleRefreshAndExpiresField(t *testing.T) {
	s := newTestSim(t, func(c *Config) { c.SessionTime = 10 * time.Minute; c.MaxSessionTime = time.Hour })
	alice := DemoUsers()[0]
	tk, _ := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeTraining)
	created := s.clock.Now()
	info := s.Sessions()[0]
	if !info.Created.Equal(created) || !info.Expires.Equal(created.Add(10*time.Minute)) || info.Mode != cis.ModeTraining || info.RoleID != alice.Roles[0].ID {
		t.Fatalf("info %+v", info)
	}
	getSession := func(reset string) string {
		return s.do("POST", "/amserver/sessionservice", `<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[<SessionRequest vers="1.0" reqid="0"><GetSession reset="`+reset+`"><SessionID>`+tk.Reveal()+`</SessionID></GetSession></SessionRequest>]]></Request></RequestSet>`).Body.String()
	}
	s.clock.Advance(8 * time.Minute)
	if !strings.Contains(getSession("false"), `timeidle="480"`) {
		t.Fatal("timeidle at 8 minutes not 480 s")
	}
	if got := s.Sessions()[0].Expires; !got.Equal(created.Add(10 * time.Minute)) {
		t.Fatalf("reset=false refreshed the idle timer: expires %s", got)
	}
	if !strings.Contains(getSession("true"), `timeidle="0"`) {
		t.Fatal("timeidle after reset not 0")
	}
	s.clock.Advance(8 * time.Minute) // 16 minutes, 8 since the reset
	if !strings.Contains(getSession("false"), `state="valid"`) {
		t.Fatal("reset=true did not refresh the idle timer")
	}
	// The maximum lifetime bounds Expires.
	s.clock.Advance(50 * time.Minute)
	if len(s.Sessions()) != 0 {
		t.Fatal("session outlived its maximum lifetime")
	}
}
