// Package cisid checks the shape of CIS identifiers: a user id (the card
// certificate's CN, the RoleAssertion's uid, CIS2's nhsid_useruid) and a role
// profile id (uniqueIdentifier, nhsjobroleN id, CIS2's person_roleid) are
// both twelve ASCII digits.
//
// It is a leaf package so that cis, pcsc and their subpackages share one
// check while pcsc still imports nothing of cis. It does not say whether an
// id exists.
package cisid

// Len is the length of a CIS user or role profile id.
const Len = 12

// Valid reports whether s is twelve ASCII digits.
func Valid(s string) bool {
	if len(s) != Len {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
