package cissim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/internal/cisid"
)

// Limits on a users file; past them it is refused.
const (
	maxUsersFile   = 4 << 20 // bytes
	maxUsers       = 100000
	maxRolesPer    = 200
	maxListItems   = 500
	maxTextLen     = 256
	maxYAMLDepth   = 8
	usersFileLabel = "users file"
)

// UsersFileError locates a problem in a users file. Its text is one line:
// "FILE:LINE: message".
type UsersFileError struct {
	File string // file name as given
	Line int    // 1-based line, 0 if unknown
	Msg  string
}

func (e *UsersFileError) Error() string {
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ": " + e.Msg
}

// LoadUsers reads a users file (YAML; see ParseUsers). Errors are
// *UsersFileError naming the file and the line.
func LoadUsers(path string) ([]cis.User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &UsersFileError{File: path, Msg: err.Error()}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUsersFile+1))
	if err != nil {
		return nil, &UsersFileError{File: path, Msg: err.Error()}
	}
	if len(b) > maxUsersFile {
		return nil, &UsersFileError{File: path, Msg: fmt.Sprintf("larger than %d bytes", maxUsersFile)}
	}
	return ParseUsers(b, path)
}

// ParseUsers parses the contents of a users file; name labels errors.
//
//	users:
//	  - uid: "555000000001"        # 12 digits; the card certificate's CN
//	    name: "Jones Alice Dr"
//	    ocs_pr_code: "C1234567"    # optional
//	    roles:
//	      - id: "555000000101"     # 12 digits
//	        org_code: "RCJ"
//	        org_name: "SOUTH TEES HOSPITALS NHS TRUST"
//	        staff_group: "Clinical"
//	        sub_group: "Clinical Provision"
//	        job_role: "Consultant"
//	        job_role_code: "S8000:G8000:R8003"
//	        activities: ["B0264", "B0360"]
//	        activity_names: ["Access clinical record", "View patient"]
//	        areas_of_work: []
//	        area_of_work_codes: []
//	        workgroups: []
//	        workgroup_codes: []
//
// Unknown keys, duplicate uids or role ids, ids that are not 12 digits and
// texts with control characters or '<' are errors.
func ParseUsers(data []byte, name string) ([]cis.User, error) {
	if name == "" {
		name = usersFileLabel
	}
	p := usersParser{file: name}
	if len(data) > maxUsersFile {
		return nil, p.errf(0, "larger than %d bytes", maxUsersFile)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, p.yamlErr(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, p.errf(0, "empty; want a \"users:\" list")
	}
	users, err := p.document(doc.Content[0])
	if err != nil {
		return nil, err
	}
	return users, nil
}

type usersParser struct{ file string }

func (p usersParser) errf(line int, format string, args ...any) error {
	return &UsersFileError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// yamlErr turns "yaml: line 3: msg" into a located error.
func (p usersParser) yamlErr(err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				return p.errf(line, "%s", after)
			}
		}
	}
	return p.errf(0, "%s", msg)
}

// pairs returns the key/value pairs of a mapping node, checking that each
// key is one of known and appears once.
func (p usersParser) pairs(n *yaml.Node, what string, known ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n.Line, "%s: want a mapping", what)
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errf(k.Line, "%s: keys must be plain names", what)
		}
		found := false
		for _, kn := range known {
			if k.Value == kn {
				found = true
				break
			}
		}
		if !found {
			return nil, p.errf(k.Line, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(known, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, p.errf(k.Line, "%s: key %q given twice", what, k.Value)
		}
		out[k.Value] = v
	}
	return out, nil
}

func (p usersParser) document(root *yaml.Node) ([]cis.User, error) {
	if err := p.checkDepth(root, 0); err != nil {
		return nil, err
	}
	top, err := p.pairs(root, "top level", "users")
	if err != nil {
		return nil, err
	}
	list := top["users"]
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		line := root.Line
		if list != nil {
			line = list.Line
		}
		return nil, p.errf(line, "users: want a non-empty list of users")
	}
	if len(list.Content) > maxUsers {
		return nil, p.errf(list.Line, "users: more than %d users", maxUsers)
	}
	users := make([]cis.User, 0, len(list.Content))
	seenUID := make(map[string]int, len(list.Content))
	for _, un := range list.Content {
		u, err := p.user(un)
		if err != nil {
			return nil, err
		}
		if prev, dup := seenUID[u.UID]; dup {
			return nil, p.errf(un.Line, "uid %s already used by the user at line %d", u.UID, prev)
		}
		seenUID[u.UID] = un.Line
		users = append(users, u)
	}
	return users, nil
}

// checkDepth refuses aliases (no anchors: no billion laughs) and deep nesting.
func (p usersParser) checkDepth(n *yaml.Node, depth int) error {
	if depth > maxYAMLDepth {
		return p.errf(n.Line, "nested too deeply")
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return p.errf(n.Line, "anchors and aliases are not allowed")
	}
	for _, c := range n.Content {
		if err := p.checkDepth(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (p usersParser) user(n *yaml.Node) (cis.User, error) {
	f, err := p.pairs(n, "user", "uid", "name", "ocs_pr_code", "roles")
	if err != nil {
		return cis.User{}, err
	}
	var u cis.User
	if u.UID, err = p.digits(f, n, "uid"); err != nil {
		return cis.User{}, err
	}
	if u.Name, err = p.text(f, n, "name", true); err != nil {
		return cis.User{}, err
	}
	if u.OcsPrCode, err = p.text(f, n, "ocs_pr_code", false); err != nil {
		return cis.User{}, err
	}
	rl := f["roles"]
	if rl == nil || rl.Kind != yaml.SequenceNode || len(rl.Content) == 0 {
		line := n.Line
		if rl != nil {
			line = rl.Line
		}
		return cis.User{}, p.errf(line, "user %s: roles: want a non-empty list", u.UID)
	}
	if len(rl.Content) > maxRolesPer {
		return cis.User{}, p.errf(rl.Line, "user %s: more than %d roles", u.UID, maxRolesPer)
	}
	seen := make(map[string]bool, len(rl.Content))
	for _, rn := range rl.Content {
		r, err := p.role(rn)
		if err != nil {
			return cis.User{}, err
		}
		if seen[r.ID] {
			return cis.User{}, p.errf(rn.Line, "user %s: role id %s given twice", u.UID, r.ID)
		}
		seen[r.ID] = true
		u.Roles = append(u.Roles, r)
	}
	return u, nil
}

func (p usersParser) role(n *yaml.Node) (cis.RoleProfile, error) {
	f, err := p.pairs(n, "role", "id", "org_code", "org_name", "staff_group", "sub_group", "job_role",
		"job_role_code", "activities", "activity_names", "areas_of_work", "area_of_work_codes",
		"workgroups", "workgroup_codes")
	if err != nil {
		return cis.RoleProfile{}, err
	}
	var r cis.RoleProfile
	if r.ID, err = p.digits(f, n, "id"); err != nil {
		return r, err
	}
	for _, t := range []struct {
		key      string
		dst      *string
		required bool
	}{
		{"org_code", &r.OrgCode, true}, {"org_name", &r.OrgName, true},
		{"staff_group", &r.StaffGroup, true}, {"sub_group", &r.SubGroup, true},
		{"job_role", &r.JobRole, true}, {"job_role_code", &r.JobRoleCode, false},
	} {
		if *t.dst, err = p.text(f, n, t.key, t.required); err != nil {
			return r, err
		}
	}
	for _, k := range []string{"staff_group", "sub_group", "job_role"} {
		if v := f[k]; strings.Contains(v.Value, `"`) {
			return r, p.errf(v.Line, "%s: must not contain '\"' (it delimits the job role text)", k)
		}
	}
	if v := f["org_code"]; strings.ContainsAny(v.Value, " ,\"") {
		return r, p.errf(v.Line, "org_code: want an ODS code such as RCJ")
	}
	for _, l := range []struct {
		key string
		dst *[]string
	}{
		{"activities", &r.Activities}, {"activity_names", &r.ActivityNames},
		{"areas_of_work", &r.AreasOfWork}, {"area_of_work_codes", &r.AreaOfWorkCodes},
		{"workgroups", &r.Workgroups}, {"workgroup_codes", &r.WorkgroupCodes},
	} {
		if *l.dst, err = p.list(f, l.key); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (p usersParser) scalar(f map[string]*yaml.Node, parent *yaml.Node, key string, required bool) (*yaml.Node, error) {
	v := f[key]
	if v == nil {
		if required {
			return nil, p.errf(parent.Line, "missing %s", key)
		}
		return nil, nil
	}
	if v.Kind != yaml.ScalarNode {
		return nil, p.errf(v.Line, "%s: want a single value", key)
	}
	if err := checkText(v.Value); err != nil {
		return nil, p.errf(v.Line, "%s: %v", key, err)
	}
	if required && v.Value == "" {
		return nil, p.errf(v.Line, "%s: must not be empty", key)
	}
	return v, nil
}

func (p usersParser) text(f map[string]*yaml.Node, parent *yaml.Node, key string, required bool) (string, error) {
	v, err := p.scalar(f, parent, key, required)
	if err != nil || v == nil {
		return "", err
	}
	return v.Value, nil
}

func (p usersParser) digits(f map[string]*yaml.Node, parent *yaml.Node, key string) (string, error) {
	v, err := p.scalar(f, parent, key, true)
	if err != nil {
		return "", err
	}
	if !cisid.Valid(v.Value) {
		return "", p.errf(v.Line, "%s %q: want %d digits (quote it in YAML)", key, v.Value, cisid.Len)
	}
	return v.Value, nil
}

func (p usersParser) list(f map[string]*yaml.Node, key string) ([]string, error) {
	v := f[key]
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, p.errf(v.Line, "%s: want a list", key)
	}
	if len(v.Content) > maxListItems {
		return nil, p.errf(v.Line, "%s: more than %d items", key, maxListItems)
	}
	var out []string
	for _, it := range v.Content {
		if it.Kind != yaml.ScalarNode {
			return nil, p.errf(it.Line, "%s: want plain values", key)
		}
		if err := checkText(it.Value); err != nil {
			return nil, p.errf(it.Line, "%s: %v", key, err)
		}
		if it.Value == "" {
			return nil, p.errf(it.Line, "%s: empty value", key)
		}
		out = append(out, it.Value)
	}
	return out, nil
}

// checkText refuses what would break the line-per-param gpOBJECT replies
// that clients read with regexes.
func checkText(s string) error {
	if len(s) > maxTextLen {
		return fmt.Errorf("longer than %d bytes", maxTextLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '<' || r == '>' || r == '\uFFFD' {
			return fmt.Errorf("character %q not allowed", r)
		}
	}
	return nil
}

// checkUsers validates users given in a Config the way ParseUsers does.
func checkUsers(users []cis.User) error {
	if len(users) == 0 {
		return errors.New("no users")
	}
	seen := make(map[string]bool, len(users))
	for i := range users {
		u := &users[i]
		if !cisid.Valid(u.UID) {
			return fmt.Errorf("user %d: uid %q: want %d digits", i, u.UID, cisid.Len)
		}
		if seen[u.UID] {
			return fmt.Errorf("user %s given twice", u.UID)
		}
		seen[u.UID] = true
		if len(u.Roles) == 0 || len(u.Roles) > maxRolesPer {
			return fmt.Errorf("user %s: want 1 to %d roles", u.UID, maxRolesPer)
		}
		texts := []string{u.Name, u.OcsPrCode}
		rseen := make(map[string]bool, len(u.Roles))
		for j := range u.Roles {
			r := &u.Roles[j]
			if !cisid.Valid(r.ID) || rseen[r.ID] {
				return fmt.Errorf("user %s: role id %q: want %d digits, unique", u.UID, r.ID, cisid.Len)
			}
			rseen[r.ID] = true
			if r.OrgCode == "" {
				return fmt.Errorf("user %s: role %s: no org code", u.UID, r.ID)
			}
			texts = append(texts, r.OrgCode, r.OrgName, r.StaffGroup, r.SubGroup, r.JobRole, r.JobRoleCode)
			for _, l := range [][]string{r.Activities, r.ActivityNames, r.AreasOfWork, r.AreaOfWorkCodes, r.Workgroups, r.WorkgroupCodes} {
				texts = append(texts, l...)
			}
		}
		for _, s := range texts {
			if err := checkText(s); err != nil {
				return fmt.Errorf("user %s: %q: %w", u.UID, s, err)
			}
		}
	}
	return nil
}
