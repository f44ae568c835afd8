package cissim

import (
	"encoding/json"
	"strings"
	"testing"
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
