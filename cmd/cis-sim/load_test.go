package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestLoadScript runs scripts/sim-load.sh briefly (one 2 s round) under
// make test (CISAUTH_MAKE_TEST=1) or when CISAUTH_LOAD_TEST=1: it checks
// that the load test works end to end and that no request failed. The
// ratio is logged, not asserted (a shared CI machine is too noisy for it);
// docs/benchmarks.md has the figures from a quiet machine.
func TestLoadScript(t *testing.T) {
	if os.Getenv("CISAUTH_MAKE_TEST") != "1" && os.Getenv("CISAUTH_LOAD_TEST") != "1" {
		t.Skip("set CISAUTH_LOAD_TEST=1 (make test does) to run the wrk load test")
	}
	needTools(t, "wrk", "curl", "openssl", "bash", "sed", "grep", "awk")
	script, err := filepath.Abs("../../scripts/sim-load.sh")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", script, "2s", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("sim-load.sh: %v\n%s", err, out)
	}
	t.Logf("\n%s", out)
	for _, name := range []string{"baseline", "cis-sim"} {
		if !regexp.MustCompile(`(?m)^` + name + ` +[0-9.]+ req/s .* non-2xx 0$`).Match(out) {
			t.Fatalf("%s: no clean wrk result in\n%s", name, out)
		}
	}
	if !regexp.MustCompile(`median ratio cis-sim/baseline over 1 rounds: [0-9.]+`).Match(out) {
		t.Fatalf("no ratio in\n%s", out)
	}
}
