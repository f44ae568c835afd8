package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

// apiHarness is a harness with the Ticket API served on loopback TCP and a
// unix socket.
type apiHarness struct {
	*harness
	api    *Server
	secret string
	socket string
}

func newAPIHarness(t *testing.T, origins []string, opts ...harnessOption) *apiHarness {
	t.Helper()
	h := newHarness(t, opts...)
	dir := t.TempDir()
	s, err := NewServer(h.a, ServerConfig{Addr: "127.0.0.1:0", Socket: filepath.Join(dir, "run", "agent.sock"),
		SecretFile: filepath.Join(dir, "state", "secret"), AllowedOrigins: origins, UID: -1, TicketWait: waitFor})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v", err)
		}
	})
	secret, err := ReadSecret(filepath.Join(dir, "state", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	return &apiHarness{harness: h, api: s, secret: string(secret), socket: filepath.Join(dir, "run", "agent.sock")}
}

// call makes one request to the TCP listener and decodes a JSON answer.
func (h *apiHarness) call(method, path string, hdr map[string]string, body string) (*http.Response, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.api.URL()+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return doJSON(h.t, http.DefaultClient, req)
}

func doJSON(t *testing.T, c *http.Client, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &v)
	return resp, v
}

func (h *apiHarness) bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + h.secret}
}

// unixClient talks to the unix socket.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
}

// TestTicketAPI: the Identity Agent's calls over TCP with the secret and
// over the unix socket with peer credentials.
func TestTicketAPI(t *testing.T) {
	h := newAPIHarness(t, nil, withRole("555000000302"))

	resp, v := h.call("GET", "/ticket?noauth=1", h.bearer(), "")
	if resp.StatusCode != http.StatusNotFound || v["state"] != string(PhaseNoCard) {
		t.Fatalf("noauth without a session: %d %v", resp.StatusCode, v)
	}
	// GET /ticket starts a login and waits for it.
	type answer struct {
		resp *http.Response
		v    map[string]any
	}
	got := make(chan answer, 1)
	go func() {
		r, v := h.call("GET", "/ticket", h.bearer(), "")
		got <- answer{r, v}
	}()
	h.readers.insert(readerA, newFakeCard(t, h.srv, uidChan, 0))
	h.enterPIN(testPIN, false)
	a := <-got
	if a.resp.StatusCode != 200 || a.v["uid"] != uidChan || a.v["selected_role_id"] != "555000000302" ||
		a.v["name"] != "Patel Chandra Ms" || a.resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /ticket: %d %v", a.resp.StatusCode, a.v)
	}
	tk := cis.Ticket(a.v["ticket"].(string))
	if as, err := h.validate(tk); err != nil || as.SelectedRoleID != "555000000302" {
		t.Fatalf("the API's ticket at the SSB: %v", err)
	}

	// The unix socket needs no secret: its peer is the desktop user.
	req, _ := http.NewRequest("GET", "http://agent/ticket?noauth=1", nil)
	resp, v = doJSON(t, unixClient(h.socket), req)
	if resp.StatusCode != 200 || v["ticket"] != tk.Reveal() {
		t.Fatalf("GET /ticket over the socket: %d %v", resp.StatusCode, v)
	}

	// Status: no ticket in it.
	resp, v = h.call("GET", "/status", h.bearer(), "")
	b, _ := json.Marshal(v)
	if resp.StatusCode != 200 || v["state"] != string(PhaseAuthenticated) || v["uid"] != uidChan || v["card_present"] != true ||
		v["mode"] != "normal" || len(v["roles"].([]any)) != 2 || strings.Contains(string(b), tk.Reveal()) {
		t.Fatalf("GET /status: %d %s", resp.StatusCode, b)
	}

	// POST /role switches through GAS; an unknown role is refused.
	resp, v = h.call("POST", "/role", map[string]string{"Authorization": "Bearer " + h.secret, "Content-Type": "application/json"},
		`{"role_id":"555000000301"}`)
	if resp.StatusCode != 200 || v["selected_role_id"] != "555000000301" {
		t.Fatalf("POST /role: %d %v", resp.StatusCode, v)
	}
	if as, err := h.validate(tk); err != nil || as.SelectedRoleID != "555000000301" {
		t.Errorf("after the switch the SSB says %v, %v", as, err)
	}
	resp, _ = h.call("POST", "/role", map[string]string{"Authorization": "Bearer " + h.secret, "Content-Type": "application/x-www-form-urlencoded"},
		`role_id=555000000101`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /role with someone else's role: %d", resp.StatusCode)
	}

	// POST /ticket/new: a fresh session.
	go func() {
		r, v := h.call("POST", "/ticket/new", h.bearer(), "")
		got <- answer{r, v}
	}()
	h.enterPIN(testPIN, false)
	a = <-got
	if a.resp.StatusCode != 200 || a.v["ticket"] == tk.Reveal() {
		t.Fatalf("POST /ticket/new: %d", a.resp.StatusCode)
	}
	if _, err := h.validate(tk); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("the old ticket after /ticket/new: %v", err)
	}

	// POST /logout.
	resp, v = h.call("POST", "/logout", h.bearer(), "")
	if resp.StatusCode != 200 || v["state"] != string(PhaseCardIn) {
		t.Fatalf("POST /logout: %d %v", resp.StatusCode, v)
	}
	if _, err := h.validate(cis.Ticket(a.v["ticket"].(string))); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("the ticket after /logout: %v", err)
	}
}

// TestTicketAPIRefusals: no secret, a wrong one, a DNS-rebinding Host, an
// origin not on the list.
func TestTicketAPIRefusals(t *testing.T) {
	h := newAPIHarness(t, []string{"https://app.example.nhs.uk"})
	port := h.api.Addr()[strings.LastIndexByte(h.api.Addr(), ':'):]
	for name, c := range map[string]struct {
		hdr  map[string]string
		want int
	}{
		"no secret":          {nil, http.StatusUnauthorized},
		"wrong secret":       {map[string]string{"Authorization": "Bearer " + strings.Repeat("x", 43)}, http.StatusUnauthorized},
		"empty secret":       {map[string]string{"Authorization": "Bearer "}, http.StatusUnauthorized},
		"rebinding Host":     {map[string]string{"Authorization": "Bearer " + h.secret, "Host": "evil.example" + port}, http.StatusForbidden},
		"other port":         {map[string]string{"Authorization": "Bearer " + h.secret, "Host": "127.0.0.1:1"}, http.StatusForbidden},
		"origin not listed":  {map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		"origin with secret": {map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer " + h.secret}, http.StatusForbidden},
		"null origin":        {map[string]string{"Origin": "null"}, http.StatusForbidden},
		"navigation":         {map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/ticket?noauth=1", "/status"} {
				resp, v := h.call("GET", path, c.hdr, "")
				if resp.StatusCode != c.want || resp.Header.Get("Access-Control-Allow-Origin") != "" || v["error"] == nil {
					t.Errorf("%s: %d %v (ACAO %q), want %d", path, resp.StatusCode, v, resp.Header.Get("Access-Control-Allow-Origin"), c.want)
				}
			}
		})
	}
	if qs := h.a.Prompts().Pending(); len(qs) != 0 {
		t.Errorf("refused requests asked the person: %+v", qs)
	}
}

// TestTicketAPIOrigins: an allowed origin gets CORS answers, and the
// person is asked once before it gets anything; a refusal sticks.
func TestTicketAPIOrigins(t *testing.T) {
	h := newAPIHarness(t, []string{"https://app.example.nhs.uk", "http://localhost:8080"})
	h.loginAlice()
	origin := map[string]string{"Origin": "https://app.example.nhs.uk"}

	resp, _ := h.call("OPTIONS", "/ticket", map[string]string{"Origin": "https://app.example.nhs.uk",
		"Access-Control-Request-Method": "GET", "Access-Control-Request-Private-Network": "true"}, "")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.nhs.uk" ||
		resp.Header.Get("Access-Control-Allow-Private-Network") != "true" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if qs := h.a.Prompts().Pending(); len(qs) != 0 {
		t.Fatalf("a preflight asked the person: %+v", qs)
	}

	type answer struct {
		resp *http.Response
		v    map[string]any
	}
	got := make(chan answer, 1)
	go func() {
		r, v := h.call("GET", "/ticket", origin, "")
		got <- answer{r, v}
	}()
	q := h.question(AskOrigin)
	if q.Origin != "https://app.example.nhs.uk" || !strings.Contains(q.Text, "GET /ticket") {
		t.Errorf("origin question %+v", q)
	}
	h.a.Prompts().Answer(q.ID, Answer{Allow: true})
	a := <-got
	if a.resp.StatusCode != 200 || a.v["ticket"] == "" || a.resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.nhs.uk" {
		t.Fatalf("allowed origin: %d %v", a.resp.StatusCode, a.v)
	}
	// Asked once: the next request goes through.
	if resp, _ := h.call("GET", "/status", origin, ""); resp.StatusCode != 200 {
		t.Errorf("second request: %d", resp.StatusCode)
	}

	// The other origin: the person says no, and it is not asked again.
	other := map[string]string{"Origin": "http://localhost:8080"}
	go func() {
		r, v := h.call("GET", "/ticket", other, "")
		got <- answer{r, v}
	}()
	q = h.question(AskOrigin)
	h.a.Prompts().Answer(q.ID, Answer{Allow: false})
	if a := <-got; a.resp.StatusCode != http.StatusForbidden || a.v["ticket"] != nil {
		t.Fatalf("refused origin: %d %v", a.resp.StatusCode, a.v)
	}
	if resp, _ := h.call("GET", "/status", other, ""); resp.StatusCode != http.StatusForbidden || len(h.a.Prompts().Pending()) != 0 {
		t.Errorf("refused origin again: %d, questions %v", resp.StatusCode, h.a.Prompts().Pending())
	}
}

// TestEventsStream: GET /events sends the status, then the events.
func TestEventsStream(t *testing.T) {
	h := newAPIHarness(t, nil)
	req, _ := http.NewRequest("GET", h.api.URL()+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+h.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan [2]string, 32)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var kind string
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "event: "); ok {
				kind = k
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				events <- [2]string{kind, d}
			}
		}
		close(events)
	}()
	next := func(kind string) string {
		t.Helper()
		timeout := time.After(waitFor)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream ended before %s", kind)
				}
				if ev[0] == kind {
					return ev[1]
				}
			case <-timeout:
				t.Fatalf("no %s event", kind)
			}
		}
	}
	if d := next("status"); !strings.Contains(d, `"state":"no-card"`) {
		t.Errorf("first event %s", d)
	}
	_, ti := h.loginAlice()
	next("inserted")
	if d := next("authenticated"); !strings.Contains(d, uidAlice) || strings.Contains(d, ti.Ticket.Reveal()) {
		t.Errorf("authenticated %s", d)
	}
	next("role-selected")
	h.readers.pull(readerA)
	next("removed")
	next("logged-out")
}

// TestWebPage: the loopback page's one-time link, cookie, and questions
// answered through it.
func TestWebPage(t *testing.T) {
	h := newAPIHarness(t, nil)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := browser.Get(h.api.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get("/ui/"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("page without the link: %d", r.StatusCode)
	}
	if r := get("/ui/login?code=guess"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a guessed code: %d", r.StatusCode)
	}
	// cis-agent ui asks the API for a link.
	resp, v := h.call("POST", "/ui/link", h.bearer(), "")
	link, _ := v["url"].(string)
	if resp.StatusCode != 200 || !strings.HasPrefix(link, h.api.URL()+"/ui/login?code=") {
		t.Fatalf("POST /ui/link: %d %v", resp.StatusCode, v)
	}
	u, _ := url.Parse(link)
	r := get(u.RequestURI())
	if r.StatusCode != 200 || r.Request.URL.Path != "/ui/" || r.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("after the link: %d %s %v", r.StatusCode, r.Request.URL, r.Header)
	}
	if r := get(u.RequestURI()); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the link used twice: %d", r.StatusCode)
	}
	for _, asset := range []string{"/ui/app.js", "/ui/style.css"} {
		if r := get(asset); r.StatusCode != 200 {
			t.Errorf("%s: %d", asset, r.StatusCode)
		}
	}

	post := func(path, body string, hdr map[string]string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", h.api.URL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return doJSON(t, browser, req)
	}
	card := newFakeCard(t, h.srv, uidAlice, 0)
	card.tries = 1
	h.readers.insert(readerA, card)
	q := h.question(AskPIN)
	// The page's state carries the question, final try flagged.
	req, _ := http.NewRequest("GET", h.api.URL()+"/ui/state", nil)
	_, st := doJSON(t, browser, req)
	qs, _ := st["questions"].([]any)
	if len(qs) != 1 || qs[0].(map[string]any)["final_try"] != true {
		t.Fatalf("state %v", st)
	}
	// Another site cannot answer for the person (CSRF), nor can a form.
	if r, _ := post("/ui/answer", `{"id":1,"pin":"246810"}`, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site answer: %d", r.StatusCode)
	}
	if r, _ := post("/ui/answer", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form answer: %d", r.StatusCode)
	}
	if r, _ := post("/ui/answer", `{"id":`+jsonNumber(q.ID)+`,"pin":"24 6810"}`, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("PIN with a space: %d", r.StatusCode)
	}
	// The final try needs the box ticked: without it nothing is sent.
	if r, _ := post("/ui/answer", `{"id":`+jsonNumber(q.ID)+`,"pin":"246810"}`, nil); r.StatusCode != 200 {
		t.Fatalf("answer: %d", r.StatusCode)
	}
	q = h.question(AskPIN)
	if pins, _ := card.counts(); pins != 0 || !strings.HasPrefix(q.Text, "PIN not sent") {
		t.Fatalf("unconfirmed final try: %d PINs sent, question %q", pins, q.Text)
	}
	if r, _ := post("/ui/answer", `{"id":`+jsonNumber(q.ID)+`,"pin":"246810","confirm_final_try":true}`, nil); r.StatusCode != 200 {
		t.Fatalf("answer: %d", r.StatusCode)
	}
	h.event(EventAuthenticated)
	if r, v := post("/ui/logout", `{}`, nil); r.StatusCode != 200 || v["state"] != string(PhaseCardIn) {
		t.Errorf("logout from the page: %d %v", r.StatusCode, v)
	}
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestSecretFile: created 0600, reused, refused when others can read it.
func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", "secret")
	s1, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(filepath.Dir(path))
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 || len(s1) < 40 {
		t.Fatalf("file %v, dir %v, secret of %d bytes", fi.Mode(), di.Mode(), len(s1))
	}
	if s2, err := LoadOrCreateSecret(path); err != nil || string(s2) != string(s1) {
		t.Fatalf("second load: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateSecret(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable secret: %v", err)
	}
	if _, err := NewServer(nil, ServerConfig{Addr: "0.0.0.0:0", SecretFile: path}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("non-loopback address: %v", err)
	}
}
