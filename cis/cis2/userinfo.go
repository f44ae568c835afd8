package cis2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencis/cisauth/cis"
)

// Limits on a UserInfo document.
const (
	// MaxUserInfoSize bounds a UserInfo document (and every other response
	// read from the provider, unless Config.MaxResponse is smaller).
	MaxUserInfoSize = 1 << 20
	maxRoles        = 1000    // nhsid_nrbac_roles entries
	maxOrgs         = 1000    // nhsid_user_orgs entries
	maxListItems    = 1000    // items in one role's list
	maxText         = 1024    // bytes in one text value
	maxJSONDepth    = 6       // object/array nesting
	maxJSONTokens   = 1 << 20 // tokens in one document
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
// It is strict where the legacy parser is: a key repeated in any object,
// a role without person_roleid, org_code, role_code or role_name, a
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
	if err := checkJSON(b); err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil || doc == nil {
		return nil, malformed("not a JSON object")
	}
	ui := &UserInfo{}
	var err error
	if ui.Subject, err = textField(doc, "sub", true); err != nil {
		return nil, err
	}
	if ui.Subject == "" {
		return nil, malformed("empty sub")
	}
	for _, k := range []string{"uid", "nhsid_useruid"} {
		v, err := textField(doc, k, false)
		if err != nil {
			return nil, err
		}
		if v != "" && v != ui.Subject {
			return nil, malformed(fmt.Sprintf("%s %q differs from sub %q", k, shown(v), shown(ui.Subject)))
		}
	}
	ui.User.UID = ui.Subject
	if ui.User.Name, err = textField(doc, "name", false); err != nil {
		return nil, err
	}
	if ui.User.Name == "" {
		family, err1 := textField(doc, "family_name", false)
		given, err2 := textField(doc, "given_name", false)
		if err1 != nil || err2 != nil {
			return nil, malformed("family_name or given_name is not a text")
		}
		ui.User.Name = joinNonEmpty(family, given)
	}
	if ui.SelectedRoleID, err = textField(doc, "selected_roleid", false); err != nil {
		return nil, err
	}
	orgs, err := parseOrgs(doc["nhsid_user_orgs"])
	if err != nil {
		return nil, err
	}
	if ui.User.Roles, err = parseRoles(doc["nhsid_nrbac_roles"], orgs); err != nil {
		return nil, err
	}
	return ui, nil
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

// parseOrgs reads nhsid_user_orgs into org code → name.
func parseOrgs(raw json.RawMessage) (map[string]string, error) {
	items, err := objectList(raw, "nhsid_user_orgs", maxOrgs)
	if err != nil {
		return nil, err
	}
	orgs := make(map[string]string, len(items))
	for i, o := range items {
		code, err := textField(o, "org_code", true)
		if err != nil {
			return nil, fmt.Errorf("nhsid_user_orgs[%d]: %w", i, err)
		}
		name, err := textField(o, "org_name", false)
		if err != nil {
			return nil, fmt.Errorf("nhsid_user_orgs[%d]: %w", i, err)
		}
		if prev, ok := orgs[code]; ok && prev != name {
			return nil, malformed(fmt.Sprintf("nhsid_user_orgs: org_code %q named twice", shown(code)))
		}
		orgs[code] = name
	}
	return orgs, nil
}

// parseRoles reads nhsid_nrbac_roles.
func parseRoles(raw json.RawMessage, orgs map[string]string) ([]cis.RoleProfile, error) {
	items, err := objectList(raw, "nhsid_nrbac_roles", maxRoles)
	if err != nil || len(items) == 0 {
		return nil, err
	}
	roles := make([]cis.RoleProfile, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, o := range items {
		r, err := parseRole(o, orgs)
		if err != nil {
			return nil, fmt.Errorf("nhsid_nrbac_roles[%d]: %w", i, err)
		}
		if seen[r.ID] {
			return nil, malformed(fmt.Sprintf("nhsid_nrbac_roles: person_roleid %q repeated", shown(r.ID)))
		}
		seen[r.ID] = true
		roles = append(roles, r)
	}
	return roles, nil
}

func parseRole(o map[string]json.RawMessage, orgs map[string]string) (cis.RoleProfile, error) {
	var r cis.RoleProfile
	var roleName string
	for _, f := range []struct {
		key string
		dst *string
	}{{"person_roleid", &r.ID}, {"org_code", &r.OrgCode}, {"role_code", &r.JobRoleCode}, {"role_name", &roleName}} {
		v, err := textField(o, f.key, true)
		if err != nil {
			return r, err
		}
		*f.dst = v
	}
	if r.ID == "" {
		return r, malformed("empty person_roleid")
	}
	var err error
	if r.StaffGroup, r.SubGroup, r.JobRole, err = cis.ParseJobRoleName(roleName); err != nil {
		return r, fmt.Errorf("role_name: %w", err)
	}
	r.OrgName = orgs[r.OrgCode]
	for _, f := range []struct {
		key string
		dst *[]string
	}{
		{"activity_codes", &r.Activities}, {"activities", &r.ActivityNames},
		{"aow_codes", &r.AreaOfWorkCodes}, {"aow", &r.AreasOfWork},
		{"workgroups_codes", &r.WorkgroupCodes}, {"workgroups", &r.Workgroups},
	} {
		if *f.dst, err = textList(o, f.key); err != nil {
			return r, err
		}
	}
	return r, nil
}

// textField returns the text at key (which must be present if required);
// null counts as absent.
func textField(o map[string]json.RawMessage, key string, required bool) (string, error) {
	raw, ok := o[key]
	if !ok || string(raw) == "null" {
		if required {
			return "", malformed("no " + key)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed(key + " is not a text")
	}
	if err := checkText(key, s); err != nil {
		return "", err
	}
	return s, nil
}

// textList returns the list of texts at key (absent or null: none).
func textList(o map[string]json.RawMessage, key string) ([]string, error) {
	raw, ok := o[key]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, malformed(key + " is not a list of texts")
	}
	if len(l) > maxListItems {
		return nil, &cis.ParseError{What: "UserInfo", Offset: -1, Msg: fmt.Sprintf("%s: more than %d items", key, maxListItems), Err: cis.ErrTooLarge}
	}
	for _, s := range l {
		if err := checkText(key, s); err != nil {
			return nil, err
		}
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// objectList returns the list of objects at raw (absent or null: none).
func objectList(raw json.RawMessage, key string, limit int) ([]map[string]json.RawMessage, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var l []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, malformed(key + " is not a list of objects")
	}
	if len(l) > limit {
		return nil, &cis.ParseError{What: "UserInfo", Offset: -1, Msg: fmt.Sprintf("%s: more than %d entries", key, limit), Err: cis.ErrTooLarge}
	}
	for i := range l {
		if l[i] == nil {
			return nil, malformed(fmt.Sprintf("%s[%d] is null", key, i))
		}
	}
	return l, nil
}

// checkText refuses texts that are too long or hold control characters.
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

// checkJSON walks a JSON document once and refuses what encoding/json
// would silently accept: a key repeated in an object (the last would
// win), nesting deeper than maxJSONDepth, and anything after the value.
// It costs linear time in len(b).
func checkJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		keys   map[string]struct{}
		object bool
		key    bool // the next string token is a key
	}
	var stack []frame
	for n := 0; ; n++ {
		if n > maxJSONTokens {
			return &cis.ParseError{What: "UserInfo", Offset: dec.InputOffset(), Msg: "too many JSON tokens", Err: cis.ErrTooLarge}
		}
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) == 0 && n > 0 {
				return nil
			}
			return malformed("truncated JSON")
		}
		if err != nil {
			return &cis.ParseError{What: "UserInfo", Offset: dec.InputOffset(), Msg: "not JSON"}
		}
		if n > 0 && len(stack) == 0 {
			return &cis.ParseError{What: "UserInfo", Offset: dec.InputOffset(), Msg: "data after the JSON value"}
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			k, ok := tok.(string)
			if !ok { // the closing '}'
				stack = stack[:len(stack)-1]
				continue
			}
			if _, dup := top.keys[k]; dup {
				return &cis.ParseError{What: "UserInfo", Offset: dec.InputOffset(), Msg: fmt.Sprintf("key %q repeated", shown(k))}
			}
			top.keys[k] = struct{}{}
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true // this token is the value; a key comes next
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return &cis.ParseError{What: "UserInfo", Offset: dec.InputOffset(), Msg: "JSON nested too deep"}
			}
			obj := tok == json.Delim('{')
			f := frame{object: obj, key: obj}
			if obj {
				f.keys = make(map[string]struct{})
			}
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
