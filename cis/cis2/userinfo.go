package cis2

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencis/cisauth/cis"
)

// Limits on a UserInfo document.
const (
	// MaxUserInfoSize bounds a UserInfo document (and every other response
	// read from the provider, unless Config.MaxResponse is smaller).
	MaxUserInfoSize = 1 << 20
	maxRoles        = 1000 // nhsid_nrbac_roles entries
	maxOrgs         = 1000 // nhsid_user_orgs entries
	maxListItems    = 1000 // items in one role's list
	maxText         = 1024 // bytes in one text value
	maxJSONDepth    = 6    // object/array nesting
)

// UserInfo is a CIS2 UserInfo document mapped onto the legacy model.
type UserInfo struct {
	// Subject is sub (the 12-digit user id; uid and nhsid_useruid, when
	// present, must equal it).
	Subject string
	// User is the user with every role profile in nhsid_nrbac_roles
	// (empty when the user has none, or nationalrbacaccess was not asked
	// for). Organisation names come from nhsid_user_orgs.
	User cis.User
	// SelectedRoleID is selected_roleid, if the document carries it.
	SelectedRoleID string
}

// ParseUserInfo maps a UserInfo document (JSON) onto the model:
//
//	sub, uid, nhsid_useruid → User.UID (all three equal when present)
//	name (else family_name given_name) → User.Name
//	nhsid_nrbac_roles[]: person_roleid → ID, org_code → OrgCode,
//	  role_code → JobRoleCode, role_name `"a":"b":"c"` → StaffGroup,
//	  SubGroup, JobRole, activity_codes → Activities, activities →
//	  ActivityNames, aow_codes/aow → AreaOfWorkCodes/AreasOfWork,
//	  workgroups_codes/workgroups → WorkgroupCodes/Workgroups
//	nhsid_user_orgs[]: org_code → org_name gives each role's OrgName
//	selected_roleid → SelectedRoleID
//
// It is strict where the legacy parser is: a key repeated in any object
// (escapes decoded first), a key that differs from a known name in case
// only (encoding/json would fold it onto that name), nesting deeper than
// six, a role without person_roleid, org_code, role_code or role_name, a
// role_name that does not split into three quoted parts, a repeated role
// id, an organisation code named twice with two names, a value of the
// wrong type, a control character in a text, or more than the limits
// (1,000 roles, organisations and list items, 1 KiB texts, 1 MiB) is an
// error wrapping cis.ErrMalformed (cis.ErrTooLarge for size). Keys it does
// not know are ignored: providers add claims. It does not check that the
// selected role is among the roles; the relying party does.
func ParseUserInfo(b []byte) (*UserInfo, error) {
	if len(b) > MaxUserInfoSize {
		return nil, &cis.ParseError{What: "UserInfo", Offset: -1, Msg: fmt.Sprintf("larger than %d bytes", MaxUserInfoSize), Err: cis.ErrTooLarge}
	}
	if !json.Valid(b) {
		return nil, malformed("not JSON")
	}
	if err := checkKeys(b); err != nil {
		return nil, err
	}
	var doc userInfoDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, malformed("not a JSON object of the expected shape")
	}
	ui := &UserInfo{}
	if doc.Sub == nil || *doc.Sub == "" {
		return nil, malformed("no sub")
	}
	ui.Subject = *doc.Sub
	for _, f := range []struct {
		key string
		v   *string
	}{{"uid", doc.UID}, {"nhsid_useruid", doc.NHSIDUserUID}} {
		if f.v != nil && *f.v != "" && *f.v != ui.Subject {
			return nil, malformed(fmt.Sprintf("%s %q differs from sub %q", f.key, shown(*f.v), shown(ui.Subject)))
		}
	}
	ui.User.UID = ui.Subject
	ui.User.Name = text(doc.Name)
	if ui.User.Name == "" {
		ui.User.Name = joinNonEmpty(text(doc.FamilyName), text(doc.GivenName))
	}
	ui.SelectedRoleID = text(doc.SelectedRoleID)
	if err := checkTexts("sub, name or selected_roleid", ui.Subject, ui.User.Name, ui.SelectedRoleID); err != nil {
		return nil, err
	}
	switch {
	case len(doc.Roles) > maxRoles:
		return nil, &cis.ParseError{What: "UserInfo", Offset: -1, Msg: fmt.Sprintf("nhsid_nrbac_roles: more than %d entries", maxRoles), Err: cis.ErrTooLarge}
	case len(doc.Orgs) > maxOrgs:
		return nil, &cis.ParseError{What: "UserInfo", Offset: -1, Msg: fmt.Sprintf("nhsid_user_orgs: more than %d entries", maxOrgs), Err: cis.ErrTooLarge}
	}
	orgs := make(map[string]string, len(doc.Orgs))
	for i, o := range doc.Orgs {
		if o.OrgCode == nil {
			return nil, malformed(fmt.Sprintf("nhsid_user_orgs[%d]: no org_code", i))
		}
		code, name := *o.OrgCode, text(o.OrgName)
		if err := checkTexts("nhsid_user_orgs", code, name); err != nil {
			return nil, err
		}
		if prev, ok := orgs[code]; ok && prev != name {
			return nil, malformed(fmt.Sprintf("nhsid_user_orgs: org_code %q named twice", shown(code)))
		}
		orgs[code] = name
	}
	if len(doc.Roles) > 0 {
		ui.User.Roles = make([]cis.RoleProfile, 0, len(doc.Roles))
	}
	for i := range doc.Roles {
		r, err := doc.Roles[i].profile(orgs)
		if err != nil {
			return nil, fmt.Errorf("nhsid_nrbac_roles[%d]: %w", i, err)
		}
		if ui.User.Role(r.ID) != nil {
			return nil, malformed(fmt.Sprintf("nhsid_nrbac_roles: person_roleid %q repeated", shown(r.ID)))
		}
		ui.User.Roles = append(ui.User.Roles, r)
	}
	return ui, nil
}

// userInfoDoc is the part of a UserInfo document that is mapped. Pointers
// tell a missing (or null) value from an empty one. checkKeys has made
// sure that no key differs from these names in case only, so encoding/json's
// case-insensitive matching meets exact names.
type userInfoDoc struct {
	Sub            *string   `json:"sub"`
	UID            *string   `json:"uid"`
	NHSIDUserUID   *string   `json:"nhsid_useruid"`
	Name           *string   `json:"name"`
	GivenName      *string   `json:"given_name"`
	FamilyName     *string   `json:"family_name"`
	SelectedRoleID *string   `json:"selected_roleid"`
	Roles          []roleDoc `json:"nhsid_nrbac_roles"`
	Orgs           []orgDoc  `json:"nhsid_user_orgs"`
}

type roleDoc struct {
	PersonRoleID    *string  `json:"person_roleid"`
	OrgCode         *string  `json:"org_code"`
	RoleCode        *string  `json:"role_code"`
	RoleName        *string  `json:"role_name"`
	ActivityCodes   []string `json:"activity_codes"`
	Activities      []string `json:"activities"`
	AOW             []string `json:"aow"`
	AOWCodes        []string `json:"aow_codes"`
	Workgroups      []string `json:"workgroups"`
	WorkgroupsCodes []string `json:"workgroups_codes"`
}

type orgDoc struct {
	OrgCode *string `json:"org_code"`
	OrgName *string `json:"org_name"`
}

// knownKeys are the keys of the documents above: a key equal to one of
// these but for case is refused.
var knownKeys = [...]string{
	"sub", "uid", "nhsid_useruid", "name", "given_name", "family_name", "selected_roleid", "nhsid_nrbac_roles",
	"nhsid_user_orgs", "person_roleid", "org_code", "role_code", "role_name", "activity_codes", "activities", "aow",
	"aow_codes", "workgroups", "workgroups_codes", "org_name",
}

// profile maps one role.
func (d *roleDoc) profile(orgs map[string]string) (cis.RoleProfile, error) {
	for _, f := range []struct {
		key string
		v   *string
	}{{"person_roleid", d.PersonRoleID}, {"org_code", d.OrgCode}, {"role_code", d.RoleCode}, {"role_name", d.RoleName}} {
		if f.v == nil {
			return cis.RoleProfile{}, malformed("no " + f.key)
		}
		if err := checkText(f.key, *f.v); err != nil {
			return cis.RoleProfile{}, err
		}
	}
	r := cis.RoleProfile{ID: *d.PersonRoleID, OrgCode: *d.OrgCode, JobRoleCode: *d.RoleCode, OrgName: orgs[*d.OrgCode]}
	if r.ID == "" {
		return r, malformed("empty person_roleid")
	}
	var err error
	if r.StaffGroup, r.SubGroup, r.JobRole, err = cis.ParseJobRoleName(*d.RoleName); err != nil {
		return r, fmt.Errorf("role_name: %w", err)
	}
	for _, f := range []struct {
		key string
		src []string
		dst *[]string
	}{
		{"activity_codes", d.ActivityCodes, &r.Activities}, {"activities", d.Activities, &r.ActivityNames},
		{"aow_codes", d.AOWCodes, &r.AreaOfWorkCodes}, {"aow", d.AOW, &r.AreasOfWork},
		{"workgroups_codes", d.WorkgroupsCodes, &r.WorkgroupCodes}, {"workgroups", d.Workgroups, &r.Workgroups},
	} {
		if len(f.src) > maxListItems {
			return r, &cis.ParseError{What: "UserInfo", Offset: -1, Msg: fmt.Sprintf("%s: more than %d items", f.key, maxListItems), Err: cis.ErrTooLarge}
		}
		if err := checkTexts(f.key, f.src...); err != nil {
			return r, err
		}
		if len(f.src) > 0 {
			*f.dst = f.src
		}
	}
	return r, nil
}

func text(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

func malformed(msg string) error {
	return &cis.ParseError{What: "UserInfo", Offset: -1, Msg: msg}
}

// checkTexts refuses texts that are too long or hold control characters.
func checkTexts(key string, texts ...string) error {
	for _, s := range texts {
		if err := checkText(key, s); err != nil {
			return err
		}
	}
	return nil
}

func checkText(key, s string) error {
	if len(s) > maxText {
		return &cis.ParseError{What: "UserInfo", Offset: -1, Msg: fmt.Sprintf("%s: longer than %d bytes", key, maxText), Err: cis.ErrTooLarge}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return malformed(key + " holds a control character")
		}
	}
	return nil
}

// unescape decodes a JSON string with escapes (kept out of checkKeys's
// loop so that its key variable stays on the stack).
func unescape(quoted []byte) (string, error) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return "", malformed("bad key")
	}
	return s, nil
}

// smallObject is how many keys an object may have before checkKeys tracks
// them in a map rather than a slice.
const smallObject = 32

// objectKeys are the keys seen in one open object.
type objectKeys struct {
	keys []string
	set  map[string]struct{}
	big  bool // keys are in set
}

func (o *objectKeys) reset() {
	o.keys = o.keys[:0]
	clear(o.set)
	o.big = false
}

// add records key, refusing a repeat and a near miss of a known name.
func (o *objectKeys) add(key string) error {
	if foldsToKnown(key) {
		return fmt.Errorf("key %q differs from a known name in case only", shown(key))
	}
	if o.big {
		if _, dup := o.set[key]; dup {
			return fmt.Errorf("key %q repeated", shown(key))
		}
		o.set[key] = struct{}{}
		return nil
	}
	for _, k := range o.keys {
		if k == key {
			return fmt.Errorf("key %q repeated", shown(key))
		}
	}
	o.keys = append(o.keys, key)
	if len(o.keys) > smallObject {
		if o.set == nil {
			o.set = make(map[string]struct{}, 2*smallObject)
		}
		for _, k := range o.keys {
			o.set[k] = struct{}{}
		}
		o.big = true
	}
	return nil
}

// foldsToKnown reports whether key is one of knownKeys but for case. The
// known keys are lower-case ASCII, so only a key with another byte can.
func foldsToKnown(key string) bool {
	plain := true
	for i := 0; i < len(key); i++ {
		if c := key[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return false
	}
	for _, k := range knownKeys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// checkKeys walks a valid JSON document (json.Valid said so) once and
// refuses what encoding/json would silently accept: a key repeated in an
// object (the last would win; escapes are decoded before comparing), a key
// that is one of knownKeys but for case (encoding/json would take it for
// that one), and nesting deeper than maxJSONDepth. It costs linear time in
// len(b).
func checkKeys(b []byte) error {
	src := string(b) // keys are substrings of it: no copy each
	var (
		levels    []objectKeys // one per open object or array, reused
		isObject  []bool
		expectKey bool
	)
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '{', '[':
			d := len(isObject)
			if d == maxJSONDepth {
				return &cis.ParseError{What: "UserInfo", Offset: int64(i), Msg: "JSON nested too deep"}
			}
			if d == len(levels) {
				levels = append(levels, objectKeys{})
			}
			levels[d].reset()
			isObject = append(isObject, src[i] == '{')
			expectKey = src[i] == '{'
		case '}', ']':
			isObject = isObject[:len(isObject)-1]
			expectKey = false
		case ',':
			expectKey = isObject[len(isObject)-1]
		case '"':
			j := i + 1
			for src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if expectKey {
				key := src[i+1 : j]
				if strings.IndexByte(key, '\\') >= 0 {
					var err error
					if key, err = unescape(b[i : j+1]); err != nil {
						return err
					}
				}
				if err := levels[len(isObject)-1].add(key); err != nil {
					return &cis.ParseError{What: "UserInfo", Offset: int64(i), Msg: err.Error()}
				}
				expectKey = false
			}
			i = j
		}
	}
	return nil
}
