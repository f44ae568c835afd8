package records

import (
	"strings"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware"
)

// The CIS activity codes and the job role this app checks. The names are
// the ones the CIS simulator's demo users carry.
const (
	// ActivityViewPatient lets a role see the patient list.
	ActivityViewPatient = "B0360"
	// ActivityClinicalRecord lets a role see the patient list and open
	// patient records.
	ActivityClinicalRecord = "B0264"
	// AdminJobRole may see the access audit.
	AdminJobRole = "R8000"
)

// activityNames names the activity codes the app uses, and says what each
// unlocks here. CIS's own list of activity names (RoleProfile
// .ActivityNames) is not in step with the codes, so the app names the
// codes it knows itself.
var activityNames = map[string]struct{ Name, Here string }{
	ActivityViewPatient:    {"View patient", "see the patient list"},
	ActivityClinicalRecord: {"Access clinical record", "see the patient list and open patient records"},
}

// feature is a part of the app and the rule that guards it. The guard
// decides for the selected role; allows tells, for the refusal page, which
// of the person's other roles would pass the same rule.
type feature struct {
	Name  string // "Patient list"
	Path  string // "/patients", or "" for no link
	Needs string // what the rule requires, in plain words
	guard *middleware.Guard
	kind  string   // "any activity", "activity" or "job role"
	codes []string // the codes the rule names
}

func anyActivity(name, path string, codes ...string) *feature {
	return &feature{Name: name, Path: path, Needs: "activity " + strings.Join(codes, " or "),
		guard: middleware.AnyActivityGuard(codes...), kind: "any activity", codes: codes}
}

func activity(name, path, code string) *feature {
	return &feature{Name: name, Path: path, Needs: "activity " + code,
		guard: middleware.ActivityGuard(code), kind: "activity", codes: []string{code}}
}

func jobRole(name, path, code string) *feature {
	return &feature{Name: name, Path: path, Needs: "job role " + code,
		guard: middleware.JobRoleGuard(code), kind: "job role", codes: []string{code}}
}

// allows reports whether a role (any of the person's, not only the
// selected one) meets the feature's rule.
func (f *feature) allows(r *cis.RoleProfile) bool {
	switch f.kind {
	case "any activity":
		for _, c := range f.codes {
			if r.HasActivity(c) {
				return true
			}
		}
		return false
	case "activity":
		return r.HasActivity(f.codes[0])
	default: // job role: the R… part of S…:G…:R…
		last := r.JobRoleCode[strings.LastIndex(r.JobRoleCode, ":")+1:]
		return last != "" && strings.EqualFold(last, f.codes[0])
	}
}
