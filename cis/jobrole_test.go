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

// TestJobRolesTrimXMLSpaceOnly: a role id or ODS code wrapped in Unicode
// space is not trimmed into a valid-looking one; XML white space is.
func TestJobRolesTrimXMLSpaceOnly(t *testing.T) {
	text := FormatJobRoleText("ORG", "a", "b", "c")
	g, err := ParseGPObject([]byte(`<gpOBJECT>` +
		`<gpPARAM name="nhsjobrole0" id="&#160;555006304103&#x2003;" orgcode="` + "\u0085RME" + `">` + text + `</gpPARAM>` +
		`<gpPARAM name="nhsjobrole1" id=" 555006304104&#10;" orgcode="&#9;RME ">` + "\u00a0ORG\u00a0, \"a\":\"b\":\"c\"" + `</gpPARAM>` +
		`</gpOBJECT>`))
	if err != nil {
		t.Fatal(err)
	}
	roles, err := g.JobRoles()
	if err != nil || len(roles) != 2 {
		t.Fatalf("%+v, %v", roles, err)
	}
	if r := roles[0]; r.ID != "\u00a0555006304103\u2003" || r.OrgCode != "\u0085RME" {
		t.Errorf("role 0: id %q orgcode %q, want them as written", r.ID, r.OrgCode)
	}
	if r := roles[1]; r.ID != "555006304104" || r.OrgCode != "RME" || r.OrgName != "\u00a0ORG\u00a0" {
		t.Errorf("role 1: id %q orgcode %q org %q", r.ID, r.OrgCode, r.OrgName)
	}
}
