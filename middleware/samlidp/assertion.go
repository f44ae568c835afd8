package samlidp

import (
	"time"

	"github.com/crewjam/saml"

	"github.com/opencis/cisauth/cis"
)

// The attribute names of the assertion: the names CIS2 (NHS Care Identity
// Service 2, OpenID Connect) gives the same claims, so that a service
// provider can move to CIS2 without changing how it reads them. Each is
// sent with NameFormat basic and the same FriendlyName.
const (
	// AttrUserUID is the 12-digit user id (CIS2 nhsid_useruid; also the
	// NameID, and the legacy uid).
	AttrUserUID = "nhsid_useruid"
	// AttrName is the display name, whole, as CIS holds it ("Surname
	// Forename Title"); it is never split into parts (CIS2 name).
	AttrName = "name"
	// AttrSelectedRoleID is the id of the role profile the person selected
	// (CIS2 selected_roleid).
	AttrSelectedRoleID = "selected_roleid"
	// AttrOrgCode is the ODS code of the selected role's organisation
	// (CIS2 org_code in nhsid_nrbac_roles).
	AttrOrgCode = "org_code"
	// AttrRoleCode is the selected role's job role code, S…:G…:R… (CIS2
	// role_code in nhsid_nrbac_roles).
	AttrRoleCode = "role_code"
	// AttrActivityCodes holds the selected role's activity codes
	// ("B-codes"), one AttributeValue each (CIS2 activity_codes in
	// nhsid_nrbac_roles).
	AttrActivityCodes = "activity_codes"
)

const (
	attrNameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	// A CIS login is a smartcard with a PIN and a private key on the card.
	authnContextSmartcardPKI = "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"
)

// attributes returns the assertion's attributes for user in role. An
// attribute with no non-empty value is left out.
func attributes(user cis.User, role cis.RoleProfile) []saml.Attribute {
	var out []saml.Attribute
	add := func(name string, values ...string) {
		var vs []saml.AttributeValue
		for _, v := range values {
			if v != "" {
				vs = append(vs, saml.AttributeValue{Type: "xs:string", Value: v})
			}
		}
		if len(vs) > 0 {
			out = append(out, saml.Attribute{Name: name, FriendlyName: name, NameFormat: attrNameFormatBasic, Values: vs})
		}
	}
	add(AttrUserUID, user.UID)
	add(AttrName, user.Name)
	add(AttrSelectedRoleID, role.ID)
	add(AttrOrgCode, role.OrgCode)
	add(AttrRoleCode, role.JobRoleCode)
	add(AttrActivityCodes, role.Activities...)
	return out
}

// assertionMaker builds on crewjam's DefaultAssertionMaker (issuer, NameID,
// audience, recipient, InResponseTo, authentication statement) and replaces
// what the bridge decides: the validity window, which crewjam takes from
// its package-level MaxClockSkew and MaxIssueDelay, and the attributes,
// which are exactly those of attributes (crewjam would add, for attributes
// the service provider's metadata requests, values from Session fields the
// bridge leaves empty).
type assertionMaker struct {
	lifetime  time.Duration // NotOnOrAfter - NotBefore
	skew      time.Duration // NotBefore is this much before IssueInstant
	spSession time.Duration // SessionNotOnOrAfter - IssueInstant; 0: none
}

func (m assertionMaker) MakeAssertion(req *saml.IdpAuthnRequest, s *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		return err
	}
	a := req.Assertion
	a.IssueInstant = req.Now
	notBefore := req.Now.Add(-m.skew)
	notOnOrAfter := notBefore.Add(m.lifetime)
	a.Conditions.NotBefore = notBefore
	a.Conditions.NotOnOrAfter = notOnOrAfter
	for i := range a.Subject.SubjectConfirmations {
		if d := a.Subject.SubjectConfirmations[i].SubjectConfirmationData; d != nil {
			d.NotOnOrAfter = notOnOrAfter
		}
	}
	a.AttributeStatements = []saml.AttributeStatement{{Attributes: s.CustomAttributes}}
	if m.spSession > 0 {
		end := req.Now.Add(m.spSession)
		for i := range a.AuthnStatements {
			a.AuthnStatements[i].SessionNotOnOrAfter = &end
		}
	}
	return nil
}
