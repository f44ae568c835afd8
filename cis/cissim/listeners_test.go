package cissim

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/opencis/cisauth/cis"
)

// received is one session event a test listener got.
type received struct {
	path        string
	contentType string
	event       cis.SessionEvent
}

// listenerSink is a listener on a real socket: cis.NotificationHandler (the
// building block applications serve) behind every path.
type listenerSink struct {
	srv    *httptest.Server
	events chan received
}

func newListenerSink(t *testing.T) *listenerSink {
	t.Helper()
	k := &listenerSink{events: make(chan received, 256)}
	k.srv = httptest.NewServer(k.handler(t))
	t.Cleanup(k.srv.Close)
	return k
}

// handler is the sink's handler, for tests that serve it without a socket.
func (k *listenerSink) handler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, err := cis.NewNotificationHandler(cis.NotificationHandlerConfig{
			OnEvents: func(_ context.Context, events []cis.SessionEvent) {
				for _, e := range events {
					k.events <- received{r.URL.Path, r.Header.Get("Content-Type"), e}
				}
			},
			OnRejected: func(err error) { t.Errorf("the simulator's notification was refused: %v", err) },
		})
		if err != nil {
			t.Error(err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (k *listenerSink) url(path string) string { return k.srv.URL + path }

// drain returns what arrived so far. Call it after WaitNotifications: every
// notification queued before has then been handed over.
func (k *listenerSink) drain() []received {
	var out []received
	for {
		select {
		case r := <-k.events:
			out = append(out, r)
		default:
			return out
		}
	}
}

func (s *testSim) waitNotifications(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitNotifications(ctx); err != nil {
		t.Fatalf("notifications still pending: %v", err)
	}
}

// listenRequest is an AddSessionListener RequestSet as clients write it.
func listenRequest(svcid, sid, url string, urlFirst bool) string {
	children := "<SessionID>" + sid + "</SessionID><URL>" + url + "</URL>"
	if urlFirst {
		children = "<URL>" + url + "</URL><SessionID>" + sid + "</SessionID>"
	}
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><RequestSet vers="1.0" svcid="` + svcid + `" reqid="7"><Request><![CDATA[<SessionRequest vers="1.0" reqid="3"><AddSessionListener>` +
		children + `</AddSessionListener></SessionRequest>]]></Request></RequestSet>`
}

// listen registers url for t through the session service and returns the
// answer, checked with the cis package's reader of it.
func (s *testSim) listen(t *testing.T, tk cis.Ticket, url string) error {
	t.Helper()
	body, err := cis.AddSessionListenerRequest(tk, url)
	if err != nil {
		t.Fatal(err)
	}
	w := s.do("POST", "/amserver/sessionservice", string(body))
	if w.Code != http.StatusOK {
		t.Fatalf("AddSessionListener: HTTP %d %s", w.Code, w.Body)
	}
	return cis.ParseAddSessionListenerResponse(w.Body.Bytes())
}

func TestAddSessionListener(t *testing.T) {
	s := newTestSim(t, nil)
	alice := DemoUsers()[0]
	tk, err := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
	if err != nil {
		t.Fatal(err)
	}
	// Both child orders, both svcid spellings; the answer echoes reqid.
	for i, c := range []struct {
		svcid    string
		urlFirst bool
	}{{"session", false}, {"Session", true}, {"session", true}, {"Session", false}} {
		u := "http://127.0.0.1:1/n" + string(rune('a'+i))
		w := s.do("POST", "/amserver/sessionservice", listenRequest(c.svcid, "\n "+tk.Reveal()+" ", u, c.urlFirst))
		body := w.Body.String()
		if !strings.Contains(body, `<SessionResponse vers="1.0" reqid="3"><AddSessionListener><OK></OK></AddSessionListener></SessionResponse>`) ||
			!strings.Contains(body, `<ResponseSet vers="1.0" svcid="session" reqid="7">`) {
			t.Fatalf("%+v: %s", c, body)
		}
		if err := cis.ParseAddSessionListenerResponse(w.Body.Bytes()); err != nil {
			t.Fatalf("%+v: the cis reader refuses the answer: %v", c, err)
		}
	}
	// The same URL again changes nothing (and is OK); four more fill the cap.
	if err := s.listen(t, tk, "http://127.0.0.1:1/na"); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	for _, p := range []string{"e", "f", "g", "h"} {
		if err := s.listen(t, tk, "https://app.example/n"+p); err != nil {
			t.Fatalf("listener %s: %v", p, err)
		}
	}
	if got := len(s.listeners.urls(mustKey(t, tk))); got != MaxSessionListeners {
		t.Fatalf("%d listeners held, want %d", got, MaxSessionListeners)
	}
	w := s.do("POST", "/amserver/sessionservice", listenRequest("session", tk.Reveal(), "http://127.0.0.1:1/ni", false))
	if !strings.Contains(w.Body.String(), "<Exception>"+tk.Reveal()+" Too many session listeners.</Exception>") {
		t.Fatalf("past the cap: %s", w.Body)
	}
	if err := cis.ParseAddSessionListenerResponse(w.Body.Bytes()); !errors.Is(err, cis.ErrListenerRefused) {
		t.Fatalf("past the cap: %v", err)
	}
	// A URL already held is still OK at the cap.
	if err := s.listen(t, tk, "http://127.0.0.1:1/nb"); err != nil {
		t.Fatalf("duplicate at the cap: %v", err)
	}

	// Bad URLs, on a session with room.
	tk2, _ := s.CreateSession(alice.UID, "", cis.ModeLive)
	for _, u := range []string{"/relative", "ftp://app.example/n", "mailto:a@b", "http:///n", "http://", "not a url", "http://a/" + strings.Repeat("x", maxListenerURL)} {
		w := s.do("POST", "/amserver/sessionservice", listenRequest("session", tk2.Reveal(), u, false))
		if !strings.Contains(w.Body.String(), "<Exception>"+tk2.Reveal()+" Invalid notification URL.</Exception>") {
			t.Errorf("URL %q: %s", u, w.Body)
		}
	}
	// Dead, unknown and malformed tickets: the spec's exception, sid first.
	dead, _ := s.CreateSession(alice.UID, "", cis.ModeLive)
	if err := s.LogoutTicket(dead); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{dead.Reveal(), "AQICnotmine@AAJTSQACMDE=#", "x]]>y"} {
		w := s.do("POST", "/amserver/sessionservice", listenRequest("session", strings.ReplaceAll(sid, ">", "&gt;"), "http://127.0.0.1:1/n", false))
		want := "<Exception>" + strings.ReplaceAll(sid, ">", "&gt;") + " Invalid session ID.</Exception>"
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("sid %q: %s", sid, w.Body)
		}
		if err := cis.ParseAddSessionListenerResponse(w.Body.Bytes()); !errors.Is(err, cis.ErrSessionInvalid) {
			t.Errorf("sid %q: %v", sid, err)
		}
	}
	// A missing URL or session id; another service's svcid.
	w = s.do("POST", "/amserver/sessionservice", strings.Replace(listenRequest("session", tk2.Reveal(), "http://a/n", false), "<URL>http://a/n</URL>", "", 1))
	if !strings.Contains(w.Body.String(), "Invalid notification URL.") {
		t.Errorf("no URL: %s", w.Body)
	}
	w = s.do("POST", "/amserver/sessionservice", strings.Replace(listenRequest("session", tk2.Reveal(), "http://a/n", false), "<SessionID>"+tk2.Reveal()+"</SessionID>", "", 1))
	if !strings.Contains(w.Body.String(), "<Exception> Invalid session ID.</Exception>") {
		t.Errorf("no SessionID: %s", w.Body)
	}
	if w := s.do("POST", "/amserver/sessionservice", listenRequest("naming", tk2.Reveal(), "http://a/n", false)); w.Code != http.StatusBadRequest {
		t.Errorf("svcid naming: HTTP %d", w.Code)
	}
	if got := len(s.listeners.urls(mustKey(t, tk2))); got != 0 {
		t.Errorf("%d listeners held after refusals", got)
	}
	metrics := s.do("GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`cissim_session_listener_registrations_total{result="ok"} 8`,
		`cissim_session_listener_registrations_total{result="duplicate"} 2`,
		`cissim_session_listener_registrations_total{result="limit"} 1`,
		`cissim_session_listener_registrations_total{result="bad_url"} 8`,
		`cissim_session_listener_registrations_total{result="invalid_session"} 4`,
		`cissim_session_listeners 8`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func mustKey(t *testing.T, tk cis.Ticket) *sessionKey {
	t.Helper()
	k, ok := parseTicket(tk.Reveal())
	if !ok {
		t.Fatal("not a simulator ticket")
	}
	return &k
}

// gasLogout is the agent's logout request for tk.
func gasLogout(tk cis.Ticket, uid string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE USER SYSTEM "gpOBJECT.DTD">
<gpOBJECT>
<gpPARAM name="service">LOGOUT</gpPARAM>
<gpPARAM name="sso_ticket">` + tk.Reveal() + `</gpPARAM>
<gpPARAM name="log_session_id">Ao9qufl+uA</gpPARAM>
<gpPARAM name="device_id">k3x9z0ab,ClientIP=10.1.2.3</gpPARAM>
<gpPARAM name="uid">` + uid + `</gpPARAM>
</gpOBJECT>`
}

// TestNotificationOnEveryEnding ends a session with listeners each way a
// session ends and checks each listener gets exactly one notification, of
// the right type and state, that the cis parser reads back.
func TestNotificationOnEveryEnding(t *testing.T) {
	alice := DemoUsers()[0]
	admin := func(action string) func(*testSim, cis.Ticket) {
		return func(s *testSim, tk cis.Ticket) {
			id, err := s.SessionID(tk)
			if err != nil {
				t.Fatal(err)
			}
			if w := s.do("POST", "/_sim/sessions/"+id+"/"+action, ""); w.Code != http.StatusNoContent {
				t.Fatalf("admin %s: HTTP %d %s", action, w.Code, w.Body)
			}
		}
	}
	control := func(f func(*Simulator, cis.Ticket) error) func(*testSim, cis.Ticket) {
		return func(s *testSim, tk cis.Ticket) {
			if err := f(s.Simulator, tk); err != nil {
				t.Fatal(err)
			}
		}
	}
	expireDue := func(d time.Duration) func(*testSim, cis.Ticket) {
		return func(s *testSim, _ cis.Ticket) {
			s.clock.Advance(d)
			if n := s.ExpireDue(); n != 1 {
				t.Fatalf("ExpireDue ended %d sessions", n)
			}
		}
	}
	for _, c := range []struct {
		name  string
		end   func(*testSim, cis.Ticket)
		typ   cis.SessionEventType
		state string
	}{
		{"GAS logout", func(s *testSim, tk cis.Ticket) {
			if out := s.do("POST", "/login/authlogout", gasLogout(tk, alice.UID)).Body.String(); !strings.Contains(out, "<STATUS>OK</STATUS>") {
				t.Fatalf("logout: %s", out)
			}
		}, cis.SessionLogout, cis.SessionStateDestroyed},
		{"admin logout", admin("logout"), cis.SessionLogout, cis.SessionStateDestroyed},
		{"admin expire", admin("expire"), cis.SessionDestroyed, cis.SessionStateDestroyed},
		{"LogoutTicket", control((*Simulator).LogoutTicket), cis.SessionLogout, cis.SessionStateDestroyed},
		{"ExpireTicket", control((*Simulator).ExpireTicket), cis.SessionDestroyed, cis.SessionStateDestroyed},
		{"IdleTimeoutTicket", control((*Simulator).IdleTimeoutTicket), cis.SessionIdleTimeout, cis.SessionStateInvalid},
		{"MaxTimeoutTicket", control((*Simulator).MaxTimeoutTicket), cis.SessionMaxTimeout, cis.SessionStateInvalid},
		// The session under test started 5 minutes before now (see below).
		{"idle timeout by the clock", expireDue(11 * time.Minute), cis.SessionIdleTimeout, cis.SessionStateInvalid},
		{"max timeout by the clock", expireDue(56 * time.Minute), cis.SessionMaxTimeout, cis.SessionStateInvalid},
		{"idle timeout noticed on use", func(s *testSim, tk cis.Ticket) {
			s.clock.Advance(11 * time.Minute)
			if _, body := s.roleAssertion(t, tk); !strings.Contains(body, "RequestDenied") {
				t.Fatal("RoleAssertion for a timed-out session")
			}
		}, cis.SessionIdleTimeout, cis.SessionStateInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			sink := newListenerSink(t)
			s := newTestSim(t, func(cfg *Config) {
				cfg.Admin = true
				cfg.SessionTime, cfg.MaxSessionTime = 15*time.Minute, time.Hour
				if strings.HasPrefix(c.name, "max") {
					cfg.SessionTime = 10 * time.Hour
				}
			})
			tk, err := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
			if err != nil {
				t.Fatal(err)
			}
			// Another session with a listener, 5 minutes younger: it
			// outlives tk's timeouts and must hear nothing of tk's end.
			s.clock.Advance(5 * time.Minute)
			other, _ := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
			for _, u := range []string{sink.url("/a"), sink.url("/b"), sink.url("/a")} {
				if err := s.listen(t, tk, u); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.listen(t, other, sink.url("/other")); err != nil {
				t.Fatal(err)
			}
			at := s.clock.Now()
			c.end(s, tk)
			s.waitNotifications(t)
			got := sink.drain()
			if len(got) != 2 || got[0].path == got[1].path {
				t.Fatalf("%d notifications: %+v", len(got), got)
			}
			for _, r := range got {
				e := r.event
				if r.path != "/a" && r.path != "/b" || r.contentType != "text/xml;charset=UTF-8" {
					t.Errorf("POST to %s, Content-Type %q", r.path, r.contentType)
				}
				if e.Type != c.typ || e.Session.State != c.state || e.Session.Ticket != tk || !e.Ended() {
					t.Errorf("%s: %v, want type %v state %s", r.path, e, c.typ, c.state)
				}
				if uid, _ := e.Session.Properties.Get("UserId"); uid != alice.UID || e.Session.ClientID != "uid="+alice.UID+",ou=People,o=nhs" {
					t.Errorf("UserId %q, cid %q", uid, e.Session.ClientID)
				}
				if e.Time.Before(at) || e.Time.After(s.clock.Now()) {
					t.Errorf("Time %v not on the simulator's clock (%v)", e.Time, at)
				}
			}
			// Once: the session is gone, its listeners with it.
			if err := s.LogoutTicket(tk); !errors.Is(err, ErrNoSession) {
				t.Fatalf("second end: %v", err)
			}
			s.ExpireDue()
			s.waitNotifications(t)
			if more := sink.drain(); len(more) != 0 {
				t.Fatalf("more notifications: %+v", more)
			}
			if metrics := s.do("GET", "/metrics", "").Body.String(); !strings.Contains(metrics, `cissim_notifications_sent_total{type="`+typeLabel(c.typ)+`"} 2`) ||
				!strings.Contains(metrics, "cissim_session_listeners 1\n") {
				t.Errorf("metrics:\n%s", grepLines(metrics, "notification", "listeners"))
			}
		})
	}
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) && !strings.HasPrefix(l, "#") {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestRoleChangeNotification(t *testing.T) {
	bob := DemoUsers()[1]
	for _, flag := range []bool{false, true} {
		sink := newListenerSink(t)
		s := newTestSim(t, func(cfg *Config) { cfg.NotifyRoleChange = flag })
		tk, err := s.CreateSession(bob.UID, bob.Roles[0].ID, cis.ModeLive)
		if err != nil {
			t.Fatal(err)
		}
		if out := s.selectRole(t, tk, bob.Roles[1].ID, "0"); !strings.Contains(out, "OK") {
			t.Fatalf("select before listening: %s", out)
		}
		if err := s.listen(t, tk, sink.url("/n")); err != nil {
			t.Fatal(err)
		}
		if out := s.selectRole(t, tk, bob.Roles[2].ID, "1"); !strings.Contains(out, "OK") {
			t.Fatalf("select: %s", out)
		}
		if out := s.selectRole(t, tk, "999999999999", "0"); strings.Contains(out, "OK") {
			t.Fatalf("foreign role selected: %s", out)
		}
		s.waitNotifications(t)
		got := sink.drain()
		if !flag {
			if len(got) != 0 {
				t.Fatalf("without the flag: %+v", got)
			}
			continue
		}
		if len(got) != 1 {
			t.Fatalf("with the flag: %d notifications", len(got))
		}
		e := got[0].event
		if role, _ := e.Session.Properties.Get("ssbSessionRoleUid"); e.Type != cis.SessionPropertyChanged || e.Session.State != cis.SessionStateValid || e.Ended() || role != bob.Roles[2].ID {
			t.Fatalf("role change: %v, role %s", e, role)
		}
		// The session lives on, its listeners with it.
		if err := s.LogoutTicket(tk); err != nil {
			t.Fatal(err)
		}
		s.waitNotifications(t)
		if got := sink.drain(); len(got) != 1 || got[0].event.Type != cis.SessionLogout {
			t.Fatalf("after the role change, logout: %+v", got)
		}
	}
}

// TestUnreachableListenerDoesNotSlowTheSimulator: a listener that holds a
// notification open, and one on a closed port, cost the protocol nothing:
// while the only delivery goroutine is stuck, logouts, role assertions and
// session service requests are answered, notifications past the queue are
// dropped and counted, and a listener that never answers times out.
func TestUnreachableListenerDoesNotSlowTheSimulator(t *testing.T) {
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Write([]byte("OK\r\n"))
	}))
	defer stuck.Close()
	defer close(release)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/gone"
	ln.Close()

	s := newTestSim(t, func(cfg *Config) { cfg.NotifyWorkers, cfg.NotifyQueue = 1, 2 })
	alice := DemoUsers()[0]
	var tks []cis.Ticket
	for i := range 6 {
		tk, err := s.CreateSession(alice.UID, alice.Roles[0].ID, cis.ModeLive)
		if err != nil {
			t.Fatal(err)
		}
		u := stuck.URL + "/n"
		if i == 5 {
			u = closed
		}
		if err := s.listen(t, tk, u); err != nil {
			t.Fatal(err)
		}
		tks = append(tks, tk)
	}
	// The first logout's notification takes the one delivery goroutine and
	// stays in the listener.
	if out := s.do("POST", "/login/authlogout", gasLogout(tks[0], alice.UID)).Body.String(); !strings.Contains(out, "OK") {
		t.Fatal(out)
	}
	<-entered
	// Meanwhile every protocol request is answered: two more notifications
	// are queued, two dropped.
	for _, tk := range tks[1:5] {
		if d, _ := s.roleAssertion(t, tk); d.Status.Code.Value != "samlp:Success" {
			t.Fatal("RoleAssertion refused while a listener is stuck")
		}
		if out := s.do("POST", "/login/authlogout", gasLogout(tk, alice.UID)).Body.String(); !strings.Contains(out, "OK") {
			t.Fatal(out)
		}
	}
	if len(entered) != 0 {
		t.Fatal("a second delivery started while the only worker is stuck")
	}
	metrics := s.do("GET", "/metrics", "").Body.String()
	if !strings.Contains(metrics, `cissim_notifications_failed_total{reason="dropped",type="logout"} 2`) {
		t.Fatalf("drops not counted:\n%s", grepLines(metrics, "notifications"))
	}
	release <- struct{}{}
	for range 2 {
		<-entered
		release <- struct{}{}
	}
	s.waitNotifications(t)
	// The closed port: one attempt, counted as failed; the session is gone.
	if err := s.ExpireTicket(tks[5]); err != nil {
		t.Fatal(err)
	}
	s.waitNotifications(t)
	metrics = s.do("GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`cissim_notifications_sent_total{type="logout"} 3`,
		`cissim_notifications_failed_total{reason="error",type="destroy"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(metrics, "notifications"))
		}
	}
}

func TestListenerThatNeverAnswersTimesOut(t *testing.T) {
	done := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client hang up
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer silent.Close()
	defer close(done)
	s := newTestSim(t, func(cfg *Config) { cfg.NotifyTimeout = 100 * time.Millisecond })
	alice := DemoUsers()[0]
	tk, _ := s.CreateSession(alice.UID, "", cis.ModeLive)
	if err := s.listen(t, tk, silent.URL); err != nil {
		t.Fatal(err)
	}
	if err := s.IdleTimeoutTicket(tk); err != nil {
		t.Fatal(err)
	}
	s.waitNotifications(t) // returns once the timeout has ended the attempt
	if metrics := s.do("GET", "/metrics", "").Body.String(); !strings.Contains(metrics, `cissim_notifications_failed_total{reason="error",type="idle_timeout"} 1`) {
		t.Fatalf("timeout not counted:\n%s", grepLines(metrics, "notifications"))
	}
}

func TestNotifyConfig(t *testing.T) {
	for name, edit := range map[string]func(*Config){
		"negative timeout": func(c *Config) { c.NotifyTimeout = -time.Second },
		"negative workers": func(c *Config) { c.NotifyWorkers = -1 },
		"negative queue":   func(c *Config) { c.NotifyQueue = -1 },
	} {
		cfg := Config{Users: DemoUsers(), CardCAs: newTestSim(t, nil).cfg.CardCAs}
		edit(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s := newTestSim(t, nil)
	if s.cfg.NotifyTimeout != DefaultNotifyTimeout || s.cfg.NotifyWorkers != DefaultNotifyWorkers || s.cfg.NotifyQueue != DefaultNotifyQueue || s.cfg.NotifyRoleChange {
		t.Errorf("defaults: %v %d %d %v", s.cfg.NotifyTimeout, s.cfg.NotifyWorkers, s.cfg.NotifyQueue, s.cfg.NotifyRoleChange)
	}
}

// TestSessionStaysSmall: the listened flag fits in the padding.
func TestSessionStaysSmall(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 40 {
		t.Fatalf("session is %d bytes, was 40", n)
	}
}
