package cis2

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
)

func TestParseUserInfoFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/userinfo/support.json")
	if err != nil {
		t.Fatal(err)
	}
	ui, err := ParseUserInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if ui.Subject != "910000000001" || ui.User.UID != "910000000001" || ui.User.Name != "USERQ RANDOM Mr" || ui.SelectedRoleID != "197955339548" {
		t.Fatalf("%+v", ui)
	}
	want := cis.RoleProfile{
		ID: "197955339548", OrgCode: "A9A5A", OrgName: "NHS DIGITAL",
		StaffGroup: "Support", SubGroup: "Systems Support", JobRole: "Systems Support Access Role", JobRoleCode: "S8001:G8005:R8015",
		Activities: []string{"B0069", "B0082"}, ActivityNames: []string{"Receive Self Claimed LR Alert Notifications", "Manage Pending Registration"},
		AreasOfWork: []string{"Informatics"}, AreaOfWorkCodes: []string{"AOW10"}, Workgroups: []string{"Support Team"}, WorkgroupCodes: []string{"WG10001"},
	}
	got := ui.User.Role("197955339548")
	if got == nil || !roleEqual(*got, want) {
		t.Fatalf("role\n got %+v\nwant %+v", got, want)
	}
	nurse := ui.User.Role("197955339549")
	if nurse == nil || nurse.OrgName != "SOUTH TEES HOSPITALS NHS TRUST" || !nurse.HasActivity("B0264") || nurse.ActivityNames != nil {
		t.Fatalf("second role %+v", nurse)
	}
}

func roleEqual(a, b cis.RoleProfile) bool {
	return a.ID == b.ID && a.OrgCode == b.OrgCode && a.OrgName == b.OrgName && a.StaffGroup == b.StaffGroup &&
		a.SubGroup == b.SubGroup && a.JobRole == b.JobRole && a.JobRoleCode == b.JobRoleCode &&
		slices.Equal(a.Activities, b.Activities) && slices.Equal(a.ActivityNames, b.ActivityNames) &&
		slices.Equal(a.AreasOfWork, b.AreasOfWork) && slices.Equal(a.AreaOfWorkCodes, b.AreaOfWorkCodes) &&
		slices.Equal(a.Workgroups, b.Workgroups) && slices.Equal(a.WorkgroupCodes, b.WorkgroupCodes)
}

func TestParseUserInfoNoRoles(t *testing.T) {
	b, err := os.ReadFile("testdata/userinfo/noroles.json")
	if err != nil {
		t.Fatal(err)
	}
	ui, err := ParseUserInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ui.User.Roles) != 0 || ui.SelectedRoleID != "" || ui.User.Name != "Roleless Nora" {
		t.Fatalf("%+v", ui)
	}
}

// The simulator's documents map back to the users they came from: the same
// model through both paths.
func TestParseUserInfoRoundTrip(t *testing.T) {
	for _, u := range cissim.DemoUsers() {
		doc, err := cissim.UserInfoDocument(&u, "", u.Roles[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(doc)
		ui, err := ParseUserInfo(b)
		if err != nil {
			t.Fatalf("%s: %v", u.UID, err)
		}
		if ui.User.UID != u.UID || ui.User.Name != u.Name || ui.SelectedRoleID != u.Roles[0].ID || len(ui.User.Roles) != len(u.Roles) {
			t.Fatalf("%s: %+v", u.UID, ui)
		}
		for i := range u.Roles {
			if !roleEqual(ui.User.Roles[i], u.Roles[i]) {
				t.Errorf("%s role %d\n got %+v\nwant %+v", u.UID, i, ui.User.Roles[i], u.Roles[i])
			}
		}
	}
}

func TestParseUserInfoRefuses(t *testing.T) {
	role := func(extra string) string {
		return `{"sub":"1","nhsid_nrbac_roles":[{"person_roleid":"r1","org_code":"X","role_code":"S:G:R","role_name":"\"a\":\"b\":\"c\""` + extra + `}]}`
	}
	tests := map[string]string{
		"not json":               `{`,
		"not an object":          `[1]`,
		"no sub":                 `{"name":"x"}`,
		"empty sub":              `{"sub":""}`,
		"sub not text":           `{"sub":1}`,
		"duplicate sub":          `{"sub":"1","sub":"2"}`,
		"duplicate in a role":    role(`,"org_code":"Y"`),
		"uid differs":            `{"sub":"1","uid":"2"}`,
		"nhsid_useruid differs":  `{"sub":"1","nhsid_useruid":"2"}`,
		"trailing data":          `{"sub":"1"} {}`,
		"control character":      `{"sub":"1","name":"a\u0007b"}`,
		"roles not a list":       `{"sub":"1","nhsid_nrbac_roles":{}}`,
		"role without id":        `{"sub":"1","nhsid_nrbac_roles":[{"org_code":"X","role_code":"","role_name":"\"a\":\"b\":\"c\""}]}`,
		"role without role_name": `{"sub":"1","nhsid_nrbac_roles":[{"person_roleid":"r1","org_code":"X","role_code":""}]}`,
		"role_name two parts":    `{"sub":"1","nhsid_nrbac_roles":[{"person_roleid":"r1","org_code":"X","role_code":"","role_name":"\"a\":\"b\""}]}`,
		"role_name unquoted":     `{"sub":"1","nhsid_nrbac_roles":[{"person_roleid":"r1","org_code":"X","role_code":"","role_name":"a:b:c"}]}`,
		"repeated role id":       `{"sub":"1","nhsid_nrbac_roles":[{"person_roleid":"r1","org_code":"X","role_code":"","role_name":"\"a\":\"b\":\"c\""},{"person_roleid":"r1","org_code":"X","role_code":"","role_name":"\"a\":\"b\":\"c\""}]}`,
		"activities not texts":   role(`,"activity_codes":[1]`),
		"null role":              `{"sub":"1","nhsid_nrbac_roles":[null]}`,
		"org named twice":        `{"sub":"1","nhsid_user_orgs":[{"org_code":"X","org_name":"A"},{"org_code":"X","org_name":"B"}]}`,
		"too deep":               `{"sub":"1","x":[[[[[[[1]]]]]]]}`,
		"long text":              `{"sub":"1","name":"` + strings.Repeat("a", maxText+1) + `"}`,
		"escaped duplicate":      `{"sub":"1","s\u0075b":"2"}`,
		"long-s sub":             `{"ſub":"2","sub":"1"}`,
		"Kelvin sign in a key":   role(`,"wor\u212Agroups":["x"]`),
		"too many items":         role(`,"activity_codes":[` + strings.TrimSuffix(strings.Repeat(`"B0001",`, maxListItems+1), ",") + `]`),
	}
	for name, doc := range tests {
		_, err := ParseUserInfo([]byte(doc))
		if !errors.Is(err, cis.ErrMalformed) && !errors.Is(err, cis.ErrTooLarge) {
			t.Errorf("%s: want ErrMalformed or ErrTooLarge, got %v", name, err)
		}
	}
	big := make([]byte, MaxUserInfoSize+1)
	if _, err := ParseUserInfo(big); !errors.Is(err, cis.ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	// Keys differing only in case are different keys (encoding/json would
	// fold them): "SUB" is not sub.
	if _, err := ParseUserInfo([]byte(`{"SUB":"1"}`)); err == nil {
		t.Error("SUB taken for sub")
	}
	// Unknown keys and nulls are fine.
	if ui, err := ParseUserInfo([]byte(`{"sub":"1","auditTrackingId":"x","nhsid_user_orgs":null,"email":null,"x":{"y":[1,2]}}`)); err != nil || ui.Subject != "1" {
		t.Errorf("unknown keys: %v", err)
	}
}

func FuzzParseUserInfo(f *testing.F) {
	for _, name := range []string{"support.json", "noroles.json"} {
		b, err := os.ReadFile("testdata/userinfo/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"sub":"1","sub":"2"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ui, err := ParseUserInfo(b)
		if err != nil {
			if !errors.Is(err, cis.ErrMalformed) && !errors.Is(err, cis.ErrTooLarge) {
				t.Fatalf("error matches neither ErrMalformed nor ErrTooLarge: %v", err)
			}
			return
		}
		if ui.Subject == "" || ui.User.UID != ui.Subject {
			t.Fatalf("accepted without a subject: %+v", ui)
		}
		seen := map[string]bool{}
		for _, r := range ui.User.Roles {
			if r.ID == "" || seen[r.ID] {
				t.Fatalf("role id empty or repeated: %+v", ui.User.Roles)
			}
			seen[r.ID] = true
		}
		if !json.Valid(b) {
			t.Fatal("accepted invalid JSON")
		}
		if hasRepeatedKey(b) {
			t.Fatal("accepted a repeated key")
		}
	})
}

// hasRepeatedKey is the slow reference for checkKeys: json.Decoder's
// tokens, a set of decoded keys per object.
func hasRepeatedKey(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].key {
			k, ok := tok.(string)
			if !ok {
				stack = stack[:n-1]
				continue
			}
			if stack[n-1].keys[k] {
				return true
			}
			stack[n-1].keys[k], stack[n-1].key = true, false
			continue
		} else if n > 0 && stack[n-1].object {
			stack[n-1].key = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]bool{}, object: true, key: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
