package cissim

import "github.com/opencis/cisauth/cis"

// DemoUsers returns the built-in demo users (a fresh copy each call):
//
//   - 555000000001 Jones Alice Dr: one clinical role (selected without asking);
//   - 555000000002 Smith Bob Mr: many roles at organisations whose names
//     carry "&", commas, apostrophes and parentheses;
//   - 555000000003 Patel Chandra Ms: two roles, admin and clinical;
//   - 555000000004 Brown Dee Mx: a registration authority agent.
//
// Role ids are 12 digits, 5550000001xx, 5550000002xx, … per user.
func DemoUsers() []cis.User {
	clinical := func(id, code, org string, acts ...string) cis.RoleProfile {
		return cis.RoleProfile{
			ID: id, OrgCode: code, OrgName: org,
			StaffGroup: "Clinical", SubGroup: "Clinical Provision", JobRole: "Health Professional Access Role",
			JobRoleCode: "S8000:G8000:R8003", Activities: acts,
			ActivityNames: []string{"Access clinical record", "View patient"},
		}
	}
	admin := func(id, code, org, job string, acts ...string) cis.RoleProfile {
		return cis.RoleProfile{
			ID: id, OrgCode: code, OrgName: org,
			StaffGroup: "Admin & Clerical", SubGroup: "Admin", JobRole: job,
			JobRoleCode: "S8001:G8001:R8000", Activities: acts,
			ActivityNames: []string{"Manage registration"},
		}
	}
	return []cis.User{
		{
			UID: "555000000001", Name: "Jones Alice Dr", OcsPrCode: "C1234567",
			Roles: []cis.RoleProfile{{
				ID: "555000000101", OrgCode: "RCJ", OrgName: "SOUTH TEES HOSPITALS NHS TRUST",
				StaffGroup: "Clinical", SubGroup: "Clinical Provision", JobRole: "Consultant",
				JobRoleCode: "S8000:G8000:R8003", Activities: []string{"B0264", "B0360"},
				ActivityNames:   []string{"Access clinical record", "View patient"},
				AreasOfWork:     []string{"General Medicine"},
				AreaOfWorkCodes: []string{"AOW100"},
				Workgroups:      []string{"Cardiology Team"},
				WorkgroupCodes:  []string{"WG0001"},
			}},
		},
		{
			UID: "555000000002", Name: "Smith Bob Mr",
			Roles: []cis.RoleProfile{
				admin("555000000201", "B81012", "STIRLING MEDICAL CENTRE (S KUMAR)", "Demographic Administrator", "B0020"),
				admin("555000000202", "B81108", "SAHA SN & DE G", "Registration Authority Agent", "B1300", "B0020"),
				admin("555000000203", "C81611", "DR GI JONES' PRACTICE", "Registration Authority Agent", "B1300"),
				clinical("555000000204", "RKF", "THE PRINCESS ROYAL HOSPITAL NHS TRUST", "B0264"),
				clinical("555000000205", "Y00221", "VEDUTLA, RDP & PARTNERS", "B0264", "B0360"),
				admin("555000000206", "D82105", "ST CLEMENT'S SURGERY", "Demographic Administrator"),
				clinical("555000000207", "RMM", "COMMUNITY HEALTHCARE BOLTON NHS TRUST", "B0360"),
				admin("555000000208", "B82099", "GRASSINGTON MEDICAL CENTRE", "Registration Authority Manager", "B1300", "B1301"),
			},
		},
		{
			UID: "555000000003", Name: "Patel Chandra Ms",
			Roles: []cis.RoleProfile{
				admin("555000000301", "RCJ", "SOUTH TEES HOSPITALS NHS TRUST", "Medical Secretary", "B0020"),
				clinical("555000000302", "RCJ", "SOUTH TEES HOSPITALS NHS TRUST", "B0264"),
			},
		},
		{
			UID: "555000000004", Name: "Brown Dee Mx",
			Roles: []cis.RoleProfile{
				admin("555000000401", "X09", "NHS CONNECTING FOR HEALTH", "Registration Authority Agent", "B1300"),
			},
		},
	}
}
