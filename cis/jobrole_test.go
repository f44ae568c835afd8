package cis

import (
	"errors"
	"testing"
)

func TestParseJobRoleText(t *testing.T) {
	for _, tc := range []struct{ text, org, staff, sub, role string }{
		{`NOTTINGHAM UNIVERSITY HOSPITALS NHS TRUST, "Clinical":"Clinical Provision":"Health Professional Access Role"`,
			"NOTTINGHAM UNIVERSITY HOSPITALS NHS TRUST", "Clinical", "Clinical Provision", "Health Professional Access Role"},
		{`THE DENSHAM SURGERY, LITTLE HARBOUR, STOCKTON, "Admin & Clerical":"Admin & Clerical":"Receptionist"`,
			"THE DENSHAM SURGERY, LITTLE HARBOUR, STOCKTON", "Admin & Clerical", "Admin & Clerical", "Receptionist"},
		{`GUY'S AND ST THOMAS' (A&E), "Clinical":"":"Consultant"`, "GUY'S AND ST THOMAS' (A&E)", "Clinical", "", "Consultant"},
		{`ORG , "a ":" b":"c"  `, "ORG", "a", "b", "c"},
	} {
		org, staff, sub, role, err := ParseJobRoleText(tc.text)
		if err != nil || org != tc.org || staff != tc.staff || sub != tc.sub || role != tc.role {
			t.Errorf("%s: %q %q %q %q %v", tc.text, org, staff, sub, role, err)
		}
		if tc.text[len(tc.text)-1] == '"' {
			if got := FormatJobRoleText(org, staff, sub, role); got != tc.text {
				t.Errorf("Format = %q, want %q", got, tc.text)
			}
		}
	}
	for _, bad := range []string{"", "ORG", `ORG, "a":"b"`, `ORG, "a":"b":"c`, `ORG, a:b:c`, `ORG, "`} {
		if _, _, _, _, err := ParseJobRoleText(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestJobRolesErrors(t *testing.T) {
	text := FormatJobRoleText("ORG", "a", "b", "c")
	for name, params := range map[string][]Param{
		"no id":      {{Name: "nhsjobrole0", Value: text}},
		"bad index":  {{Name: "nhsjobrolex", Value: text, Attrs: []Attr{{"id", "1"}}}},
		"signed":     {{Name: "nhsjobrole+1", Value: text, Attrs: []Attr{{"id", "1"}}}},
		"repeated":   {{Name: "nhsjobrole1", Value: text, Attrs: []Attr{{"id", "1"}}}, {Name: "nhsjobrole01", Value: text, Attrs: []Attr{{"id", "2"}}}},
		"bad text":   {{Name: "nhsjobrole0", Value: "ORG only", Attrs: []Attr{{"id", "1"}}}},
		"huge index": {{Name: "nhsjobrole99999999999999999999", Value: text, Attrs: []Attr{{"id", "1"}}}},
	} {
		g := &GPObject{Params: params}
		if _, err := g.JobRoles(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	g := &GPObject{Params: []Param{
		{Name: "nhsjobrole10", Value: text, Attrs: []Attr{{"id", "b"}}},
		{Name: "nhsjobrole2", Value: text, Attrs: []Attr{{"id", "a"}, {"orgcode", "X1"}}},
		{Name: "cn", Value: "x"},
	}}
	roles, err := g.JobRoles()
	if err != nil || len(roles) != 2 || roles[0].ID != "a" || roles[0].OrgCode != "X1" || roles[1].Index != 10 {
		t.Errorf("ordering: %+v %v", roles, err)
	}
}
