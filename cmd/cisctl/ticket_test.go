package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
)

func TestTicketCheck(t *testing.T) {
	srv := cistest.NewServer(t)
	envYAML, err := srv.Env().MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(t.TempDir(), "env.yaml")
	if err := os.WriteFile(envFile, envYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	ticket := srv.MustLogin(t, "555000000001", "555000000101")

	// From stdin (the way that keeps it out of ps), and as an argument.
	for name, tc := range map[string]struct {
		stdin string
		args  []string
	}{
		"stdin":    {ticket.Reveal() + "\n", []string{"ticket", "check", "--env", envFile}},
		"argument": {"", []string{"ticket", "check", ticket.Reveal(), "--env", envFile}},
	} {
		code, out, errOut := runCmd(t, tc.stdin, tc.args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errOut)
		}
		a := decode[assertionJSON](t, out)
		if a.UID != "555000000001" || a.SelectedRoleID != "555000000101" || a.Mode != "live" {
			t.Errorf("%s: unexpected assertion %+v", name, a)
		}
		if strings.Contains(out, "AQIC") {
			t.Errorf("%s: the ticket is printed", name)
		}
	}

	// After logout the same ticket fails, with one line that does not hold it.
	if err := srv.Logout(ticket); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, ticket.Reveal(), "ticket", "check", "--env", envFile)
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "session invalid") {
		t.Errorf("logged-out ticket: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if strings.Contains(errOut, ticket.Reveal()) || strings.Contains(errOut, "AQIC") {
		t.Errorf("error line leaks the ticket: %q", errOut)
	}

	// Anchors that do not vouch for the simulator's certificate (the dev
	// environment's): TLS is verified, never skipped.
	dev, err := cis.Preset("dev")
	if err != nil {
		t.Fatal(err)
	}
	wrong := srv.Env()
	wrong.Roots = dev.Roots
	wrongYAML, err := wrong.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(t.TempDir(), "wrong.yaml")
	if err := os.WriteFile(wrongFile, wrongYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	ticket = srv.MustLogin(t, "555000000001", "555000000101")
	code, _, errOut = runCmd(t, ticket.Reveal(), "ticket", "check", "--env", wrongFile)
	if code != 1 || !strings.Contains(errOut, "TLS trust failure") {
		t.Errorf("wrong anchors: exit %d, stderr %q", code, errOut)
	}
}

func TestTicketCheckUsage(t *testing.T) {
	for _, args := range [][]string{
		{"ticket"},
		{"ticket", "show"},
		{"ticket", "check", "AQICx"}, // no --env
		{"ticket", "check", "--env", "dev", "a", "b"},            // two tickets
		{"ticket", "check", "--env", "dev", "--skew", "forever"}, // bad duration
	} {
		if code, _, errOut := runCmd(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
	if code, _, errOut := runCmd(t, "\n", "ticket", "check", "--env", "dev"); code != 2 || !strings.Contains(errOut, "no ticket") {
		t.Errorf("empty stdin: exit %d %q", code, errOut)
	}
}
