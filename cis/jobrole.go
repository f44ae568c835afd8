package cis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// LoginRole is one nhsjobroleN param of a GAS validate response: a role
// profile the user may select, as GAS lists it at login.
type LoginRole struct {
	Index      int    // N of nhsjobroleN
	ID         string // 12-digit role profile id (attribute id)
	OrgCode    string // ODS code (attribute orgcode)
	OrgName    string
	StaffGroup string
	SubGroup   string
	JobRole    string
}

// jobRoleSep separates the organisation name from the quoted role parts.
const jobRoleSep = `, "`

// ParseJobRoleText splits a role text of the form
// `<ORG NAME>, "<staff group>":"<sub group>":"<job role>"`. The org name
// ends at the first `, "` (org names themselves hold commas, apostrophes,
// '&' and parentheses). Parts are trimmed of surrounding XML white space
// (space, tab, CR, LF; not other Unicode space).
func ParseJobRoleText(text string) (orgName, staffGroup, subGroup, jobRole string, err error) {
	i := strings.Index(text, jobRoleSep)
	if i < 0 {
		return "", "", "", "", &ParseError{What: "job role", Offset: -1, Msg: "no `, \"` after the organisation name"}
	}
	staffGroup, subGroup, jobRole, err = parseJobRoleParts(text[i+len(jobRoleSep)-1:], int64(i))
	if err != nil {
		return "", "", "", "", err
	}
	return trimXMLSpace(text[:i]), staffGroup, subGroup, jobRole, nil
}

// ParseJobRoleName splits a job role name of three quoted parts joined by
// colons, `"<staff group>":"<sub group>":"<job role>"` (the role text
// without its organisation, as CIS2 sends it in role_name). Parts are
// trimmed of surrounding white space.
func ParseJobRoleName(name string) (staffGroup, subGroup, jobRole string, err error) {
	return parseJobRoleParts(name, 0)
}

// FormatJobRoleName is the inverse of ParseJobRoleName.
func FormatJobRoleName(staffGroup, subGroup, jobRole string) string {
	return `"` + staffGroup + `":"` + subGroup + `":"` + jobRole + `"`
}

// parseJobRoleParts splits the quoted parts; off locates them for errors.
func parseJobRoleParts(s string, off int64) (staffGroup, subGroup, jobRole string, err error) {
	rest := trimXMLSpace(s)
	if len(rest) < 2 || rest[0] != '"' || rest[len(rest)-1] != '"' {
		return "", "", "", &ParseError{What: "job role", Offset: off, Msg: "role parts not quoted"}
	}
	parts := strings.SplitN(rest[1:len(rest)-1], `":"`, 3)
	if len(parts) != 3 {
		return "", "", "", &ParseError{What: "job role", Offset: off, Msg: fmt.Sprintf("%d role parts, want 3", len(parts))}
	}
	return trimXMLSpace(parts[0]), trimXMLSpace(parts[1]), trimXMLSpace(parts[2]), nil
}

// FormatJobRoleText is the inverse of ParseJobRoleText.
func FormatJobRoleText(orgName, staffGroup, subGroup, jobRole string) string {
	return orgName + ", " + FormatJobRoleName(staffGroup, subGroup, jobRole)
}

// maxJobRoleIndex bounds N in nhsjobroleN.
const maxJobRoleIndex = 99999

// JobRoles returns the nhsjobroleN params in index order, each with its id
// and orgcode attributes and its text split by ParseJobRoleText. A role
// without an id, a repeated index or a text that does not split is an error
// wrapping ErrMalformed.
func (g *GPObject) JobRoles() ([]LoginRole, error) {
	if g == nil {
		return nil, nil
	}
	var roles []LoginRole
	for _, p := range g.Params {
		digits, ok := strings.CutPrefix(p.Name, "nhsjobrole")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(digits)
		if err != nil || n < 0 || n > maxJobRoleIndex || strings.TrimLeft(digits, "0123456789") != "" {
			return nil, &ParseError{What: "gpOBJECT", Offset: -1, Msg: fmt.Sprintf("bad job role param name %q", clip(p.Name))}
		}
		r := LoginRole{Index: n, ID: trimXMLSpace(p.Attr("id")), OrgCode: trimXMLSpace(p.Attr("orgcode"))}
		if r.ID == "" {
			return nil, &ParseError{What: "gpOBJECT", Offset: -1, Msg: fmt.Sprintf("%s has no id", clip(p.Name))}
		}
		if r.OrgName, r.StaffGroup, r.SubGroup, r.JobRole, err = ParseJobRoleText(p.Value); err != nil {
			return nil, fmt.Errorf("cis: %s: %w", clip(p.Name), err)
		}
		roles = append(roles, r)
	}
	slices.SortFunc(roles, func(a, b LoginRole) int { return a.Index - b.Index })
	for i := 1; i < len(roles); i++ {
		if roles[i].Index == roles[i-1].Index {
			return nil, &ParseError{What: "gpOBJECT", Offset: -1, Msg: fmt.Sprintf("nhsjobrole%d repeated", roles[i].Index)}
		}
	}
	return roles, nil
}
