package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/opencis/cisauth/cis"
)

// assertionJSON is the printed form of a RoleAssertion.
type assertionJSON struct {
	UID            string     `json:"uid"`
	Name           string     `json:"name"`
	Mode           string     `json:"mode"`
	SelectedRoleID string     `json:"selected_role_id"`
	IssueInstant   string     `json:"issue_instant"`
	NotBefore      string     `json:"not_before"`
	NotOnOrAfter   string     `json:"not_on_or_after"`
	Roles          []roleJSON `json:"roles"`
}

type roleJSON struct {
	ID              string   `json:"id"`
	OrgCode         string   `json:"org_code"`
	OrgName         string   `json:"org_name"`
	StaffGroup      string   `json:"staff_group"`
	SubGroup        string   `json:"sub_group"`
	JobRole         string   `json:"job_role"`
	JobRoleCode     string   `json:"job_role_code"`
	Activities      []string `json:"activities"`
	ActivityNames   []string `json:"activity_names"`
	AreasOfWork     []string `json:"areas_of_work"`
	AreaOfWorkCodes []string `json:"area_of_work_codes"`
	Workgroups      []string `json:"workgroups"`
	WorkgroupCodes  []string `json:"workgroup_codes"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// list makes nil print as [] rather than null.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newAssertionJSON(a *cis.Assertion) assertionJSON {
	out := assertionJSON{
		UID:            a.User.UID,
		Name:           a.User.Name,
		Mode:           a.Mode.String(),
		SelectedRoleID: a.SelectedRoleID,
		IssueInstant:   rfc3339(a.IssueInstant),
		NotBefore:      rfc3339(a.NotBefore),
		NotOnOrAfter:   rfc3339(a.NotOnOrAfter),
		Roles:          []roleJSON{},
	}
	for _, r := range a.User.Roles {
		out.Roles = append(out.Roles, roleJSON{
			ID: r.ID, OrgCode: r.OrgCode, OrgName: r.OrgName,
			StaffGroup: r.StaffGroup, SubGroup: r.SubGroup, JobRole: r.JobRole, JobRoleCode: r.JobRoleCode,
			Activities: list(r.Activities), ActivityNames: list(r.ActivityNames),
			AreasOfWork: list(r.AreasOfWork), AreaOfWorkCodes: list(r.AreaOfWorkCodes),
			Workgroups: list(r.Workgroups), WorkgroupCodes: list(r.WorkgroupCodes),
		})
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
