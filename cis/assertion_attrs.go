package cis

import (
	"errors"
	"fmt"
	"strings"
)

// Bounds on the attribute list, beyond MaxAssertionSize.
const (
	maxAttributes      = 8192 // saml:Attribute elements in one statement
	maxAttributeValues = 1024 // saml:AttributeValue elements in one attribute
	maxRoleProfiles    = 1000 // role profile blocks
	maxIdentifierLen   = 64   // uid, role profile ids, ODS codes
)

// attrKind is an entry of the RoleAssertion attribute dictionary.
type attrKind uint8

const (
	attrUnknown attrKind = iota
	// header and person attributes
	attrVersion     // ssbAssertionVersion
	attrName        // cn
	attrUID         // uid
	attrOcsPrCode   // nhsOcsPrCode
	attrSessionRole // ssbSessionRoleUid
	attrMode        // ssbMode
	// role profile attributes; nhsIdCode starts a block
	attrOrgCode         // nhsIdCode
	attrOrgName         // o
	attrJobRole         // nhsJobRole
	attrJobRoleCode     // nhsJobRoleCode
	attrRoleID          // uniqueIdentifier
	attrOrgOpenDate     // nhsOrgOpenDate
	attrOrgCloseDate    // nhsOrgCloseDate
	attrPersonStatus    // nhsPersonStatus
	attrActivityNames   // nhsBusinessFunctions
	attrActivities      // nhsBusinessFunctionsCodes
	attrAreasOfWork     // nhsAreaOfWork
	attrAreaOfWorkCodes // nhsAreaOfWorkCodes
	attrWorkgroups      // nhsWorkGroups
	attrWorkgroupCodes  // nhsWorkGroupsCodes
	attrKinds
)

// attrNames are the AttributeNames of the dictionary, by kind.
var attrNames = [attrKinds]string{
	attrUnknown: "(unknown)", attrVersion: "ssbAssertionVersion", attrName: "cn", attrUID: "uid",
	attrOcsPrCode: "nhsOcsPrCode", attrSessionRole: "ssbSessionRoleUid", attrMode: "ssbMode",
	attrOrgCode: "nhsIdCode", attrOrgName: "o", attrJobRole: "nhsJobRole", attrJobRoleCode: "nhsJobRoleCode",
	attrRoleID: "uniqueIdentifier", attrOrgOpenDate: "nhsOrgOpenDate", attrOrgCloseDate: "nhsOrgCloseDate",
	attrPersonStatus: "nhsPersonStatus", attrActivityNames: "nhsBusinessFunctions", attrActivities: "nhsBusinessFunctionsCodes",
	attrAreasOfWork: "nhsAreaOfWork", attrAreaOfWorkCodes: "nhsAreaOfWorkCodes", attrWorkgroups: "nhsWorkGroups",
	attrWorkgroupCodes: "nhsWorkGroupsCodes",
}

// String returns the kind's AttributeName.
func (k attrKind) String() string { return attrNames[k] }

// attributeKind looks an AttributeName up in the dictionary. Names are case
// sensitive, as the SSB writes them.
func attributeKind(name string) attrKind {
	switch name {
	case "ssbAssertionVersion":
		return attrVersion
	case "cn":
		return attrName
	case "uid":
		return attrUID
	case "nhsOcsPrCode":
		return attrOcsPrCode
	case "ssbSessionRoleUid":
		return attrSessionRole
	case "ssbMode":
		return attrMode
	case "nhsIdCode":
		return attrOrgCode
	case "o":
		return attrOrgName
	case "nhsJobRole":
		return attrJobRole
	case "nhsJobRoleCode":
		return attrJobRoleCode
	case "uniqueIdentifier":
		return attrRoleID
	case "nhsOrgOpenDate":
		return attrOrgOpenDate
	case "nhsOrgCloseDate":
		return attrOrgCloseDate
	case "nhsPersonStatus":
		return attrPersonStatus
	case "nhsBusinessFunctions":
		return attrActivityNames
	case "nhsBusinessFunctionsCodes":
		return attrActivities
	case "nhsAreaOfWork":
		return attrAreasOfWork
	case "nhsAreaOfWorkCodes":
		return attrAreaOfWorkCodes
	case "nhsWorkGroups":
		return attrWorkgroups
	case "nhsWorkGroupsCodes":
		return attrWorkgroupCodes
	}
	return attrUnknown
}

// roleLevel reports whether k belongs to a role profile block.
func (k attrKind) roleLevel() bool { return k >= attrOrgCode && k < attrKinds }

// multiValued reports whether k may carry several values.
func (k attrKind) multiValued() bool { return k >= attrActivityNames && k < attrKinds }

// assertionBuilder applies the attribute dictionary to the flat attribute
// list, in document order: header and person attributes once each, then
// role profile blocks, each starting at its nhsIdCode. The zero value is
// ready.
type assertionBuilder struct {
	user        User
	sessionRole string
	mode        Mode
	seen        uint32 // person-level kinds seen, by bit
	blockSeen   uint32 // kinds seen in the current block, by bit
	attributes  int
	lists       listArena
}

// add records one attribute with n (trimmed) values: first is the first;
// for a multi-valued kind the non-empty ones are in b.lists since begin.
func (b *assertionBuilder) add(k attrKind, n int, first string) error {
	b.attributes++
	if b.attributes > maxAttributes {
		return fmt.Errorf("more than %d attributes", maxAttributes)
	}
	if k == attrUnknown {
		return nil
	}
	name := k.String()
	if !k.multiValued() && n != 1 {
		return fmt.Errorf("attribute %s has %d values, want 1", name, n)
	}
	bit := uint32(1) << k
	if !k.roleLevel() {
		if b.seen&bit != 0 {
			return fmt.Errorf("attribute %s given twice", name)
		}
		b.seen |= bit
		return b.person(k, first)
	}
	if k == attrOrgCode {
		if len(b.user.Roles) >= maxRoleProfiles {
			return fmt.Errorf("more than %d role profiles", maxRoleProfiles)
		}
		if err := checkIdentifier(name, first); err != nil {
			return err
		}
		b.user.Roles = append(b.user.Roles, RoleProfile{OrgCode: first})
		b.blockSeen = bit
		return nil
	}
	if len(b.user.Roles) == 0 {
		return fmt.Errorf("role attribute %s before the first nhsIdCode", name)
	}
	if b.blockSeen&bit != 0 {
		return fmt.Errorf("attribute %s given twice in the role profile block %d", name, len(b.user.Roles))
	}
	b.blockSeen |= bit
	return b.role(&b.user.Roles[len(b.user.Roles)-1], k, name, first)
}

// person records a header or person attribute. The header,
// ssbAssertionVersion, is only checked to be single.
func (b *assertionBuilder) person(k attrKind, v string) error {
	switch k {
	case attrName:
		b.user.Name = v
	case attrUID:
		if err := checkIdentifier("uid", v); err != nil {
			return err
		}
		b.user.UID = v
	case attrOcsPrCode:
		b.user.OcsPrCode = v
	case attrSessionRole:
		if err := checkIdentifier("ssbSessionRoleUid", v); err != nil {
			return err
		}
		b.sessionRole = v
	case attrMode:
		switch v {
		case "0":
			b.mode = ModeLive
		case "1":
			b.mode = ModeTraining
		default:
			return fmt.Errorf("ssbMode %.20q, want 0 or 1", v)
		}
	}
	return nil
}

// role records a role profile attribute in r.
func (b *assertionBuilder) role(r *RoleProfile, k attrKind, name string, v string) error {
	switch k {
	case attrOrgName:
		r.OrgName = v
	case attrJobRole:
		var err error
		if r.StaffGroup, r.SubGroup, r.JobRole, err = splitJobRole(v); err != nil {
			return fmt.Errorf("role profile block %d: nhsJobRole: %w", len(b.user.Roles), err)
		}
	case attrJobRoleCode:
		r.JobRoleCode = v
	case attrRoleID:
		if err := checkIdentifier(name, v); err != nil {
			return err
		}
		r.ID = v
	case attrOrgOpenDate:
		r.OrgOpenDate = v
	case attrOrgCloseDate:
		r.OrgCloseDate = v
	case attrPersonStatus:
		r.PersonStatus = v
	case attrActivityNames:
		r.ActivityNames = b.lists.end()
	case attrActivities:
		r.Activities = b.lists.end()
	case attrAreasOfWork:
		r.AreasOfWork = b.lists.end()
	case attrAreaOfWorkCodes:
		r.AreaOfWorkCodes = b.lists.end()
	case attrWorkgroups:
		r.Workgroups = b.lists.end()
	case attrWorkgroupCodes:
		r.WorkgroupCodes = b.lists.end()
	}
	return nil
}

// finish checks the whole attribute list and fills a's user, selected role
// and mode.
func (b *assertionBuilder) finish(a *Assertion) error {
	if b.user.UID == "" {
		return errors.New("attribute uid missing")
	}
	if b.sessionRole == "" {
		return errors.New("attribute ssbSessionRoleUid missing")
	}
	if b.seen&(1<<attrMode) == 0 {
		// The SSB always says; a default would pick live for a training
		// session.
		return errors.New("attribute ssbMode missing")
	}
	roles := b.user.Roles
	var ids map[string]struct{} // for many roles; a scan is cheaper for a few
	if len(roles) > 64 {
		ids = make(map[string]struct{}, len(roles))
	}
	selected := false
	for i := range roles {
		id := roles[i].ID
		if id == "" {
			return fmt.Errorf("role profile block %d (nhsIdCode %s) has no uniqueIdentifier", i+1, roles[i].OrgCode)
		}
		dup := false
		if ids != nil {
			_, dup = ids[id]
			ids[id] = struct{}{}
		} else {
			for j := range i {
				dup = dup || roles[j].ID == id
			}
		}
		if dup {
			return fmt.Errorf("role profile id %s appears in more than one block", id)
		}
		selected = selected || id == b.sessionRole
	}
	if !selected {
		return fmt.Errorf("selected role %s (ssbSessionRoleUid) matches no role profile block: %w", b.sessionRole, ErrUnknownRole)
	}
	a.User = b.user
	a.SelectedRoleID = b.sessionRole
	a.Mode = b.mode
	return nil
}

// listArena hands out the value lists of role profiles from shared
// chunks: one allocation for many lists. The values of one list are pushed
// as they are read, between begin and end; each list is capped at its
// length, so appending to one never writes into another.
type listArena struct {
	chunk []string
	start int // where the list being read starts in chunk
}

const listChunk = 256

// begin starts a list.
func (a *listArena) begin() { a.start = len(a.chunk) }

// push adds v to the list being read.
func (a *listArena) push(v string) {
	if len(a.chunk) == cap(a.chunk) {
		// Chunks double up to listChunk: small for a user with few roles.
		// The list so far moves to the new chunk.
		n := len(a.chunk) - a.start
		c := make([]string, n, max(2*(n+1), min(max(2*cap(a.chunk), 16), listChunk)))
		copy(c, a.chunk[a.start:])
		a.chunk, a.start = c, 0
	}
	a.chunk = append(a.chunk, v)
}

// end returns the list being read, or nil if it is empty.
func (a *listArena) end() []string {
	if len(a.chunk) == a.start {
		return nil
	}
	return a.chunk[a.start:len(a.chunk):len(a.chunk)]
}

// checkIdentifier accepts a user id, role profile id or ODS code: 1 to
// maxIdentifierLen ASCII letters and digits.
func checkIdentifier(name, v string) error {
	if v == "" || len(v) > maxIdentifierLen {
		return fmt.Errorf("attribute %s: want 1 to %d letters or digits", name, maxIdentifierLen)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return fmt.Errorf("attribute %s %.40q: want letters and digits only", name, v)
		}
	}
	return nil
}

// splitJobRole splits a job role text, `"Clinical":"Clinical Provision":"Health
// Professional Access Role"`, into staff group, sub group and job role. The
// parts are double-quoted and separated by `":"`; a part may itself hold
// quotes, colons and any Unicode, as long as it does not hold `":"`.
func splitJobRole(s string) (staffGroup, subGroup, jobRole string, err error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", "", "", errors.New(`want "staff group":"sub group":"job role"`)
	}
	inner := s[1 : len(s)-1]
	staffGroup, rest, ok1 := strings.Cut(inner, `":"`)
	subGroup, jobRole, ok2 := strings.Cut(rest, `":"`)
	if !ok1 || !ok2 || strings.Contains(jobRole, `":"`) {
		return "", "", "", errors.New(`want three parts "staff group":"sub group":"job role"`)
	}
	return staffGroup, subGroup, jobRole, nil
}
