package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// runCmd runs cisctl with args and stdin, returning exit status, stdout and stderr.
func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the documented JSON: %v\n%s", err, s)
	}
	return v
}

func TestAssertionFromFileAndStdin(t *testing.T) {
	const fixture = "../../cis/testdata/assertion/forty-roles.xml"
	code, out, errOut := runCmd(t, "", "assertion", fixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	a := decode[assertionJSON](t, out)
	if a.UID != "555006130103" || a.Mode != "live" || a.SelectedRoleID != "555006300022" || len(a.Roles) != 40 {
		t.Fatalf("unexpected assertion: uid=%s mode=%s selected=%s roles=%d", a.UID, a.Mode, a.SelectedRoleID, len(a.Roles))
	}
	if a.IssueInstant != "2026-11-26T10:30:51Z" || a.NotBefore != "2026-11-26T10:27:51Z" || a.NotOnOrAfter != "2026-11-26T10:31:51Z" {
		t.Errorf("times not RFC 3339 UTC: %+v", a)
	}
	// The selected role is not the first block, and its texts keep their '&'.
	var found bool
	for _, r := range a.Roles {
		if r.ID == a.SelectedRoleID {
			found = true
		}
	}
	if !found || a.Roles[0].ID == a.SelectedRoleID || !strings.Contains(a.Roles[0].OrgName, "&") {
		t.Errorf("selected role or org name wrong: %+v", a.Roles[0])
	}
	// The same document on stdin gives the same output.
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	code, out2, _ := runCmd(t, string(data), "assertion")
	if code != 0 || out2 != out {
		t.Fatalf("stdin gave a different result (exit %d)", code)
	}
	// Empty lists print as [] (never null).
	if strings.Contains(out, "null") {
		t.Errorf("output has null: %s", out)
	}
}

func TestAssertionEmptyListsAreArrays(t *testing.T) {
	code, out, errOut := runCmd(t, "", "assertion", "../../cis/testdata/assertion/single-role.xml")
	if code != 0 {
		t.Fatalf("fixture: %s", errOut)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	role := raw["roles"].([]any)[0].(map[string]any)
	for _, k := range []string{"activities", "activity_names", "areas_of_work", "area_of_work_codes", "workgroups", "workgroup_codes"} {
		if _, ok := role[k].([]any); !ok {
			t.Errorf("%s is %v, want a JSON array", k, role[k])
		}
	}
}

func TestAssertionErrors(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"garbage", "not xml at all", []string{"assertion"}, 1},
		{"truncated", "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:1.0:protocol\"", []string{"assertion"}, 1},
		{"missing file", "", []string{"assertion", "/nonexistent/x.xml"}, 1},
		{"two files", "", []string{"assertion", "a", "b"}, 2},
		{"bad flag", "", []string{"assertion", "--nope"}, 2},
		{"non-success status", "", []string{"assertion", "../../cis/testdata/assertion/status-requester.xml"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "cisctl assertion: ") {
				t.Errorf("want one error line, got %q", errOut)
			}
		})
	}
}

func TestGPObject(t *testing.T) {
	code, out, errOut := runCmd(t, "", "gpobject", "../../cis/testdata/gpobject/validate-response-40roles.xml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	g := decode[gpobjectJSON](t, out)
	if g.Service != "AUTHENTICATION" || g.Params["sso_ticket"] == "" || len(g.Roles) != 40 {
		t.Fatalf("unexpected: service=%q roles=%d", g.Service, len(g.Roles))
	}
	for i, r := range g.Roles {
		if r.Index != i || len(r.ID) != 12 || r.OrgCode == "" || r.JobRole == "" {
			t.Fatalf("role %d out of order or incomplete: %+v", i, r)
		}
	}
	// Raw '&' in the role texts is kept as text.
	if !strings.Contains(out, `"staff_group": "Admin & Clerical"`) {
		t.Error("raw & lost in role texts")
	}

	code, _, errOut = runCmd(t, "<gpOBJECT><gpPARAM name=\"a\">x</gpOBJECT>", "gpobject")
	if code != 1 || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("malformed input: exit %d, stderr %q", code, errOut)
	}
}

func TestEnv(t *testing.T) {
	code, out, errOut := runCmd(t, "", "env", "dev", "--at", "2026-11-23T21:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	e := decode[envJSON](t, out)
	if !e.Maintenance.InSlot || e.Maintenance.Slot != "Spine CIS Mon 20:00-Tue 06:00" || e.Maintenance.Ends != "2026-11-24T06:00:00Z" {
		t.Errorf("maintenance: %+v", e.Maintenance)
	}
	if e.Endpoints == nil || e.Endpoints.RoleAssertion != "https://sbapi.vn03.national.ncrs.nhs.uk/saml/RoleAssertion" || len(e.TrustAnchors) != 2 || e.OIDC != nil {
		t.Errorf("endpoints/anchors: %+v", e)
	}
	// Flags before the name, and an instant outside any slot.
	code, out, _ = runCmd(t, "", "env", "--at", "2026-11-26T12:00:00Z", "dev")
	if code != 0 {
		t.Fatal(code)
	}
	if e := decode[envJSON](t, out); e.Maintenance.InSlot || e.Maintenance.Ends != "" {
		t.Errorf("want no slot: %+v", e.Maintenance)
	}
	for _, args := range [][]string{{"env", "--at", "yesterday"}, {"env", "dev", "local"}} {
		if code, _, _ := runCmd(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCmd(t, "", "env", "no-such-env"); code != 1 || !strings.Contains(errOut, "no-such-env") {
		t.Errorf("unknown env: exit %d %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	if code, _, _ := runCmd(t, ""); code != 2 {
		t.Errorf("no args: exit %d", code)
	}
	if code, _, errOut := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, "frobnicate") {
		t.Errorf("unknown command: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "help"); code != 0 || !strings.Contains(errOut, "ticket check") {
		t.Errorf("help: exit %d", code)
	}
}
