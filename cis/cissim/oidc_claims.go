package cissim

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis"
)

// scopeSet is a set of the CIS2 scopes (shared/spec/cis2.md).
type scopeSet uint16

const (
	scopeOpenID scopeSet = 1 << iota
	scopeProfile
	scopeEmail
	scopeNHSPerson
	scopeRBAC
	scopeOrgs
	scopeProfessionalMemberships
	scopeOrganisationalMemberships
	scopeSelectedRole
)

var scopeNames = [...]string{
	"openid", "profile", "email", "nhsperson", "nationalrbacaccess", "associatedorgs",
	"professionalmemberships", "organisationalmemberships", "selectedrole",
}

func knownScopeNames() []string { return append([]string(nil), scopeNames[:]...) }

// parseScopes parses a scope parameter; an unknown scope is an error.
func parseScopes(s string) (scopeSet, error) {
	var set scopeSet
	for _, name := range strings.Fields(s) {
		found := false
		for i, n := range scopeNames {
			if name == n {
				set |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown scope %q", name)
		}
	}
	return set, nil
}

func (s scopeSet) has(x scopeSet) bool { return s&x != 0 }

func (s scopeSet) String() string {
	var names []string
	for i, n := range scopeNames {
		if s&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, " ")
}

// Assurance the simulator's smartcard sessions carry.
const (
	simACR = "AAL3_ANY"
	simAMR = "N3_SMARTCARD"
)

// splitLegacyName splits a legacy cn, "Surname Forename Title", into its
// parts: one word is a surname, two a surname and forename, more a
// surname, forenames and a title.
func splitLegacyName(cn string) (family, given, title string) {
	w := strings.Fields(cn)
	switch len(w) {
	case 0:
		return "", "", ""
	case 1:
		return w[0], "", ""
	case 2:
		return w[0], w[1], ""
	}
	return w[0], strings.Join(w[1:len(w)-1], " "), w[len(w)-1]
}

// personOrgID is a stable 12-digit person_orgid for a user at an
// organisation (the simulator's users files have none).
func personOrgID(uid, org string) string {
	h := fnv.New64a()
	h.Write([]byte(uid + "/" + org))
	return fmt.Sprintf("%012d", h.Sum64()%1_000_000_000_000)
}

// atHash is the ID token's at_hash for an access token (SHA-256, left half).
func atHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// profileClaims adds the profile scope's claims for u.
func profileClaims(c map[string]any, u *cis.User) {
	family, given, _ := splitLegacyName(u.Name)
	c["name"] = u.Name
	c["family_name"] = family
	c["given_name"] = given
	c["uid"] = u.UID
}

// idTokenClaims are the claims of an ID token for g, as CIS2 issues them.
func (p *oidcProvider) idTokenClaims(g *grant, iss, nonce, access string, now time.Time) map[string]any {
	u := &p.s.users[g.user]
	c := map[string]any{
		"iss": iss, "sub": u.UID, "aud": g.client, "azp": g.client,
		"iat": now.Unix(), "exp": now.Add(p.cfg.IDTokenTTL).Unix(), "auth_time": g.authTime,
		"acr": simACR, "amr": []string{simAMR},
		"sid":                            sessionID(&g.session),
		"id_assurance_level":             "3",
		"authentication_assurance_level": "3",
		"tokenName":                      "id_token",
		"tokenType":                      "JWTToken",
		"realm":                          "/NHSIdentity/Healthcare",
		"auditTrackingId":                personOrgID(u.UID, fmt.Sprint(now.UnixNano())),
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if access != "" {
		c["at_hash"] = atHash(access)
	}
	if g.scopes.has(scopeProfile) {
		profileClaims(c, u)
	}
	if g.role != noRole {
		c["selected_roleid"] = u.Roles[g.role].ID
	}
	return c
}

// userInfoRole is one entry of nhsid_nrbac_roles.
type userInfoRole struct {
	PersonOrgID     string   `json:"person_orgid"`
	PersonRoleID    string   `json:"person_roleid"`
	OrgCode         string   `json:"org_code"`
	RoleCode        string   `json:"role_code"`
	RoleName        string   `json:"role_name"`
	ActivityCodes   []string `json:"activity_codes,omitempty"`
	Activities      []string `json:"activities,omitempty"`
	AOW             []string `json:"aow,omitempty"`
	AOWCodes        []string `json:"aow_codes,omitempty"`
	Workgroups      []string `json:"workgroups,omitempty"`
	WorkgroupsCodes []string `json:"workgroups_codes,omitempty"`
}

type userInfoOrg struct {
	OrgCode string `json:"org_code"`
	OrgName string `json:"org_name"`
}

// UserInfoDocument renders u's CIS2 UserInfo document as the simulator
// serves it for the given scopes (space-separated; every scope if empty)
// and selected role id (omitted if empty). cisctl's fixtures and tests use
// it.
func UserInfoDocument(u *cis.User, scopes, selectedRoleID string) (map[string]any, error) {
	set := ^scopeSet(0)
	if scopes != "" {
		var err error
		if set, err = parseScopes(scopes); err != nil {
			return nil, err
		}
	}
	return userInfoClaims(u, set, selectedRoleID), nil
}

func userInfoClaims(u *cis.User, scopes scopeSet, selectedRoleID string) map[string]any {
	c := map[string]any{"sub": u.UID}
	if scopes.has(scopeProfile) {
		profileClaims(c, u)
	}
	if scopes.has(scopeNHSPerson) {
		family, given, title := splitLegacyName(u.Name)
		c["nhsid_useruid"] = u.UID
		c["title"] = title
		c["display_name"] = strings.TrimSpace(given + " " + family)
		c["idassurancelevel"] = "3"
	}
	if scopes.has(scopeRBAC) {
		roles := make([]userInfoRole, 0, len(u.Roles))
		for i := range u.Roles {
			r := &u.Roles[i]
			roles = append(roles, userInfoRole{
				PersonOrgID: personOrgID(u.UID, r.OrgCode), PersonRoleID: r.ID, OrgCode: r.OrgCode,
				RoleCode: r.JobRoleCode, RoleName: cis.FormatJobRoleName(r.StaffGroup, r.SubGroup, r.JobRole),
				ActivityCodes: r.Activities, Activities: r.ActivityNames,
				AOW: r.AreasOfWork, AOWCodes: r.AreaOfWorkCodes,
				Workgroups: r.Workgroups, WorkgroupsCodes: r.WorkgroupCodes,
			})
		}
		c["nhsid_nrbac_roles"] = roles
	}
	if scopes.has(scopeOrgs) {
		orgs := []userInfoOrg{}
		seen := map[string]bool{}
		for i := range u.Roles {
			r := &u.Roles[i]
			if !seen[r.OrgCode] {
				seen[r.OrgCode] = true
				orgs = append(orgs, userInfoOrg{OrgCode: r.OrgCode, OrgName: r.OrgName})
			}
		}
		c["nhsid_user_orgs"] = orgs
	}
	if selectedRoleID != "" {
		c["selected_roleid"] = selectedRoleID
	}
	return c
}
