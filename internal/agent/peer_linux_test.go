package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestOtherUserRefused: a process of another user (nobody) gets no ticket,
// over TCP even with the secret, nor over the unix socket even when the
// socket's permissions let it connect; the desktop user's own process gets
// it. The tests run as root, which may start a process as nobody.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CISAUTH_MAKE_TEST") == "1" {
			t.Fatal("make test runs as root; this test needs root to start a process as nobody")
		}
		t.Skip("needs root to start a process as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	h := newAPIHarness(t, nil)
	_, ti := h.loginAlice()
	// Let nobody reach the socket, so that the peer check is what refuses.
	for p := filepath.Dir(h.socket); p != filepath.Clean(os.TempDir()) && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	os.Chmod(h.socket, 0o666)

	// A copy of the test binary nobody may run.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "cisagent-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "client.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	job, _ := json.Marshal(clientJob{URL: h.api.URL(), Socket: h.socket, Secret: h.secret,
		SecretFile: filepath.Join(filepath.Dir(filepath.Dir(h.socket)), "state", "secret")})

	run := func(cred *syscall.Credential) clientResult {
		t.Helper()
		cmd := exec.CommandContext(context.Background(), bin, "-test.run=^$")
		cmd.Env = []string{envClient + "=" + string(job), "HOME=/nonexistent"}
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("client: %v\n%s", err, ee.Stderr)
		}
		var res clientResult
		if err := json.Unmarshal(out, &res); err != nil || res.Error != "" {
			t.Fatalf("client output %q: %v %s", out, err, res.Error)
		}
		return res
	}

	other := run(&syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)})
	if other.SecretReadOK {
		t.Error("nobody could read the secret file")
	}
	if other.TCPStatus != http.StatusForbidden || strings.Contains(other.TCPBody, ti.Ticket.Reveal()) ||
		!strings.Contains(other.TCPBody, fmt.Sprintf("uid %d", uid)) {
		t.Errorf("nobody over TCP with the secret: %d %s", other.TCPStatus, other.TCPBody)
	}
	if other.UnixStatus != http.StatusForbidden || strings.Contains(other.UnixBody, ti.Ticket.Reveal()) ||
		!strings.Contains(other.UnixBody, fmt.Sprintf("uid %d", uid)) {
		t.Errorf("nobody over the unix socket: %d %s", other.UnixStatus, other.UnixBody)
	}

	// The desktop user's own process (root here) gets it both ways.
	own := run(nil)
	if own.TCPStatus != 200 || !strings.Contains(own.TCPBody, ti.Ticket.Reveal()) ||
		own.UnixStatus != 200 || !strings.Contains(own.UnixBody, ti.Ticket.Reveal()) {
		t.Errorf("the desktop user's process: TCP %d, unix %d", own.TCPStatus, own.UnixStatus)
	}
}

// TestParseProcAddr: /proc/net/tcp's address forms.
func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:A9BE": "[::ffff:127.0.0.1]:43454",
	} {
		ap, ok := parseProcAddr([]byte(in))
		if !ok || ap.String() != want {
			t.Errorf("parseProcAddr(%s) = %v %v, want %s", in, ap, ok, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:", "01007F:0050", "zz00007F:0050", "0100007F:10000"} {
		if _, ok := parseProcAddr([]byte(bad)); ok {
			t.Errorf("parseProcAddr(%q) accepted", bad)
		}
	}
}
