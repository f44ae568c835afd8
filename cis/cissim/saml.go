package cissim

import (
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/opencis/cisauth/cis"
)

// SAML 1.1 RoleAssertion writer. Everything that depends only on the user
// (the person attributes and every role profile block) is rendered once in
// New and copied into each response; only times, ids, addresses, the
// selected role, the mode and the ticket are written per request.

const (
	samlTime      = "2006-01-02T15:04:05Z"
	syntegraNS    = "http://www.syntegra.com"
	notBeforeSkew = 3 * time.Minute
	notAfterSkew  = time.Minute
)

// userSAML holds a user's pre-rendered fragments.
type userSAML struct {
	nameID []byte // <saml:NameIdentifier …>uid=…</saml:NameIdentifier>
	person []byte // ssbAssertionVersion, cn, uid, nhsOcsPrCode attributes
	roles  []byte // every role profile block
}

func renderUserSAML(u *cis.User) userSAML {
	var out userSAML
	out.nameID = append(out.nameID, `<saml:NameIdentifier NameQualifier="o=nhs">uid=`...)
	out.nameID = appendText(out.nameID, u.UID)
	out.nameID = append(out.nameID, `,ou=People,o=nhs</saml:NameIdentifier>`...)

	p := out.person
	p = appendAttr(p, "ssbAssertionVersion", "1.1")
	p = appendAttr(p, "cn", u.Name)
	p = appendAttr(p, "uid", u.UID)
	p = appendAttr(p, "nhsOcsPrCode", u.OcsPrCode)
	out.person = p

	var r []byte
	for i := range u.Roles {
		rp := &u.Roles[i]
		r = appendAttr(r, "nhsIdCode", rp.OrgCode) // each block starts here
		r = appendAttr(r, "o", rp.OrgName)
		r = appendAttr(r, "nhsJobRole", `"`+rp.StaffGroup+`":"`+rp.SubGroup+`":"`+rp.JobRole+`"`)
		r = appendAttr(r, "nhsJobRoleCode", rp.JobRoleCode)
		r = appendAttr(r, "uniqueIdentifier", rp.ID)
		r = appendAttr(r, "nhsBusinessFunctions", rp.ActivityNames...)
		r = appendAttr(r, "nhsBusinessFunctionsCodes", rp.Activities...)
		r = appendAttr(r, "nhsAreaOfWork", rp.AreasOfWork...)
		r = appendAttr(r, "nhsAreaOfWorkCodes", rp.AreaOfWorkCodes...)
		r = appendAttr(r, "nhsWorkGroups", rp.Workgroups...)
		r = appendAttr(r, "nhsWorkGroupsCodes", rp.WorkgroupCodes...)
	}
	out.roles = r
	return out
}

// appendAttr writes one saml:Attribute with its values; no values, or one
// empty value, writes nothing (empty attributes are omitted).
func appendAttr(b []byte, name string, values ...string) []byte {
	if len(values) == 0 || (len(values) == 1 && values[0] == "") {
		return b
	}
	b = append(b, "\n            <saml:Attribute AttributeName=\""...)
	b = append(b, name...)
	b = append(b, `" AttributeNamespace="`+syntegraNS+`">`...)
	for _, v := range values {
		b = append(b, "\n                <saml:AttributeValue>"...)
		b = appendText(b, v)
		b = append(b, "</saml:AttributeValue>"...)
	}
	return append(b, "\n            </saml:Attribute>"...)
}

// appendText escapes XML character data (& < >); quotes stay as they are,
// as in the real assertions (nhsJobRole values are full of them).
func appendText(b []byte, s string) []byte { return appendEscaped(b, s, false) }

// appendAttrValue escapes an XML attribute value (& < " too).
func appendAttrValue(b []byte, s string) []byte { return appendEscaped(b, s, true) }

func appendEscaped(b []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '&':
			b = append(b, "&amp;"...)
		case c == '<':
			b = append(b, "&lt;"...)
		case c == '>':
			b = append(b, "&gt;"...)
		case c == '"' && attr:
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// assertionIDs makes unique assertion ids cheaply: a random prefix fixed at
// start and a counter, 40 hex digits like the real ones.
type assertionIDs struct {
	prefix [12]byte
	n      atomic.Uint64
}

func (a *assertionIDs) append(b []byte) []byte {
	var raw [20]byte
	copy(raw[:], a.prefix[:])
	n := a.n.Add(1)
	for i := 0; i < 8; i++ {
		raw[12+i] = byte(n >> (56 - 8*i))
	}
	return hex.AppendEncode(b, raw[:])
}

// samlRequest is what one RoleAssertion response is made of.
type samlRequest struct {
	now       time.Time
	recipient string // client address of this request
	loginIP   string // client address at login
	authn     time.Time
	user      *userSAML
	roleID    string
	mode      cis.Mode
	ticket    cis.Ticket
}

// samlTimes are the formatted times of one second, shared by every
// response written in that second.
type samlTimes struct {
	sec                          int64
	issue, notBefore, notOnAfter []byte
}

func (s *Simulator) timesAt(now time.Time) *samlTimes {
	sec := now.Unix()
	if t := s.times.Load(); t != nil && t.sec == sec {
		return t
	}
	now = now.UTC()
	t := &samlTimes{
		sec:        sec,
		issue:      now.AppendFormat(nil, samlTime),
		notBefore:  now.Add(-notBeforeSkew).AppendFormat(nil, samlTime),
		notOnAfter: now.Add(notAfterSkew).AppendFormat(nil, samlTime),
	}
	s.times.Store(t)
	return t
}

func (s *Simulator) appendAssertion(b []byte, q *samlRequest) []byte {
	now := s.timesAt(q.now)
	b = s.appendResponseStart(b, now, q.recipient)
	b = append(b, "\n    <samlp:Status>\n        <samlp:StatusCode Value=\"samlp:Success\"/>\n    </samlp:Status>"...)
	b = append(b, "\n    <saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:1.0:assertion\" MajorVersion=\"1\" MinorVersion=\"1\" AssertionID=\""...)
	b = s.appendAssertionHead(b, now, "\n        ")
	b = append(b, "\n        <saml:AttributeStatement>\n            <saml:Subject>\n                "...)
	b = append(b, q.user.nameID...)
	b = append(b, "\n                <saml:SubjectConfirmation>\n                    <saml:ConfirmationMethod>urn:com:sun:identity</saml:ConfirmationMethod>\n                    <saml:SubjectConfirmationData>\n                        <saml:Assertion MajorVersion=\"1\" MinorVersion=\"1\" AssertionID=\""...)
	b = s.appendAssertionHead(b, now, "\n                            ")
	b = append(b, "\n                            <saml:AuthenticationStatement AuthenticationInstant=\""...)
	b = q.authn.UTC().AppendFormat(b, samlTime)
	b = append(b, "\" AuthenticationMethod=\"urn:com:sun:identity:ExtendedLoginModule\">\n                                <saml:Subject>\n                                    "...)
	b = append(b, q.user.nameID...)
	b = append(b, "\n                                    <saml:SubjectConfirmation>\n                                        <saml:ConfirmationMethod>urn:com:sun:identity</saml:ConfirmationMethod>\n                                        <saml:SubjectConfirmationData>"...)
	b = appendText(b, q.ticket.Reveal())
	b = append(b, "</saml:SubjectConfirmationData>\n                                    </saml:SubjectConfirmation>\n                                </saml:Subject>\n                                <saml:SubjectLocality IPAddress=\""...)
	b = appendAttrValue(b, q.loginIP)
	b = append(b, "\"/>\n                            </saml:AuthenticationStatement>\n                        </saml:Assertion>\n                    </saml:SubjectConfirmationData>\n                </saml:SubjectConfirmation>\n            </saml:Subject>"...)
	b = append(b, q.user.person...)
	b = appendAttr(b, "ssbSessionRoleUid", q.roleID)
	b = appendAttr(b, "ssbMode", strconv.Itoa(int(q.mode)))
	b = append(b, q.user.roles...)
	b = append(b, "\n        </saml:AttributeStatement>\n    </saml:Assertion>\n</samlp:Response>\n"...)
	return b
}

// appendDenied writes the non-Success answer for a dead or unknown ticket.
func (s *Simulator) appendDenied(b []byte, now time.Time, recipient, msg string) []byte {
	b = s.appendResponseStart(b, s.timesAt(now), recipient)
	b = append(b, "\n    <samlp:Status>\n        <samlp:StatusCode Value=\"samlp:Requester\">\n            <samlp:StatusCode Value=\"samlp:RequestDenied\"/>\n        </samlp:StatusCode>\n        <samlp:StatusMessage>"...)
	b = appendText(b, msg)
	b = append(b, "</samlp:StatusMessage>\n    </samlp:Status>\n</samlp:Response>\n"...)
	return b
}

func (s *Simulator) appendResponseStart(b []byte, now *samlTimes, recipient string) []byte {
	b = append(b, `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol" ResponseID="null" InResponseTo="null" MajorVersion="1" MinorVersion="1" IssueInstant="`...)
	b = append(b, now.issue...)
	b = append(b, `" Recipient="`...)
	b = appendAttrValue(b, recipient)
	return append(b, `">`...)
}

// appendAssertionHead finishes an Assertion start tag (id, issuer, issue
// instant) and writes its Conditions on the next line, indented by sep.
func (s *Simulator) appendAssertionHead(b []byte, now *samlTimes, sep string) []byte {
	b = s.ids.append(b)
	b = s.appendIssuerInstant(b, now)
	b = append(b, sep...)
	return appendConditions(b, now)
}

func (s *Simulator) appendIssuerInstant(b []byte, now *samlTimes) []byte {
	b = append(b, `" Issuer="`...)
	b = append(b, s.issuerAttr...)
	b = append(b, `" IssueInstant="`...)
	b = append(b, now.issue...)
	return append(b, `">`...)
}

func appendConditions(b []byte, now *samlTimes) []byte {
	b = append(b, `<saml:Conditions NotBefore="`...)
	b = append(b, now.notBefore...)
	b = append(b, `" NotOnOrAfter="`...)
	b = append(b, now.notOnAfter...)
	return append(b, `"/>`...)
}
