package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// needTools skips without the named programs, except under make test
// (CISAUTH_MAKE_TEST=1), where their absence is a failure.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CISAUTH_MAKE_TEST") == "1" {
				t.Fatalf("%s is required under make test: %v", tool, err)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// startBinary builds cis-sim, starts it on a free loopback port with a
// fresh state directory and returns its base URL and state directory.
func startBinary(t *testing.T, extra ...string) (base, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "cis-sim")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	stateDir = filepath.Join(dir, "state")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"--addr", "127.0.0.1:0", "--state-dir", stateDir}, extra...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	urlRE := regexp.MustCompile(`msg="cis-sim listening" .*url=(\S+)`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatal("cis-sim did not report its address")
	}
	go func() { // keep draining the log
		for sc.Scan() {
		}
	}()
	return base, stateDir
}

// openssl runs openssl with args in dir.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestOpenSSLClient logs in through a running cis-sim with the curl and
// openssl client in scripts/, using a card certificate that openssl issues
// from the simulator's card CA.
func TestOpenSSLClient(t *testing.T) {
	needTools(t, "curl", "openssl", "bash", "sed", "grep")
	if testing.Short() {
		t.Skip("short")
	}
	base, state := startBinary(t)
	work := t.TempDir()
	caCert, caKey := filepath.Join(state, "card-ca.pem"), filepath.Join(state, "card-ca-key.pem")
	openssl(t, work, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "user.key",
		"-subj", "/O=nhs/OU=people/CN=555000000002", "-out", "user.csr")
	openssl(t, work, "x509", "-req", "-in", "user.csr", "-CA", caCert, "-CAkey", caKey,
		"-set_serial", "4242", "-days", "30", "-out", "user.pem")
	// A certificate for the same uid from a CA the simulator does not know.
	openssl(t, work, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key",
		"-subj", "/O=nhs/OU=people/CN=555000000002", "-days", "30", "-out", "rogue.pem")

	script, err := filepath.Abs("../../scripts/sim-openssl-client.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, cert, key string, args ...string) (string, string, error) {
		cmd := exec.Command("bash", append([]string{script, base, filepath.Join(state, "ca.pem"), cert, key}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	userCert, userKey := filepath.Join(work, "user.pem"), filepath.Join(work, "user.key")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		role string
	}{
		{"first role", nil, nil, "555000000201"},
		{"chosen role, indented S/MIME", []string{"SMIME_STYLE=indented"}, []string{"555000000205"}, "555000000205"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := run(tc.env, userCert, userKey, tc.args...)
			if err != nil {
				t.Fatalf("script failed: %v\n%s", err, errOut)
			}
			for _, want := range []string{`samlp:Success`, `uid=555000000002,ou=People,o=nhs`,
				`<saml:AttributeValue>` + tc.role + `</saml:AttributeValue>`, `SAHA SN &amp; DE G`} {
				if !strings.Contains(out, want) {
					t.Fatalf("assertion lacks %s:\n%s", want, out)
				}
			}
		})
	}
	t.Run("unknown CA", func(t *testing.T) {
		_, errOut, err := run(nil, filepath.Join(work, "rogue.pem"), filepath.Join(work, "rogue.key"))
		if err == nil || !strings.Contains(errOut, "Failed To Validate") {
			t.Fatalf("rogue certificate: err %v, stderr %s", err, errOut)
		}
	})
}
