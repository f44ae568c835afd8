package cis

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDevPreset(t *testing.T) {
	env, err := Preset("dev")
	if err != nil {
		t.Fatal(err)
	}
	ep := env.Endpoints()
	want := map[string]string{
		ep.Activate:      "https://gas.vn03.national.ncrs.nhs.uk/login/authactivate",
		ep.Validate:      "https://gas.vn03.national.ncrs.nhs.uk/login/authvalidate",
		ep.Logout:        "https://gas.vn03.national.ncrs.nhs.uk/login/authlogout",
		ep.RoleAssertion: "https://sbapi.vn03.national.ncrs.nhs.uk/saml/RoleAssertion",
		ep.RoleSelection: "https://sbapi.vn03.national.ncrs.nhs.uk/saml/RoleSelectionGP.jsp",
		ep.NamingService: "https://sbapi.vn03.national.ncrs.nhs.uk/amserver/namingservice",
		ep.Portal:        "https://portal.vn03.national.ncrs.nhs.uk",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("endpoint %q, want %q", got, w)
		}
	}
	if len(env.Roots) != 2 {
		t.Fatalf("dev has %d trust anchors, want 2", len(env.Roots))
	}
	// The SubCA must verify against the root alone: the two anchors are a chain.
	pool := x509.NewCertPool()
	var sub *x509.Certificate
	for _, c := range env.Roots {
		if c.Subject.CommonName == "NHS PTL Root Authority" {
			pool.AddCert(c)
		} else {
			sub = c
		}
	}
	if sub == nil || sub.Subject.CommonName != "NHS DEV Level 1C" {
		t.Fatalf("SubCA missing: %v", env.Roots)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := sub.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("SubCA does not chain to the root: %v", err)
	}
	if err := env.Check(); err != nil {
		t.Error(err)
	}
	// Presets are values: changing a copy must not change the next one.
	env.Roots = nil
	again, _ := Preset("dev")
	if len(again.Roots) != 2 {
		t.Error("Preset returned shared state")
	}
}

func TestUnknownPreset(t *testing.T) {
	if _, err := ResolveEnvironment("nope-not-a-file.yaml"); err == nil {
		t.Fatal("want error for a missing file")
	}
	if _, err := Preset("prod"); err == nil || !strings.Contains(err.Error(), "dev, local") {
		t.Fatalf("error should list the presets: %v", err)
	}
}

func london(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(London)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestMaintenanceSlots(t *testing.T) {
	env, err := Preset("dev")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at       string // London wall clock; 2026-11-23 is a Monday
		in       bool
		slot     string
		endsText string
	}{
		{"2026-11-23 19:59", false, "", ""},
		{"2026-11-23 20:00", true, "Spine CIS Mon 20:00-Tue 06:00", "2026-11-24 06:00"},
		{"2026-11-24 05:59", true, "Spine CIS Mon 20:00-Tue 06:00", "2026-11-24 06:00"},
		{"2026-11-24 06:00", false, "", ""},
		{"2026-11-24 23:00", true, "Spine Core Tue 20:00-Wed 06:00", "2026-11-25 06:00"},
		{"2026-11-26 12:00", false, "", ""},
		// British Summer Time: the slot is still 20:00 local.
		{"2026-07-06 20:30", true, "Spine CIS Mon 20:00-Tue 06:00", "2026-07-07 06:00"},
		// Around the end of BST (Sun 25 Oct 2026): Monday evening after it.
		{"2026-10-26 20:00", true, "Spine CIS Mon 20:00-Tue 06:00", "2026-10-27 06:00"},
	}
	for _, tc := range tests {
		slot, ends, in := env.MaintenanceAt(london(t, tc.at))
		if in != tc.in {
			t.Errorf("%s: in=%v, want %v", tc.at, in, tc.in)
			continue
		}
		if !in {
			continue
		}
		if slot.Label() != tc.slot {
			t.Errorf("%s: slot %q, want %q", tc.at, slot.Label(), tc.slot)
		}
		if !ends.Equal(london(t, tc.endsText)) {
			t.Errorf("%s: ends %v, want %s", tc.at, ends, tc.endsText)
		}
	}
}

func TestMaintenanceSlotWrapsWeek(t *testing.T) {
	s, err := ParseMaintenanceSlot("e-RS Dev3", "Thu 20:00-Mon 06:00")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{"2026-11-26 20:00", "2026-11-28 12:00", "2026-11-30 05:00"} {
		ends, ok := s.Contains(london(t, at))
		if !ok || !ends.Equal(london(t, "2026-11-30 06:00")) {
			t.Errorf("%s: in=%v ends=%v", at, ok, ends)
		}
	}
	if _, ok := s.Contains(london(t, "2026-11-30 06:00")); ok {
		t.Error("end is exclusive")
	}
	if s.String() != "Thu 20:00-Mon 06:00" {
		t.Errorf("String() = %q", s.String())
	}
}

func TestParseMaintenanceSlotErrors(t *testing.T) {
	for _, bad := range []string{"", "Mon 20:00", "Mon 20:00-", "Funday 20:00-Tue 06:00", "Mon 25:00-Tue 06:00",
		"Mon 20:0-Tue 06:00", "Mon 20:00-Mon 20:00", "Mon-Tue", "Mon 20:00 x-Tue 06:00"} {
		if _, err := ParseMaintenanceSlot("x", bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

const testEnvPEM = `-----BEGIN CERTIFICATE-----`

func TestLoadEnvironmentFile(t *testing.T) {
	dir := t.TempDir()
	dev, _ := Preset("dev")
	devYAML, err := dev.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	// The marshalled form loads back to the same environment.
	p := filepath.Join(dir, "dev.yaml")
	if err := os.WriteFile(p, devYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ResolveEnvironment(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.GASURL != dev.GASURL || got.SSBURL != dev.SSBURL || len(got.Roots) != 2 || len(got.Maintenance) != 2 {
		t.Fatalf("round trip lost data: %+v", got)
	}
	if !got.Roots[0].Equal(dev.Roots[0]) || got.Maintenance[0].Label() != dev.Maintenance[0].Label() {
		t.Fatal("round trip changed anchors or slots")
	}

	// A trust anchor named by a path relative to the file.
	rootPEM, err := devCerts.ReadFile("certs/nhs-ptl-root-authority.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), rootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	custom := "name: mine\ngas_url: https://gas.example.test:8443\nssb_url: https://ssb.example.test\n" +
		"trust_anchors:\n  - file: root.pem\nmaintenance:\n  - name: Nightly\n    slot: Sun 01:00-Sun 02:00\n"
	p2 := filepath.Join(dir, "mine.yaml")
	if err := os.WriteFile(p2, []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := LoadEnvironment(p2)
	if err != nil {
		t.Fatal(err)
	}
	if env.Name != "mine" || len(env.Roots) != 1 || env.Endpoints().Activate != "https://gas.example.test:8443/login/authactivate" {
		t.Fatalf("unexpected %+v", env)
	}
}

func TestParseEnvironmentErrors(t *testing.T) {
	tests := map[string]string{
		"unknown key":                       "name: x\ngas_url: http://127.0.0.1\nssb_url: http://127.0.0.1\nbogus: 1\n",
		"https no anchors":                  "name: x\ngas_url: https://a\nssb_url: https://a\n",
		"missing ssb":                       "name: x\ngas_url: http://127.0.0.1\n",
		"ftp url":                           "name: x\ngas_url: ftp://a\nssb_url: http://127.0.0.1\n",
		"query in url":                      "name: x\ngas_url: http://127.0.0.1/?x=1\nssb_url: http://127.0.0.1\n",
		"bad pem":                           "name: x\ngas_url: https://a\nssb_url: https://a\ntrust_anchors:\n  - pem: \"" + testEnvPEM + "\"\n",
		"anchor both":                       "name: x\ngas_url: http://127.0.0.1\nssb_url: http://127.0.0.1\ntrust_anchors:\n  - pem: x\n    file: y\n",
		"anchor empty":                      "name: x\ngas_url: http://127.0.0.1\nssb_url: http://127.0.0.1\ntrust_anchors:\n  - {}\n",
		"missing file":                      "name: x\ngas_url: http://127.0.0.1\nssb_url: http://127.0.0.1\ntrust_anchors:\n  - file: nope.pem\n",
		"bad slot":                          "name: x\ngas_url: http://127.0.0.1\nssb_url: http://127.0.0.1\nmaintenance:\n  - slot: whenever\n",
		"not yaml":                          "{{{{",
		"http to a remote host, no anchors": "name: x\ngas_url: http://gas.vn03.national.ncrs.nhs.uk\nssb_url: https://sbapi.vn03.national.ncrs.nhs.uk\n",
		"document is a list":                "- a\n- b\n",
	}
	for name, doc := range tests {
		if _, err := ParseEnvironment([]byte(doc), t.TempDir()); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	for _, host := range []string{"127.0.0.1:7443", "127.8.9.10", "[::1]:7443", "localhost:7443", "LOCALHOST"} {
		doc := "name: ok\ngas_url: http://" + host + "\nssb_url: http://" + host + "\n"
		if _, err := ParseEnvironment([]byte(doc), ""); err != nil {
			t.Errorf("plain http to loopback %s: %v", host, err)
		}
	}
	// Plain HTTP to anything else is refused with one line naming the key,
	// whatever else the file holds (trust anchors included).
	for _, host := range []string{"gas.vn03.national.ncrs.nhs.uk", "10.0.0.1", "[::ffff:10.0.0.1]", "127.0.0.1.nip.io", "[fe80::1%25lo]", "0.0.0.0"} {
		doc := "name: x\ngas_url: http://" + host + "\nssb_url: http://127.0.0.1\n"
		_, err := ParseEnvironment([]byte(doc), "")
		if err == nil || !strings.Contains(err.Error(), "gas_url") || !strings.Contains(err.Error(), "loopback") || strings.Contains(err.Error(), "\n") {
			t.Errorf("plain http to %s: %v", host, err)
		}
		// Nor can an Environment built in code start a client.
		env := Environment{Name: "x", GASURL: "http://" + host, SSBURL: "http://" + host}
		if err := env.Check(); err == nil {
			t.Errorf("Check accepts plain http to %s", host)
		}
		if _, err := NewSSBClient(SSBConfig{Env: env}); err == nil {
			t.Errorf("SSB client over plain http to %s", host)
		}
		if _, err := NewGASClient(GASConfig{Env: env}); err == nil {
			t.Errorf("GAS client over plain http to %s", host)
		}
	}
}

func TestLoadEnvironmentTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(p, make([]byte, maxEnvFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEnvironment(p); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("want ErrTooLarge, got %v", err)
	}
}

func TestTransportErrorsHideTheURL(t *testing.T) {
	env, _ := Preset("local")
	env.GASURL = "http://127.0.0.1:1" // nothing listens on port 1
	client := env.NewHTTPClient(2 * time.Second)
	const secret = "AQICsecretTICKET=@AAJTSQACMDE=#"
	req, err := http.NewRequest(http.MethodGet, env.GASURL+"/saml/RoleAssertion?token="+secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = roundTrip(context.Background(), client, req, "role assertion", 1024)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "token") {
		t.Fatalf("error leaks the URL: %v", err)
	}
}

func TestTicketRedacts(t *testing.T) {
	tk := Ticket("AQICabc=@AAJTSQACMDE=#")
	for _, s := range []string{tk.String(), tk.GoString(), tk.LogValue().String()} {
		if strings.Contains(s, "AQIC") {
			t.Errorf("ticket leaked: %q", s)
		}
	}
	if tk.Reveal() != "AQICabc=@AAJTSQACMDE=#" || tk.IsZero() || !Ticket("").IsZero() {
		t.Error("Reveal/IsZero")
	}
}

func FuzzParseEnvironment(f *testing.F) {
	dev, _ := Preset("dev")
	b, _ := dev.MarshalYAML()
	f.Add(b)
	f.Add([]byte("name: x\ngas_url: http://a\nssb_url: http://a\nmaintenance:\n  - slot: Mon 20:00-Tue 06:00\n"))
	f.Add([]byte("name: c\noidc:\n  issuer: http://127.0.0.1:7443/openam\n  client_id: a.apps.national\n  scopes: [openid]\n  amr: [\"*\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "file") {
			return // keep the fuzzer away from the host's files (and /dev/stdin)
		}
		env, err := ParseEnvironment(data, t.TempDir())
		if err != nil {
			return
		}
		if err := env.Check(); err != nil {
			t.Fatalf("parsed environment fails Check: %v", err)
		}
	})
}
