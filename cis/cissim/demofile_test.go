package cissim

import (
	"github.com/opencis/cisauth/cis"
	"reflect"
	"testing"
)

// The users file in testdata/users/demo.yaml is the documented, editable
// copy of the built-in demo set; the two must not drift apart.
func TestDemoUsersFileMatchesBuiltIn(t *testing.T) {
	users, err := LoadUsers("../../testdata/users/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := DemoUsers()
	if len(users) != len(want) {
		t.Fatalf("file has %d users, built-in set %d", len(users), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(normalizeUser(users[i]), normalizeUser(want[i])) {
			t.Errorf("user %d differs:\n file: %+v\n built-in: %+v", i, users[i], want[i])
		}
	}
}

// normalizeUser makes empty and nil lists compare equal.
func normalizeUser(u cis.User) cis.User {
	out := u
	out.Roles = nil
	for _, r := range u.Roles {
		for _, l := range []*[]string{&r.Activities, &r.ActivityNames, &r.AreasOfWork, &r.AreaOfWorkCodes, &r.Workgroups, &r.WorkgroupCodes} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		out.Roles = append(out.Roles, r)
	}
	return out
}
