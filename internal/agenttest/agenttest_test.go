package agenttest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/agenttest"
)

const page = "https://app.example:8443"

func get(t *testing.T, a *agenttest.Agent, method, origin, host string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.URL+"/ticket", nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestTicketForAllowedOriginsOnly(t *testing.T) {
	a := agenttest.New(t, agenttest.Config{Origins: []string{page}})
	ticket := cis.Ticket("AQIC5wM2LY4SfcxTest*AAJTSQACMDE.*")

	resp, body := get(t, a, http.MethodGet, page, "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no session") || resp.Header.Get("Access-Control-Allow-Origin") != page {
		t.Errorf("no session: %s %q %v", resp.Status, body, resp.Header)
	}
	a.SetTicket(agenttest.Session{Ticket: ticket, UID: "555000000001", Name: "Jones Alice Dr", SelectedRoleID: "555000000101"})
	resp, body = get(t, a, http.MethodGet, page, "")
	var got struct{ Ticket, UID string }
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 || got.Ticket != ticket.Reveal() || got.UID != "555000000001" {
		t.Errorf("allowed origin: %s %q", resp.Status, body)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != page {
		t.Errorf("no CORS header for the allowed origin: %v", resp.Header)
	}
	if resp, _ := get(t, a, http.MethodOptions, page, ""); resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Methods") != "GET" {
		t.Errorf("preflight: %s %v", resp.Status, resp.Header)
	}
	for name, tc := range map[string]struct {
		origin, host string
		status       int
	}{
		"another origin":    {"https://evil.example", "", http.StatusForbidden},
		"no origin":         {"", "", http.StatusUnauthorized},
		"rebinding (Host)":  {page, "evil.example:80", http.StatusForbidden},
		"no port in Host":   {page, "127.0.0.1", http.StatusForbidden},
		"similar origin":    {page + ".evil.example", "", http.StatusForbidden},
		"origin of http":    {strings.Replace(page, "https", "http", 1), "", http.StatusForbidden},
		"localhost is fine": {page, "localhost:1", http.StatusOK},
	} {
		resp, body := get(t, a, http.MethodGet, tc.origin, tc.host)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s, want %d", name, resp.Status, tc.status)
		}
		if tc.status != http.StatusOK && (strings.Contains(body, "AQIC") || resp.Header.Get("Access-Control-Allow-Origin") != "") {
			t.Errorf("%s: refused, yet %q %v", name, body, resp.Header)
		}
	}
	if a.Given() != 2 || a.Refused() != 6 {
		t.Errorf("given %d, refused %d; want 2, 6", a.Given(), a.Refused())
	}
	a.ClearTicket()
	if resp, _ := get(t, a, http.MethodGet, page, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after ClearTicket: %s", resp.Status)
	}
}

func TestPlainText(t *testing.T) {
	a := agenttest.New(t, agenttest.Config{Origins: []string{page}, PlainText: true})
	a.SetTicket(agenttest.Session{Ticket: "AQIC5wM2LY4SfcxPlain*AAJTSQACMDE.*"})
	resp, body := get(t, a, http.MethodGet, page, "")
	if resp.StatusCode != 200 || body != "AQIC5wM2LY4SfcxPlain*AAJTSQACMDE.*\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("plain text: %s %q", resp.Status, body)
	}
}
