package cissim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadUsersIssueExample(t *testing.T) {
	users, err := LoadUsers("testdata/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 {
		t.Fatalf("got %d users", len(users))
	}
	a := users[0]
	if a.UID != "555000000001" || a.Name != "Jones Alice Dr" || len(a.Roles) != 1 {
		t.Fatalf("user 0 = %+v", a)
	}
	r := a.Roles[0]
	if r.ID != "555000000101" || r.OrgCode != "RCJ" || r.JobRoleCode != "S8000:G8000:R8003" ||
		strings.Join(r.Activities, ",") != "B0264,B0360" || len(r.ActivityNames) != 2 || r.AreasOfWork != nil {
		t.Fatalf("role = %+v", r)
	}
	if got := users[1].Roles[0].OrgName; got != "SAHA SN & DE G, O'NEILL (BRANCH)" {
		t.Fatalf("org name %q", got)
	}
	if err := checkUsers(users); err != nil {
		t.Fatal(err)
	}
}

func TestParseUsersErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "users:\n  - uid: \"555000000001\"\n    nmae: x\n", "u.yaml:3: user: unknown key \"nmae\""},
		{"short uid", "users:\n  - uid: \"5550\"\n    name: x\n    roles: []\n", "u.yaml:2: uid \"5550\": want 12 digits"},
		{"unquoted uid ok", "users:\n  - uid: 555000000001\n    name: x\n    roles:\n      - id: \"555000000101\"\n        org_code: RCJ\n        org_name: X\n        staff_group: a\n        sub_group: b\n        job_role: c\n", ""},
		{"no roles", "users:\n  - uid: \"555000000001\"\n    name: x\n", "u.yaml:2: user 555000000001: roles: want a non-empty list"},
		{"syntax", "users:\n  - uid: \"5\n", "u.yaml:2:"},
		{"tab", "users:\n\t- uid: 1\n", "u.yaml:2:"},
		{"empty", "", "u.yaml: empty"},
		{"duplicate uid", strings.Repeat("", 0) + "users:\n" + userYAML("555000000001", "555000000101") + userYAML("555000000001", "555000000102"),
			"u.yaml:12: uid 555000000001 already used by the user at line 2"},
		{"duplicate role", "users:\n  - uid: \"555000000001\"\n    name: x\n    roles:\n" + roleYAML("555000000101") + roleYAML("555000000101"),
			"u.yaml:12: user 555000000001: role id 555000000101 given twice"},
		{"quote in job role", "users:\n  - uid: \"555000000001\"\n    name: x\n    roles:\n" + strings.Replace(roleYAML("555000000101"), "job_role: c", `job_role: 'c"d'`, 1),
			"u.yaml:10: job_role: must not contain"},
		{"angle bracket", "users:\n  - uid: \"555000000001\"\n    name: \"<x>\"\n", "u.yaml:3: name: character '<' not allowed"},
		{"alias", "users:\n  - &a\n    uid: \"555000000001\"\n  - *a\n", "anchors and aliases are not allowed"},
		{"list not scalar", "users:\n  - uid: [1]\n", "u.yaml:2: uid: want a single value"},
		{"top key", "people: []\n", "u.yaml:1: top level: unknown key \"people\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUsers([]byte(tc.yaml), "u.yaml")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			var ue *UsersFileError
			if !errors.As(err, &ue) || ue.File != "u.yaml" {
				t.Fatalf("error %T %v is not a *UsersFileError for u.yaml", err, err)
			}
		})
	}
}

func userYAML(uid, role string) string {
	return "  - uid: \"" + uid + "\"\n    name: x\n    roles:\n" + roleYAML(role)
}

func roleYAML(id string) string {
	return "      - id: \"" + id + "\"\n        org_code: RCJ\n        org_name: X\n        staff_group: a\n        sub_group: b\n        job_role: c\n        activities: [B0264]\n"
}

func TestLoadUsersMissingAndLarge(t *testing.T) {
	_, err := LoadUsers(filepath.Join(t.TempDir(), "nope.yaml"))
	var ue *UsersFileError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, maxUsersFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUsers(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big file: %v", err)
	}
}

func TestDemoUsers(t *testing.T) {
	users := DemoUsers()
	if err := checkUsers(users); err != nil {
		t.Fatal(err)
	}
	var single, many bool
	for _, u := range users {
		if !strings.HasPrefix(u.UID, "5550000000") {
			t.Errorf("uid %s", u.UID)
		}
		single = single || len(u.Roles) == 1
		if len(u.Roles) >= 5 {
			var amp, comma, apos bool
			for _, r := range u.Roles {
				amp = amp || strings.Contains(r.OrgName, "&")
				comma = comma || strings.Contains(r.OrgName, ",")
				apos = apos || strings.Contains(r.OrgName, "'")
			}
			many = amp && comma && apos
		}
	}
	if !single || !many {
		t.Fatalf("demo users lack a single-role user (%v) or a many-role user with &, comma and apostrophe (%v)", single, many)
	}
	users[0].Name = "changed"
	if DemoUsers()[0].Name == "changed" {
		t.Fatal("DemoUsers shares state between calls")
	}
}
