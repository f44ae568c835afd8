package cissim

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
)

// Fuzz targets for every parser of outside input in this package. Seeds
// live in testdata/fuzz/<name>/.

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("users:\n" + userYAML("555000000001", "555000000101")))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := ParseUsers(data, "f.yaml")
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if err := checkUsers(users); err != nil {
			t.Fatalf("parsed users fail the Config check: %v", err)
		}
	})
}

func FuzzMaintenanceSwitch(f *testing.F) {
	f.Add([]byte(`{"on": true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		on, err := parseMaintenanceSwitch(body)
		if err == nil && (!json.Valid(body) || on && !strings.Contains(string(body), "true")) {
			t.Fatalf("%q accepted as %v", body, on)
		}
	})
}

func FuzzSessionRequests(f *testing.F) {
	f.Add([]byte(`<RequestSet vers="1.0" svcid="session" reqid="1"><Request><![CDATA[<SessionRequest vers="1.0" reqid="0"><GetSession reset="true"><SessionID>AQIC@x#</SessionID></GetSession></SessionRequest>]]></Request></RequestSet>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rs, qs, err := parseSessionRequests(body)
		if err != nil {
			return
		}
		if len(qs) != len(rs.Requests) || len(qs) > maxOpenSSORequests {
			t.Fatalf("%d queries for %d requests", len(qs), len(rs.Requests))
		}
		for _, q := range qs {
			if q.ok && q.sid == "" {
				t.Fatal("ok query without session id")
			}
			if q.ok && q.listen && q.url == "" {
				t.Fatal("ok AddSessionListener without URL")
			}
		}
	})
}

func FuzzQueryValue(f *testing.F) {
	f.Add("token=AQIC5wM2%2B%2F%3D%40AAJTSQACMDE%3D%23&selectedRoleUid=555000000101&ssbMode=0", "token")
	f.Fuzz(func(t *testing.T, raw, key string) {
		v, ok, err := queryValue(raw, key)
		if err != nil {
			if v != "" || ok {
				t.Fatal("value with error")
			}
			return
		}
		if !ok && v != "" {
			t.Fatal("value without key")
		}
	})
}

func FuzzParseTicket(f *testing.F) {
	k := sessionKey{1, 2, 3}
	f.Add(formatTicket(&k).Reveal())
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := parseTicket(s)
		if !ok {
			return
		}
		if got := formatTicket(&k).Reveal(); got != s {
			t.Fatalf("ticket %q parsed, renders as %q: two strings for one session", s, got)
		}
	})
}

// FuzzServe throws arbitrary queries and bodies at every endpoint: no
// panic, and only the status codes the simulator means to send.
func FuzzServe(f *testing.F) {
	f.Add(uint8(0), "", []byte("<?xml version=\"1.0\"?>\n<gpOBJECT><gpPARAM name=\"service\">ACTIVATION</gpPARAM></gpOBJECT>"))
	f.Add(uint8(1), "", []byte("<gpOBJECT><gpPARAM name=\"service\">AUTHENTICATION</gpPARAM><gpPARAM name=\"challenge\">AAAA</gpPARAM><gpPARAM name=\"signature\">x</gpPARAM><gpPARAM name=\"uid\">555000000001</gpPARAM><gpPARAM name=\"response\">TUlNRQ==</gpPARAM></gpOBJECT>"))
	f.Add(uint8(4), "token=AQIC&selectedRoleUid=555000000101&ssbMode=1", []byte(nil))
	f.Add(uint8(6), "", []byte(`<RequestSet><Request><![CDATA[<SessionRequest><GetSession><SessionID>x</SessionID></GetSession></SessionRequest>]]></Request></RequestSet>`))
	s := newTestSim(f, func(c *Config) { c.Admin = true; c.MaxSessions = 10000 })
	alice := DemoUsers()[0]
	routes := []struct{ method, path string }{
		{"POST", "/login/authactivate"}, {"POST", "/login/authvalidate"}, {"GET", "/login/authlogout"},
		{"POST", "/login/authlogout"}, {"GET", "/saml/RoleSelectionGP.jsp"}, {"GET", "/saml/RoleAssertion"},
		{"POST", "/amserver/sessionservice"}, {"POST", "/amserver/namingservice"}, {"GET", "/ssb/DeviceIDLogger"},
		{"PUT", "/_sim/maintenance"}, {"GET", "/_sim/sessions"},
	}
	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte) {
		rt := routes[int(route)%len(routes)]
		if tk, err := s.CreateSession(alice.UID, "", cis.ModeLive); err == nil {
			query = strings.ReplaceAll(query, "TICKET", url.QueryEscape(tk.Reveal()))
		}
		r := httptest.NewRequest(rt.method, "/", bytes.NewReader(body))
		r.URL.Path, r.URL.RawQuery = rt.path, query
		r.RemoteAddr, r.Host = "127.0.0.1:1", "127.0.0.1:7443"
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		switch w.Code {
		case 200, 204, 400, 404, 413, 503:
		default:
			t.Fatalf("%s %s?%q: HTTP %d", rt.method, rt.path, query, w.Code)
		}
		s.SetMaintenance(false)
	})
}

// FuzzOwnHosts: the admin API's Host check never panics, and what it
// allows names the simulator by net/url's reading of the Host too: a
// loopback address, localhost or a configured name.
func FuzzOwnHosts(f *testing.F) {
	for _, h := range []string{"rebind.attacker.example:7443", "127.0.0.1:7443", "[::1]:7443", "localhost.", "cis-sim.example.test:80"} {
		f.Add(h)
	}
	hosts, err := newOwnHosts([]string{"cis-sim.example.test", "192.0.2.10"}, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !hosts.allows(host) {
			return
		}
		u, err := url.Parse("http://" + host + "/")
		if err != nil {
			t.Fatalf("allowed %q, which net/url refuses: %v", host, err)
		}
		name := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if a, err := netip.ParseAddr(name); err == nil {
			if a = a.Unmap(); !a.IsLoopback() && a != netip.MustParseAddr("192.0.2.10") {
				t.Fatalf("allowed %q: address %v", host, a)
			}
		} else if name != "localhost" && name != "cis-sim.example.test" {
			t.Fatalf("allowed %q: name %q", host, name)
		}
	})
}
