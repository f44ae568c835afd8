package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/stacktest"
)

type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer written by the command while the test
// reads; written is signalled at each write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		select {
		case s.written <- struct{}{}:
		default:
		}
	}
	return s.b.Write(p)
}

// waitFor waits until the buffer holds text.
func (s *syncBuffer) waitFor(t *testing.T, text string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !strings.Contains(s.String(), text) {
		select {
		case <-s.written:
		case <-timeout:
			t.Fatalf("no %q in %q", text, s.String())
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCmd runs cis-agent in-process; stdin is a file (nil: none), vars the
// environment (no config file unless named).
func runCmd(ctx context.Context, stdin *os.File, vars map[string]string, args ...string) result {
	var out, errb syncBuffer
	if vars == nil {
		vars = map[string]string{}
	}
	if _, ok := vars["CIS_AGENT_CONFIG"]; !ok {
		vars["CIS_AGENT_CONFIG"] = os.DevNull
	}
	code := run(ctx, args, stdio{stdin: stdin, stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }})
	return result{code, out.String(), errb.String()}
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	if r := runCmd(ctx, nil, nil); r.code != exitUsage || !strings.Contains(r.stderr, "commands:") {
		t.Errorf("no command: %+v", r)
	}
	if r := runCmd(ctx, nil, nil, "frobnicate"); r.code != exitUsage {
		t.Errorf("unknown command: %+v", r)
	}
	if r := runCmd(ctx, nil, nil, "login", "--env", "dev", "246810"); r.code != exitUsage || !strings.Contains(r.stderr, "never an argument") {
		t.Errorf("a PIN on the command line: %+v", r)
	}
	if r := runCmd(ctx, nil, map[string]string{"CIS_AGENT_PIN": "246810"}, "login", "--env", "dev", "--pin-fd", "0"); r.code != exitFail ||
		!strings.Contains(r.stderr, "never read from the environment") {
		t.Errorf("a PIN in the environment: %+v", r)
	}
	if r := runCmd(ctx, nil, nil, "logout", "--env", "dev", "AQICticket"); r.code != exitUsage {
		t.Errorf("a ticket on the command line: %+v", r)
	}
}

// TestConfigImport: the registry files print as configurations; anything
// else is refused with one line.
func TestConfigImport(t *testing.T) {
	ctx := context.Background()
	r := runCmd(ctx, nil, nil, "config", "import", "../../testdata/identity-agent/bt-ia13.reg")
	if r.code != 0 || !strings.Contains(r.stdout, "\nenv: dev\n") || !strings.Contains(r.stdout, "device_id: 1ef2f9cc") ||
		!strings.Contains(r.stdout, "# BT Identity Agent") {
		t.Fatalf("import: %+v", r)
	}
	out := filepath.Join(t.TempDir(), "config.yaml")
	if r := runCmd(ctx, nil, nil, "config", "import", "--out", out, "../../testdata/identity-agent/ia2-64bit.reg"); r.code != 0 {
		t.Fatalf("import --out: %+v", r)
	}
	// The file works as the configuration.
	r = runCmd(ctx, nil, map[string]string{"CIS_AGENT_CONFIG": out}, "config", "show", "--pkcs11-module", "/x/opensc-pkcs11.so")
	if r.code != 0 || !strings.Contains(r.stdout, "env: dev") || !strings.Contains(r.stdout, "mode: normal") {
		t.Fatalf("config show: %+v", r)
	}
	if r := runCmd(ctx, nil, nil, "config", "import", "--out", out, "../../testdata/identity-agent/ia2-64bit.reg"); r.code != exitFail {
		t.Errorf("overwrite: %+v", r)
	}
	r = runCmd(ctx, nil, nil, "config", "import", "main.go")
	if r.code != exitFail || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "main.go: not a Windows registry export") {
		t.Errorf("not a registry file: %+v", r)
	}
}

// pipeWith returns a pipe's read end holding s.
func pipeWith(t *testing.T, s string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(s)
	w.Close()
	t.Cleanup(func() { r.Close() })
	return r
}

// softHSMServer starts a simulator that knows the stack's SoftHSM2 token
// user and trusts its CA, and writes an environment file for it.
func softHSMServer(t *testing.T) (*cistest.Server, string) {
	t.Helper()
	s := stacktest.Require(t)
	cas, err := cissim.LoadCertificates(s.SoftHSMCA)
	if err != nil {
		t.Fatal(err)
	}
	tess := cis.User{UID: "555000000099", Name: "Token Tess Dr", Roles: []cis.RoleProfile{
		{ID: "555000009901", OrgCode: "RCJ", OrgName: "SOUTH TEES HOSPITALS NHS TRUST", StaffGroup: "Clinical",
			SubGroup: "Clinical Provision", JobRole: "Consultant", JobRoleCode: "S8000:G8000:R8003", Activities: []string{"B0264"}},
		{ID: "555000009902", OrgCode: "RKF", OrgName: "THE PRINCESS ROYAL HOSPITAL NHS TRUST", StaffGroup: "Admin & Clerical",
			SubGroup: "Admin", JobRole: "Medical Secretary", JobRoleCode: "S8001:G8001:R8000", Activities: []string{"B0020"}},
	}}
	srv := cistest.NewServerWithConfig(t, cissim.Config{Users: []cis.User{tess}, CardCAs: cas})
	y, err := srv.Env().MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "env.yaml")
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, path
}

// TestLoginLogoutSoftHSM: the one-shot login with the stack's SoftHSM2
// token: PIN from a descriptor, JSON out, the ticket valid at the SSB;
// logout with the ticket from a descriptor; a wrong PIN exits 3.
func TestLoginLogoutSoftHSM(t *testing.T) {
	s := stacktest.Require(t)
	srv, envFile := softHSMServer(t)
	ctx := context.Background()
	vars := map[string]string{"SOFTHSM2_CONF": s.SoftHSMConf}
	pin := pipeWith(t, s.SoftHSMPIN+"\n")
	r := runCmd(ctx, nil, vars, "login", "--env", envFile, "--pkcs11-module", s.SoftHSMModule, "--role", "555000009902",
		"--pin-fd", strconv.Itoa(int(pin.Fd())))
	if r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("output %q: %v", r.stdout, err)
	}
	if len(raw) != 5 {
		t.Errorf("keys %v, want ticket, uid, name, selected_role_id, roles", raw)
	}
	tk := cis.Ticket(raw["ticket"].(string))
	if raw["uid"] != "555000000099" || raw["selected_role_id"] != "555000009902" || len(raw["roles"].([]any)) != 2 || tk.IsZero() {
		t.Fatalf("output %s", r.stdout)
	}
	if strings.Contains(r.stderr, tk.Reveal()) {
		t.Error("the ticket on standard error")
	}
	ssb, _ := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
	if a, err := ssb.Validate(ctx, tk); err != nil || a.SelectedRoleID != "555000009902" {
		t.Fatalf("the ticket at the SSB: %v", err)
	}
	tfd := pipeWith(t, tk.Reveal()+"\n")
	if r := runCmd(ctx, nil, nil, "logout", "--env", envFile, "--ticket-fd", strconv.Itoa(int(tfd.Fd()))); r.code != 0 {
		t.Fatalf("logout: %+v", r)
	}
	if _, err := ssb.Validate(ctx, tk); err == nil {
		t.Error("the ticket still works after logout")
	}
	if r := runCmd(ctx, pipeWith(t, tk.Reveal()+"\n"), nil, "logout", "--env", envFile); r.code != exitFail || !strings.Contains(r.stderr, "already ended") {
		t.Errorf("second logout: %+v", r)
	}

	// A wrong PIN: exit 3, plain words, nothing sent to GAS.
	pin = pipeWith(t, "000000\n")
	r = runCmd(ctx, nil, vars, "login", "--env", envFile, "--pkcs11-module", s.SoftHSMModule, "--pin-fd", strconv.Itoa(int(pin.Fd())))
	if r.code != exitPIN || !strings.Contains(r.stderr, "PIN incorrect") || r.stdout != "" {
		t.Fatalf("wrong PIN: %+v", r)
	}
}

// TestRunServesTheAPI: cis-agent run with a unix socket answers
// GET /status, hands out page links (cis-agent ui), and stops cleanly.
func TestRunServesTheAPI(t *testing.T) {
	s := stacktest.Require(t)
	_, envFile := softHSMServer(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	common := []string{"--env", envFile, "--pkcs11-module", s.OpenSCModule, "--socket", sock, "--listen", "127.0.0.1:0",
		"--secret-file", filepath.Join(dir, "secret")}
	stderr := &syncBuffer{written: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() {
		args := append([]string{"run", "--reader", "No Such Reader 00 00", "--pin-entry", "web"}, common...)
		done <- run(ctx, args, stdio{stdout: &syncBuffer{}, stderr: stderr,
			getenv: func(k string) string { return map[string]string{"CIS_AGENT_CONFIG": os.DevNull}[k] }})
	}()
	stderr.waitFor(t, "PIN entry page")
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://agent/status")
	if err != nil {
		t.Fatal(err)
	}
	var status map[string]any
	json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if status["state"] != "no-card" || status["message"] != "Insert your smartcard" {
		t.Errorf("status %v", status)
	}
	r := runCmd(context.Background(), nil, nil, append([]string{"ui", "--no-open"}, common...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "/ui/login?code=") {
		t.Errorf("cis-agent ui: %+v", r)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run exited %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
