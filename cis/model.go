package cis

import (
	"slices"
	"time"
)

// Mode is the SSB session mode chosen at role selection.
type Mode int

const (
	// ModeLive is ssbMode 0: live clinical use.
	ModeLive Mode = 0
	// ModeTraining is ssbMode 1: training.
	ModeTraining Mode = 1
)

// String returns "live" or "training".
func (m Mode) String() string {
	if m == ModeTraining {
		return "training"
	}
	return "live"
}

// RoleProfile is one of a user's CIS role profiles: an organisation, a job
// role and the activity codes ("B-codes") it grants. The name and code lists
// are not index-aligned; authorise on codes.
type RoleProfile struct {
	ID              string   // 12-digit role profile id (uniqueIdentifier, nhsjobroleN id)
	OrgCode         string   // ODS code of the organisation (nhsIdCode)
	OrgName         string   // organisation name (o)
	StaffGroup      string   // first part of nhsJobRole
	SubGroup        string   // second part of nhsJobRole
	JobRole         string   // third part of nhsJobRole
	JobRoleCode     string   // nhsJobRoleCode, e.g. S8000:G8000:R8003
	Activities      []string // nhsBusinessFunctionsCodes, e.g. B0264
	ActivityNames   []string // nhsBusinessFunctions
	AreasOfWork     []string // nhsAreaOfWork
	AreaOfWorkCodes []string // nhsAreaOfWorkCodes
	Workgroups      []string // nhsWorkGroups
	WorkgroupCodes  []string // nhsWorkGroupsCodes
	OrgOpenDate     string   // nhsOrgOpenDate (YYYYMMDD), rare
	OrgCloseDate    string   // nhsOrgCloseDate (YYYYMMDD), rare
	PersonStatus    string   // nhsPersonStatus, rare
}

// HasActivity reports whether the role grants the activity code.
func (r *RoleProfile) HasActivity(code string) bool {
	return r != nil && slices.Contains(r.Activities, code)
}

// User is a CIS user with every role profile they hold.
type User struct {
	UID       string // 12-digit user id; the card certificate's CN
	Name      string // display name, "Surname Forename Title"
	OcsPrCode string // nhsOcsPrCode, if present
	Roles     []RoleProfile
}

// Role returns the role profile with the given id, or nil.
func (u *User) Role(id string) *RoleProfile {
	if u == nil {
		return nil
	}
	for i := range u.Roles {
		if u.Roles[i].ID == id {
			return &u.Roles[i]
		}
	}
	return nil
}

// Assertion is a parsed SSB RoleAssertion: who the ticket belongs to, which
// role they selected, and when the assertion is valid.
type Assertion struct {
	User           User
	SelectedRoleID string // ssbSessionRoleUid
	Mode           Mode   // ssbMode
	AssertionID    string
	Issuer         string
	IssueInstant   time.Time
	NotBefore      time.Time
	NotOnOrAfter   time.Time
}

// SelectedRole returns the role profile the user selected for this session.
// A parsed Assertion always has one.
func (a *Assertion) SelectedRole() *RoleProfile {
	if a == nil {
		return nil
	}
	return a.User.Role(a.SelectedRoleID)
}
