package records_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/examples/webapp/internal/records"
	"github.com/opencis/cisauth/middleware"
)

func TestNewRefusesBadConfig(t *testing.T) {
	f := newFixture(t, nil)
	env := f.srv.Env()
	for name, cfg := range map[string]records.Config{
		"agent URL without scheme":  {AgentURL: "127.0.0.1:7444", CIS: middleware.Config{Env: env}},
		"agent URL with a query":    {AgentURL: "http://127.0.0.1:7444/?x=1", CIS: middleware.Config{Env: env}},
		"agent URL of another kind": {AgentURL: "javascript:alert(1)", CIS: middleware.Config{Env: env}},
		"agent URL breaking CSP":    {AgentURL: "http://127.0.0.1:7444;script-src", CIS: middleware.Config{Env: env}},
		"moved endpoint":            {CIS: middleware.Config{Env: env, LoginPath: "/auth/login"}},
		"negative session check":    {SessionCheck: -1, CIS: middleware.Config{Env: env}},
		"no environment":            {},
	} {
		if _, err := records.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	f := newFixture(t, func(_ *fixture, cfg *records.Config) { cfg.AgentURL = "http://127.0.0.1:7444" })
	c := f.client()
	wantCSP := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self' http://127.0.0.1:7444; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	for _, path := range []string{"/login", "/logged-out", "/static/login.js", "/patients", "/cis/session"} {
		resp, _ := f.get(c, path)
		h := resp.Header
		if got := h.Get("Content-Security-Policy"); got != wantCSP {
			t.Errorf("%s: CSP %q, want %q", path, got, wantCSP)
		}
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s %q, want %q", path, k, h.Get(k), v)
			}
		}
	}
}

func TestWithoutSessionGoesToLogin(t *testing.T) {
	f := newFixture(t, nil)
	c := f.client()
	for path, want := range map[string]string{
		"/":                    "/login",
		"/patients":            "/login?return=%2Fpatients",
		"/patients/9991234578": "/login?return=%2Fpatients%2F9991234578",
		"/admin":               "/login?return=%2Fadmin",
	} {
		resp, _ := f.get(c, path)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %s to %q, want 303 to %q", path, resp.Status, resp.Header.Get("Location"), want)
		}
	}
	// The public pages and the static files need no session.
	for _, path := range []string{"/login", "/logged-out", "/static/style.css", "/static/session.js"} {
		if resp, _ := f.get(c, path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	if resp, _ := f.get(c, "/static/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/ lists the directory: %s", resp.Status)
	}
}

func TestHomeShowsWhoAndWhatTheyMayDo(t *testing.T) {
	f := newFixture(t, nil)
	c, _ := f.login(alice, aliceRole)
	resp, body := f.get(c, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %s", resp.Status)
	}
	text := html.UnescapeString(body)
	for _, want := range []string{
		`<span id="name">Jones Alice Dr</span>`,
		"SOUTH TEES HOSPITALS NHS TRUST (RCJ)",
		"Consultant (S8000:G8000:R8003)",
		`<td class="code">B0264</td><td>Access clinical record</td><td>see the patient list and open patient records</td>`,
		`<td class="code">B0360</td><td>View patient</td>`,
		"CIS lists this role's activities as: Access clinical record, View patient.",
		`Patient records (needs activity B0264): <strong>allowed</strong>`,
		"not allowed</strong>: your selected role at RCJ is S8000:G8000:R8003 (Consultant), not job role R8000",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("home page lacks %q:\n%s", want, body)
		}
	}
}

func TestAccessByActivityAndJobRole(t *testing.T) {
	f := newFixture(t, nil)
	type check struct {
		path   string
		status int
		want   string
	}
	for _, tc := range []struct {
		uid, role string
		checks    []check
	}{
		{alice, aliceRole, []check{
			{"/patients", 200, `<a href="/patients/9991234578">999 123 4578</a>`},
			{"/patients/" + recordNHS, 200, "Penicillin"},
			{"/admin", 403, "Your selected role at RCJ is S8000:G8000:R8003 (Consultant), not job role R8000."},
		}},
		{bob, bobRMM, []check{
			{"/patients", 200, "You can see this list but not open records: Your selected role at RMM does not include activity B0264."},
			{"/patients/" + recordNHS, 403, "Your selected role at RMM does not include activity B0264."},
			// Bob's other roles that may open records:
			{"/patients/" + recordNHS, 403, "THE PRINCESS ROYAL HOSPITAL NHS TRUST (RKF)"},
			{"/patients/" + recordNHS, 403, "VEDUTLA, RDP &amp; PARTNERS (Y00221)"},
		}},
		{chandra, chandraAd, []check{
			{"/patients", 403, "Your selected role at RCJ includes none of the activities B0360 or B0264."},
			{"/patients", 403, "Health Professional Access Role at SOUTH TEES HOSPITALS NHS TRUST (RCJ)"},
			{"/admin", 200, "Access audit"},
		}},
		{"555000000004", "555000000401", []check{
			{"/patients/" + recordNHS, 403, "None of your roles may."},
		}},
	} {
		c, _ := f.login(tc.uid, tc.role)
		for _, ch := range tc.checks {
			resp, body := f.get(c, ch.path)
			if resp.StatusCode != ch.status || !strings.Contains(body, ch.want) {
				t.Errorf("%s in %s, GET %s: %s, want %d with %q:\n%s", tc.uid, tc.role, ch.path, resp.Status, ch.status, ch.want, body)
			}
		}
		if resp, body := f.get(c, "/patients"); resp.StatusCode == 200 && tc.role == bobRMM && strings.Contains(body, `href="/patients/`) {
			t.Errorf("the list links records for a role that may not open them:\n%s", body)
		}
	}
}

func TestEverythingRenderedIsEscaped(t *testing.T) {
	f := newFixture(t, nil)
	c, _ := f.login(bob, bobSAHA) // "SAHA SN & DE G"
	_, body := f.get(c, "/")
	if !strings.Contains(body, "SAHA SN &amp; DE G (B81108)") || strings.Contains(body, "SAHA SN & DE G") {
		t.Errorf("organisation name not escaped:\n%s", body)
	}
	c, _ = f.login(alice, aliceRole)
	_, body = f.get(c, "/patients")
	if !strings.Contains(body, "Nguyen, Thi &lt;Lan&gt;") || strings.Contains(body, "<Lan>") {
		t.Errorf("patient name not escaped:\n%s", body)
	}
	if !strings.Contains(body, "O&#39;Neill, Siobhán") {
		t.Errorf("apostrophe not escaped:\n%s", body)
	}
}

func TestUnknownPatientAndPage(t *testing.T) {
	f := newFixture(t, nil)
	c, _ := f.login(alice, aliceRole)
	for _, path := range []string{"/patients/9990000000", "/patients/x", "/nowhere"} {
		if resp, body := f.get(c, path); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "There is no such page or patient.") {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
}

func TestAdminSeesRecordAccesses(t *testing.T) {
	f := newFixture(t, nil)
	ca, _ := f.login(chandra, chandraAd)
	if _, body := f.get(ca, "/admin"); !strings.Contains(body, "No record has been opened yet.") {
		t.Fatalf("audit not empty:\n%s", body)
	}
	c, _ := f.login(alice, aliceRole)
	f.get(c, "/patients/"+recordNHS)
	f.get(c, "/patients/9992469145")
	_, body := f.get(ca, "/admin")
	first := strings.Index(body, "999 246 9145")
	second := strings.Index(body, "999 123 4578")
	if first < 0 || second < 0 || first > second || !strings.Contains(body, "Jones Alice Dr (555000000001)") ||
		!strings.Contains(body, "Consultant at SOUTH TEES HOSPITALS NHS TRUST (RCJ)") {
		t.Errorf("audit does not show both accesses, newest first:\n%s", body)
	}
}

func TestLoginPage(t *testing.T) {
	f := newFixture(t, func(_ *fixture, cfg *records.Config) { cfg.AgentURL = "http://127.0.0.1:7444/" })
	c := f.client()
	for ret, want := range map[string]string{
		"/patients":               `name="return" value="/patients"`,
		"//evil.example/":         `name="return" value="/"`,
		"https://evil.example/":   `name="return" value="/"`,
		"/\\evil.example":         `name="return" value="/"`,
		"/x?ticket=AQIC5wM2LY4S":  `name="return" value="/"`,
		"/a\"><script>alert(1)//": `name="return" value="/a&#34;&gt;&lt;script&gt;alert(1)//"`,
	} {
		_, body := f.get(c, "/login?return="+url.QueryEscape(ret))
		if !strings.Contains(body, want) {
			t.Errorf("return %q: page lacks %q:\n%s", ret, want, body)
		}
	}
	_, body := f.get(c, "/login")
	for _, want := range []string{`data-agent="http://127.0.0.1:7444"`, `data-auto="1"`, `<script src="/static/login.js" defer></script>`, `id="ticket" name="ticket" type="password" autocomplete="off"`} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "session.js") {
		t.Errorf("login page has an inline script or the session check:\n%s", body)
	}
	// Logged in: no automatic agent login (it would replace the session
	// at every visit); the page says who is logged in.
	c, _ = f.login(alice, aliceRole)
	_, body = f.get(c, "/login")
	if strings.Contains(body, "data-auto") || !strings.Contains(body, "You are logged in as Jones Alice Dr") {
		t.Errorf("login page with a session:\n%s", body)
	}
}

func TestLoginPageWithoutAgent(t *testing.T) {
	f := newFixture(t, nil) // AgentURL: none
	resp, body := f.get(f.client(), "/login")
	if strings.Contains(body, "agent-ask") || !strings.Contains(body, `id="ticket"`) {
		t.Errorf("login page without an agent:\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("CSP allows fetches elsewhere: %s", csp)
	}
}

func TestFormLoginAndLogout(t *testing.T) {
	f := newFixture(t, nil)
	ticket := f.srv.MustLogin(t, alice, aliceRole)
	c := f.client()
	form := url.Values{"ticket": {ticket.Reveal()}, "return": {"/patients"}}
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/cis/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/patients" {
		t.Fatalf("form login: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	// A page of another site cannot post a ticket here (CSRF).
	req, _ = http.NewRequest(http.MethodPost, f.ts.URL+"/cis/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err = f.client().Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %s", resp.Status)
	}

	// The logout button: the web session ends, the smartcard session stays.
	logout := url.Values{"return": {"/logged-out"}}
	req, _ = http.NewRequest(http.MethodPost, f.ts.URL+"/cis/logout", strings.NewReader(logout.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/logged-out" {
		t.Fatalf("logout: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if resp, _ := f.get(c, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout GET /: %s", resp.Status)
	}
	if _, body := f.get(c, "/logged-out"); !strings.Contains(body, "stays open for your other applications") {
		t.Errorf("logged-out page:\n%s", body)
	}
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: f.srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(context.Background(), ticket); err != nil {
		t.Errorf("the app's logout ended the SSO session: %v", err)
	}
}

func TestSSOLogoutEndsTheSmartcardSession(t *testing.T) {
	var ssb *cis.SSBClient
	f := newFixture(t, func(f *fixture, cfg *records.Config) {
		gas, err := cis.NewGASClient(cis.GASConfig{Env: f.srv.Env()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.CIS.SSOLogout = gas
		if ssb, err = cis.NewSSBClient(cis.SSBConfig{Env: f.srv.Env()}); err != nil {
			t.Fatal(err)
		}
	})
	c, ticket := f.login(alice, aliceRole)
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/cis/logout", strings.NewReader("return=%2Flogged-out"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := ssb.Validate(context.Background(), ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("after logout with SSOLogout the ticket validates: %v", err)
	}
	if _, body := f.get(c, "/logged-out"); !strings.Contains(body, "Your smartcard session has been ended too.") {
		t.Errorf("logged-out page:\n%s", body)
	}
}
