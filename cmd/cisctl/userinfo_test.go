package main

import (
	"os"
	"strings"
	"testing"
)

func TestUserInfo(t *testing.T) {
	const fixture = "../../cis/cis2/testdata/userinfo/support.json"
	code, out, errOut := runCmd(t, "", "userinfo", fixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	a := decode[assertionJSON](t, out)
	if a.UID != "910000000001" || a.Name != "USERQ RANDOM Mr" || a.Mode != "live" || a.SelectedRoleID != "197955339548" || len(a.Roles) != 2 || a.IssueInstant != "" {
		t.Fatalf("%+v", a)
	}
	r := a.Roles[0]
	if r.OrgName != "NHS DIGITAL" || r.StaffGroup != "Support" || r.JobRole != "Systems Support Access Role" || r.JobRoleCode != "S8001:G8005:R8015" ||
		len(r.Activities) != 2 || len(r.Workgroups) != 1 || a.Roles[1].ActivityNames == nil {
		t.Errorf("%+v", a.Roles)
	}
	// Standard input, same answer.
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if code, out2, _ := runCmd(t, string(data), "userinfo"); code != 0 || out2 != out {
		t.Errorf("stdin: exit %d, output differs", code)
	}
	// A user with no roles prints an empty list.
	if code, out, _ := runCmd(t, `{"sub":"910000000002"}`, "userinfo"); code != 0 || !strings.Contains(out, `"roles": []`) {
		t.Errorf("no roles: %d %s", code, out)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
	}{
		{`{"sub":"1","sub":"2"}`, []string{"userinfo"}, 1},
		{`not json`, []string{"userinfo"}, 1},
		{``, []string{"userinfo", "a", "b"}, 2},
	} {
		code, _, errOut := runCmd(t, tc.stdin, tc.args...)
		if code != tc.code || (code == 1 && (!strings.HasPrefix(errOut, "cisctl userinfo: ") || strings.Count(errOut, "\n") != 1)) {
			t.Errorf("%q %v: exit %d %q", tc.stdin, tc.args, code, errOut)
		}
	}
}

func TestEnvOIDC(t *testing.T) {
	code, out, errOut := runCmd(t, "", "env", "cis2-int")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	e := decode[envJSON](t, out)
	if e.Endpoints != nil || e.OIDC == nil || !strings.HasPrefix(e.OIDC.Issuer, "https://am.nhsint.auth-ptl.cis2.spineservices.nhs.uk:443/") ||
		len(e.OIDC.Scopes) != 5 || e.OIDC.ACRValues[0] != "AAL3_ANY" || e.OIDC.AMR[0] != "N3_SMARTCARD" || len(e.OIDC.TrustAnchors) != 0 || e.OIDC.ClientAuth != "" {
		t.Errorf("%s", out)
	}
}
