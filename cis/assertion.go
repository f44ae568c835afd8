package cis

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// MaxAssertionSize bounds the size of a RoleAssertion document that
// ParseRoleAssertion accepts. A user with forty role profiles needs well
// under a tenth of it.
const MaxAssertionSize = 1 << 20

// Namespaces of the SAML 1.1 RoleAssertion and of its attributes.
const (
	samlpNS      = "urn:oasis:names:tc:SAML:1.0:protocol"
	samlNS       = "urn:oasis:names:tc:SAML:1.0:assertion"
	syntegraNS   = "http://www.syntegra.com"
	xmlReservdNS = "http://www.w3.org/XML/1998/namespace"
)

// Structural limits of the parser, beyond MaxAssertionSize.
const (
	maxAssertionDepth = 32 // element nesting
	maxXMLAttrs       = 32 // XML attributes on one element (gpOBJECT too)
	maxNamespaceDecls = 64 // namespace declarations in the whole document
)

const roleAssertionWhat = "RoleAssertion"

// ParseRoleAssertion parses an SSB RoleAssertion: a SAML 1.1 samlp:Response
// holding one saml:Assertion whose AttributeStatement lists the user, their
// role profiles and the selected role.
//
// The parse is strict: every element's namespace is checked, the fixed SAML
// structure admits no unknown elements, DOCTYPE and processing instructions
// are refused, and size (MaxAssertionSize), depth, attributes per element
// and namespace declarations per document (64) are capped. A
// single-valued attribute given twice, a missing uid, ssbSessionRoleUid or
// ssbMode, a selected role that matches no role profile, a
// saml:NameIdentifier other than uid=<the uid attribute>[,…], or a validity
// window longer than MaxAssertionWindow is an error. Values lose leading
// and trailing XML white space only. Such failures
// are a *ParseError wrapping ErrMalformed (ErrTooLarge for size). A
// well-formed response whose status is not samlp:Success (an unknown,
// expired or logged-out ticket) is an error wrapping ErrSessionInvalid.
//
// It compares no time with the clock: call CheckTime (SSBClient.Validate
// does), which also checks the issue instant against the window. The
// SSO ticket that the SSB echoes inside the assertion is neither kept nor
// quoted in errors.
//
// The RoleAssertion is unsigned. Only parse bytes that this program fetched
// from the configured SSB over verified TLS; never trust one a client sent.
func ParseRoleAssertion(data []byte) (*Assertion, error) {
	return parseRoleAssertion(data, false)
}

// parseRoleAssertion is ParseRoleAssertion; general turns the shortcut for
// attribute values off, for tests to compare.
func parseRoleAssertion(data []byte, general bool) (*Assertion, error) {
	a, _, err := parseRoleAssertionEcho(data, general)
	return a, err
}

// ticketEcho is what a RoleAssertion says of the SSO ticket it was issued
// for: the SHA-256 of the ticket echoed in its subject confirmation, if it
// echoed exactly one. The ticket itself is not kept.
type ticketEcho struct {
	digest [32]byte
	ok     bool
}

// isFor reports whether the echo is of ticket t, comparing digests in
// constant time. No echo, or more than one, is about no ticket.
func (e ticketEcho) isFor(t Ticket) bool {
	if !e.ok || t.IsZero() {
		return false
	}
	d := sha256.Sum256([]byte(t.Reveal()))
	return subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1
}

// parseRoleAssertionEcho is parseRoleAssertion that also returns the
// ticket echo, for SSBClient.Validate.
func parseRoleAssertionEcho(data []byte, general bool) (*Assertion, ticketEcho, error) {
	if len(data) > MaxAssertionSize {
		return nil, ticketEcho{}, &ParseError{What: roleAssertionWhat, Offset: -1,
			Msg: fmt.Sprintf("document is %d bytes, limit %d", len(data), MaxAssertionSize), Err: ErrTooLarge}
	}
	p := &assertionParser{s: newXMLScanner(data), general: general}
	a, err := p.parse()
	if err != nil {
		return nil, ticketEcho{}, err
	}
	return a, ticketEcho{digest: p.ticketDigest, ok: p.tickets == 1}, nil
}

// startTag is the start tag the parser just read. Its name is a position
// in the input; its attributes are the scanner's until the next token.
type startTag struct {
	name qspan
	ns   nsKind // the element's namespace, resolved in push
	bind int    // the binding that gave it, or -1 (no namespace, xml)
}

// openElement is an element the parser is inside of.
type openElement struct {
	name   qspan // raw name, to match the end tag
	nsMark int   // length of bindings before this element's declarations
}

// nsKind is a namespace URI the parser tells apart.
type nsKind uint8

const (
	nsNone  nsKind = iota // no namespace
	nsOther               // any namespace not below
	nsSAMLP
	nsSAML
	nsXML
)

// nsBinding is one namespace declaration in scope; an empty prefix is the
// default namespace. Positions are in the input (uri in the scanner's
// decoded values if decoded).
type nsBinding struct {
	prefix  span
	uri     span
	decoded bool
	kind    nsKind
}

// nsMemo is the namespace an element name resolved to: the name at
// position name, under the bindings of generation gen.
type nsMemo struct {
	set       bool
	name, gen int
	ns        nsKind
	bind      int
}

// assertionParser reads a RoleAssertion in one pass over the scanner's
// tokens, tracking namespace scopes and element nesting itself.
type assertionParser struct {
	s        xmlScanner
	stack    [maxAssertionDepth]openElement
	depth    int
	bindings []nsBinding
	decls    int       // namespace declarations read so far
	nsGen    int       // changes whenever bindings does
	nsMemo   [2]nsMemo // resolutions of the scanner's recent element names
	secret   int       // > 0 inside SubjectConfirmationData (holds the ticket)
	// ticketDigest is the SHA-256 of the ticket echoed in the subject
	// confirmation, if tickets is 1 (see confirmationData).
	ticketDigest [32]byte
	tickets      int
	attrs        assertionBuilder
	nvalues      int      // values of the saml:Attribute being read
	first        string   // its first value (for the single-valued kinds)
	text         []byte   // reused buffer for text split over several tokens
	tag          startTag // the start tag just read
	strs         stringArena
	general      bool // never take the shortcut of nextPlainValue (tests)
	valTmpl      valueTemplate
}

// valueTemplate is a plain saml:AttributeValue (no attributes) the general
// path read: its name, and the bindings generation and depth it was read
// under. The first value of a later saml:Attribute written the same way,
// at the same depth under the same bindings, may take nextPlainValue.
type valueTemplate struct {
	set        bool
	name       qspan
	gen, depth int
}

// errorf returns a *ParseError at the scanner's current offset. Inside
// SubjectConfirmationData, which holds the SSO ticket, the message is a
// fixed text: names and values there may quote the ticket.
func (p *assertionParser) errorf(format string, args ...any) error {
	msg := "malformed saml:SubjectConfirmationData (details withheld: it holds the SSO ticket)"
	if p.secret == 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &ParseError{What: roleAssertionWhat, Offset: p.s.offset(), Msg: msg, Err: ErrMalformed}
}

// dictionaryError wraps a failure of the attribute dictionary; it matches
// ErrMalformed and whatever err wraps (ErrUnknownRole).
func (p *assertionParser) dictionaryError(err error) error {
	return &ParseError{What: roleAssertionWhat, Offset: p.s.offset(), Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrMalformed, err)}
}

// syntaxError wraps a scanner error (see errorf for the ticket).
func (p *assertionParser) syntaxError(err error) error {
	return p.errorf("XML syntax error: %v", err)
}

// next reads the next start tag (into p.tag), end tag or character data
// (p.s.textBytes). It skips comments, refuses directives and processing
// instructions, checks that end tags match, and maintains namespace scopes
// and the depth limit.
func (p *assertionParser) next() (tokKind, error) {
	for {
		if err := p.s.next(); err != nil {
			return 0, p.syntaxError(err)
		}
		switch p.s.kind {
		case tokStart:
			if p.depth >= maxAssertionDepth {
				return 0, p.errorf("elements nested deeper than %d", maxAssertionDepth)
			}
			if err := p.push(); err != nil {
				return 0, err
			}
			return tokStart, nil
		case tokEnd:
			n, d := p.s.name, p.depth
			// The scanner compared the name with p.s.expect, the open element's, if expected.
			if d == 0 || !p.s.expected && (n.end-n.start != p.stack[d-1].name.end-p.stack[d-1].name.start ||
				!sameAt(p.s.data, n.start, p.stack[d-1].name.start, n.end-n.start)) {
				return 0, p.errorf("end tag </%s> does not match the open element", p.qname(n))
			}
			if m := p.stack[d-1].nsMark; m != len(p.bindings) {
				p.bindings = p.bindings[:m]
				p.nsGen++
			}
			p.depth--
			p.s.expect = qspan{}
			if d > 1 {
				p.s.expect = p.stack[d-2].name
			}
			return tokEnd, nil
		case tokText:
			return tokText, nil
		case tokComment:
			continue
		}
		return 0, p.errorf("%s", misplacedToken(p.s.kind))
	}
}

// push opens the element the scanner just read: checks its XML attributes
// (no duplicates, bound prefixes; the scanner bounds their number) and
// declares its namespaces.
func (p *assertionParser) push() error {
	s := &p.s
	name := s.name
	mark := len(p.bindings)
	attrs := s.attrs[:s.nattrs]
	for i := range attrs {
		a := &attrs[i]
		an := s.data[a.name.start:a.name.end]
		for j := range attrs[:i] {
			if b := &attrs[j]; b.name.end-b.name.start == len(an) && string(s.data[b.name.start:b.name.end]) == string(an) {
				return p.errorf("element <%s> repeats attribute %s", p.qname(name), p.qname(a.name))
			}
		}
		prefix, local := s.prefix(a.name), s.local(a.name)
		switch {
		case len(prefix) == 0 && string(local) == "xmlns":
			p.bindings = append(p.bindings, p.binding(span{}, a))
		case string(prefix) == "xmlns":
			v := s.attrValue(a)
			if len(v) == 0 || string(local) == "xmlns" || (string(local) == "xml") != (string(v) == xmlReservdNS) {
				return p.errorf("invalid namespace declaration xmlns:%s", clip(local))
			}
			p.bindings = append(p.bindings, p.binding(span{a.name.local, a.name.end}, a))
		}
	}
	if n := len(p.bindings) - mark; n != 0 {
		// Bounded per document, not per scope: resolve scans the bindings
		// in scope, and a document of nested declarations would otherwise
		// cost far more per byte than a real one.
		if p.decls += n; p.decls > maxNamespaceDecls {
			return p.errorf("more than %d namespace declarations in the document", maxNamespaceDecls)
		}
		p.nsGen++
	}
	p.stack[p.depth] = openElement{name: name, nsMark: mark}
	p.depth++
	s.expect = name
	// Every prefix used on the element or its attributes must be bound.
	// The element's name is one of the scanner's recent names: the same
	// bytes, so the same namespace while the bindings are unchanged.
	var ns nsKind
	var bind int
	slot := s.recent.last
	if m := &p.nsMemo[slot]; m.set && m.name == s.recent.q[slot].start && m.gen == p.nsGen {
		ns, bind = m.ns, m.bind
	} else {
		var err error
		if ns, bind, err = p.resolve(s.prefix(name)); err != nil {
			return err
		}
		*m = nsMemo{set: true, name: s.recent.q[slot].start, gen: p.nsGen, ns: ns, bind: bind}
	}
	// Field by field: a composite literal is built in a temporary and copied
	// with wide loads that stall on its narrow stores.
	p.tag.name, p.tag.ns, p.tag.bind = name, ns, bind
	for i := range attrs {
		if prefix := s.prefix(attrs[i].name); len(prefix) != 0 && string(prefix) != "xmlns" {
			if _, _, err := p.resolve(prefix); err != nil {
				return err
			}
		}
	}
	return nil
}

// startTag returns p.tag field by field (see push).
func (p *assertionParser) startTag() startTag {
	t := &p.tag
	return startTag{name: qspan{t.name.start, t.name.local, t.name.end}, ns: t.ns, bind: t.bind}
}

// binding makes the declaration of prefix by the attribute a.
func (p *assertionParser) binding(prefix span, a *scanAttr) nsBinding {
	b := nsBinding{prefix: prefix, uri: a.value, decoded: a.decoded, kind: nsOther}
	switch string(p.s.attrValue(a)) {
	case "":
		b.kind = nsNone
	case samlpNS:
		b.kind = nsSAMLP
	case samlNS:
		b.kind = nsSAML
	case xmlReservdNS:
		b.kind = nsXML
	}
	return b
}

// resolve returns the namespace bound to prefix in the current scope, and
// the index of its binding (-1 for the predefined ones).
func (p *assertionParser) resolve(prefix []byte) (nsKind, int, error) {
	for i := len(p.bindings) - 1; i >= 0; i-- {
		b := &p.bindings[i]
		if b.prefix.end-b.prefix.start == len(prefix) && string(p.s.data[b.prefix.start:b.prefix.end]) == string(prefix) {
			return b.kind, i, nil
		}
	}
	switch string(prefix) {
	case "":
		return nsNone, -1, nil
	case "xml":
		return nsXML, -1, nil
	}
	return 0, 0, p.errorf("namespace prefix %.40q is not declared", prefix)
}

// describe names a start element the parser read, for messages:
// {namespace URI}local name, each cut short if long.
func (p *assertionParser) describe(t *startTag) string {
	var uri []byte
	switch {
	case t.bind >= 0 && p.bindings[t.bind].decoded:
		b := &p.bindings[t.bind]
		uri = p.s.vals[b.uri.start:b.uri.end]
	case t.bind >= 0:
		b := &p.bindings[t.bind]
		uri = p.s.data[b.uri.start:b.uri.end]
	case t.ns == nsXML:
		uri = []byte(xmlReservdNS)
	}
	return "{" + clip(uri) + "}" + clip(p.local(t))
}

// is reports whether t is the element space:local.
func (p *assertionParser) is(t *startTag, space nsKind, local string) bool {
	return t.ns == space && string(p.s.data[t.name.local:t.name.end]) == local
}

// local returns the local name of t.
func (p *assertionParser) local(t *startTag) []byte { return p.s.local(t.name) }

// unexpected reports an element that has no place where it appears.
func (p *assertionParser) unexpected(t *startTag, where string) error {
	return p.errorf("unexpected element %s in %s", p.describe(t), where)
}

// children calls f for each child element of the element just opened and
// returns after its end tag. Text between children must be white space.
// f must consume the child (through its end tag) before returning.
func (p *assertionParser) children(where string, f func(startTag) error) error {
	depth := p.depth
	for {
		p.s.skipIndent() // white space between children needs no token
		kind, err := p.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokStart:
			if err := f(p.startTag()); err != nil {
				return err
			}
			if p.depth != depth {
				return p.errorf("internal: child of %s not consumed", where)
			}
		case tokEnd:
			return nil
		case tokText:
			if !p.s.space && !isXMLSpace(p.s.textBytes()) {
				return p.errorf("unexpected text in %s", where)
			}
		}
	}
}

// textContent reads the text of the element just opened, through its end
// tag; child elements are an error. The result is p.text, valid until the
// next call; callers convert it with string() or the arena.
func (p *assertionParser) textContent(where string) ([]byte, error) {
	p.text = p.text[:0]
	var held span // the only piece so far, in the input: not copied yet
	var holding bool
	for {
		kind, err := p.next()
		if err != nil {
			return nil, err
		}
		switch kind {
		case tokStart:
			return nil, p.errorf("unexpected element in %s: want text", where)
		case tokEnd:
			if holding {
				return p.s.data[held.start:held.end], nil
			}
			return p.text, nil
		case tokText:
			if len(p.text) == 0 && !holding && !p.s.textBuf {
				held, holding = p.s.text, true
				continue
			}
			if holding {
				p.text = append(p.text, p.s.data[held.start:held.end]...)
				holding = false
			}
			// Copy: the scanner reuses its buffer for the next piece of text
			// (comments and CDATA sections split text into pieces).
			p.text = append(p.text, p.s.textBytes()...)
		}
	}
}

// skip consumes the element just opened, whatever it holds, still checking
// well-formedness, namespaces and depth.
func (p *assertionParser) skip() error {
	depth := p.depth
	for p.depth >= depth {
		if _, err := p.next(); err != nil {
			return err
		}
	}
	return nil
}

// xmlAttrs calls f with the local name and value of each plain (unprefixed)
// attribute of t. Namespace declarations are skipped; any other attribute
// in a namespace is an error, as the SAML 1.1 elements define none. With
// f nil, it only checks.
func (p *assertionParser) xmlAttrs(t *startTag, f func(local, value []byte) error) error {
	s := &p.s
	for i := range s.nattrs {
		a := &s.attrs[i]
		prefix, local := s.prefix(a.name), s.local(a.name)
		switch {
		case string(prefix) == "xmlns" || (len(prefix) == 0 && string(local) == "xmlns"):
		case len(prefix) != 0:
			return p.errorf("attribute %s on <%s> is in a namespace", p.qname(a.name), p.qname(t.name))
		case f != nil:
			if err := f(local, s.attrValue(a)); err != nil {
				return err
			}
		}
	}
	return nil
}

// parse reads the whole document.
func (p *assertionParser) parse() (*Assertion, error) {
	root, err := p.prolog()
	if err != nil {
		return nil, err
	}
	if !p.is(&root, nsSAMLP, "Response") {
		return nil, p.errorf("root element is %s, want {%s}Response", p.describe(&root), samlpNS)
	}
	a, success, err := p.response(root)
	if err != nil {
		return nil, err
	}
	if err := p.epilog(); err != nil {
		return nil, err
	}
	if !success {
		return nil, fmt.Errorf("cis: %s: status is not samlp:Success: %w", roleAssertionWhat, ErrSessionInvalid)
	}
	return a, nil
}

// prolog reads up to the root element: an optional XML declaration first,
// then only white space and comments.
func (p *assertionParser) prolog() (startTag, error) {
	if err := p.s.skipOutsideRoot(true); err != nil {
		return startTag{}, p.syntaxError(err)
	}
	if p.s.kind == tokEOF {
		return startTag{}, p.errorf("no root element")
	}
	if err := p.push(); err != nil {
		return startTag{}, err
	}
	return p.startTag(), nil
}

// epilog checks that only white space and comments follow the root element.
func (p *assertionParser) epilog() error {
	if err := p.s.skipOutsideRoot(false); err != nil {
		return p.syntaxError(err)
	}
	if p.s.kind == tokStart {
		return p.errorf("second root element <%s>", p.qname(p.s.name))
	}
	return nil
}

// response reads samlp:Response: samlp:Status, then (on success) exactly one
// saml:Assertion. On any other status the rest is only checked for
// well-formedness.
func (p *assertionParser) response(root startTag) (*Assertion, bool, error) {
	if err := p.versionAttrs(&root, nil); err != nil {
		return nil, false, err
	}
	var (
		a                *Assertion
		haveStatus, succ bool
	)
	err := p.children("samlp:Response", func(t startTag) error {
		switch {
		case !haveStatus:
			if !p.is(&t, nsSAMLP, "Status") {
				return p.errorf("first child of samlp:Response is %s, want samlp:Status", p.describe(&t))
			}
			haveStatus = true
			var err error
			succ, err = p.status()
			return err
		case !succ:
			return p.skip()
		case p.is(&t, nsSAML, "Assertion"):
			if a != nil {
				return p.errorf("samlp:Response holds more than one saml:Assertion")
			}
			var err error
			a, err = p.assertion(t)
			return err
		}
		return p.unexpected(&t, "samlp:Response")
	})
	switch {
	case err != nil:
		return nil, false, err
	case !haveStatus:
		return nil, false, p.errorf("samlp:Response has no samlp:Status")
	case succ && a == nil:
		return nil, false, p.errorf("samlp:Response has status Success but no saml:Assertion")
	}
	return a, succ, nil
}

// versionAttrs requires MajorVersion="1" MinorVersion="1" and passes any
// other plain attribute to f (if not nil).
func (p *assertionParser) versionAttrs(t *startTag, f func(local, value []byte) error) error {
	var major, minor bool
	err := p.xmlAttrs(t, func(local, value []byte) error {
		switch string(local) {
		case "MajorVersion":
			major = true
			if string(value) != "1" {
				return p.errorf("<%s> MajorVersion %.10q, want 1", p.qname(t.name), value)
			}
		case "MinorVersion":
			minor = true
			if string(value) != "1" {
				return p.errorf("<%s> MinorVersion %.10q, want 1", p.qname(t.name), value)
			}
		default:
			if f != nil {
				return f(local, value)
			}
		}
		return nil
	})
	if err == nil && !(major && minor) {
		err = p.errorf("<%s> lacks MajorVersion or MinorVersion", p.qname(t.name))
	}
	return err
}

// status reads samlp:Status and reports whether its top-level StatusCode is
// samlp:Success.
func (p *assertionParser) status() (bool, error) {
	var code, msg, detail bool
	var success bool
	err := p.children("samlp:Status", func(t startTag) error {
		switch {
		case !code && p.is(&t, nsSAMLP, "StatusCode"):
			code = true
			var err error
			success, err = p.statusCode(t)
			return err
		case code && !msg && !detail && p.is(&t, nsSAMLP, "StatusMessage"):
			msg = true
			_, err := p.textContent("samlp:StatusMessage")
			return err
		case code && !detail && p.is(&t, nsSAMLP, "StatusDetail"):
			detail = true
			return p.skip()
		}
		return p.unexpected(&t, "samlp:Status")
	})
	if err == nil && !code {
		err = p.errorf("samlp:Status has no samlp:StatusCode")
	}
	return success, err
}

// statusCode reads a samlp:StatusCode (and any nested ones) and reports
// whether its Value, a QName, is {protocol}Success.
func (p *assertionParser) statusCode(t startTag) (bool, error) {
	var value string
	var have bool
	err := p.xmlAttrs(&t, func(local, v []byte) error {
		if string(local) == "Value" {
			value, have = string(v), true
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if !have {
		return false, p.errorf("samlp:StatusCode has no Value")
	}
	prefix, local, ok := strings.Cut(value, ":")
	if !ok {
		prefix, local = "", value
	}
	ns, _, err := p.resolve([]byte(prefix))
	if err != nil {
		return false, err
	}
	success := ns == nsSAMLP && local == "Success"
	err = p.children("samlp:StatusCode", func(c startTag) error {
		if !p.is(&c, nsSAMLP, "StatusCode") {
			return p.unexpected(&c, "samlp:StatusCode")
		}
		_, err := p.statusCode(c)
		return err
	})
	return success, err
}

// assertion reads the top-level saml:Assertion: saml:Conditions, then one
// saml:AttributeStatement.
func (p *assertionParser) assertion(t startTag) (*Assertion, error) {
	a := &Assertion{}
	var issueInstant string
	err := p.versionAttrs(&t, func(local, value []byte) error {
		switch string(local) {
		case "AssertionID":
			a.AssertionID = string(value)
		case "Issuer":
			a.Issuer = string(value)
		case "IssueInstant":
			issueInstant = string(value)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if a.AssertionID == "" || a.Issuer == "" || issueInstant == "" {
		return nil, p.errorf("saml:Assertion lacks AssertionID, Issuer or IssueInstant")
	}
	if a.IssueInstant, err = p.dateTime("IssueInstant", issueInstant); err != nil {
		return nil, err
	}
	var conditions, statement bool
	err = p.children("saml:Assertion", func(c startTag) error {
		switch {
		case !conditions && !statement && p.is(&c, nsSAML, "Conditions"):
			conditions = true
			return p.conditions(c, a)
		case conditions && !statement && p.is(&c, nsSAML, "AttributeStatement"):
			statement = true
			return p.attributeStatement(a)
		case p.is(&c, nsSAML, "Assertion"):
			return p.errorf("saml:Assertion nested in saml:Assertion")
		}
		return p.unexpected(&c, "saml:Assertion")
	})
	switch {
	case err != nil:
		return nil, err
	case !conditions:
		return nil, p.errorf("saml:Assertion has no saml:Conditions")
	case !statement:
		return nil, p.errorf("saml:Assertion has no saml:AttributeStatement")
	}
	return a, nil
}

// conditions reads saml:Conditions: NotBefore and NotOnOrAfter, both
// required, and no condition elements (none is defined for the SSB).
func (p *assertionParser) conditions(t startTag, a *Assertion) error {
	var nb, noa string
	err := p.xmlAttrs(&t, func(local, value []byte) error {
		switch string(local) {
		case "NotBefore":
			nb = string(value)
		case "NotOnOrAfter":
			noa = string(value)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if nb == "" || noa == "" {
		return p.errorf("saml:Conditions needs both NotBefore and NotOnOrAfter")
	}
	if a.NotBefore, err = p.dateTime("NotBefore", nb); err != nil {
		return err
	}
	if a.NotOnOrAfter, err = p.dateTime("NotOnOrAfter", noa); err != nil {
		return err
	}
	if !a.NotBefore.Before(a.NotOnOrAfter) {
		return p.errorf("saml:Conditions NotOnOrAfter is not after NotBefore")
	}
	if a.NotOnOrAfter.Sub(a.NotBefore) > MaxAssertionWindow {
		return p.errorf("saml:Conditions validity window is longer than %v", MaxAssertionWindow)
	}
	return p.children("saml:Conditions", func(c startTag) error {
		return p.unexpected(&c, "saml:Conditions")
	})
}

// dateTime parses an xs:dateTime with a zone (Z or an offset) into UTC.
func (p *assertionParser) dateTime(what, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, p.errorf("%s %.40q is not an xs:dateTime with a time zone", what, s)
	}
	return t.UTC(), nil
}

// attributeStatement reads saml:AttributeStatement: saml:Subject, then the
// flat list of saml:Attribute, which the attribute dictionary turns into the
// user and role model.
func (p *assertionParser) attributeStatement(a *Assertion) error {
	var subject bool
	var nameID string
	p.attrs = assertionBuilder{}
	// One block per nhsIdCode: size the role list once.
	if n := countRoleBlocks(p.s.data); n > 0 {
		p.attrs.user.Roles = make([]RoleProfile, 0, min(n, maxRoleProfiles))
	}
	err := p.children("saml:AttributeStatement", func(c startTag) error {
		switch {
		case !subject && p.is(&c, nsSAML, "Subject"):
			subject = true
			var err error
			nameID, err = p.subject()
			return err
		case subject && p.is(&c, nsSAML, "Attribute"):
			tmpl, plain := p.attributeTemplate(&c)
			if err := p.attribute(c); err != nil {
				return err
			}
			// The next attributes are most likely written the same way.
			for plain && !p.general {
				if ok, err := p.nextPlainAttribute(&tmpl); !ok || err != nil {
					return err
				}
			}
			return nil
		}
		return p.unexpected(&c, "saml:AttributeStatement")
	})
	if err != nil {
		return err
	}
	if !subject {
		return p.errorf("saml:AttributeStatement has no saml:Subject")
	}
	if err := p.attrs.finish(a); err != nil {
		return p.dictionaryError(err)
	}
	// The subject names the same user as the uid attribute, as the SSB
	// writes it: uid=<uid>,ou=People,o=nhs (any other name is refused).
	rest, ok := strings.CutPrefix(nameID, "uid=")
	if uid, _, _ := strings.Cut(rest, ","); !ok || uid != a.User.UID {
		return p.errorf("saml:NameIdentifier names a different user from the uid attribute (want uid=<uid>,…)")
	}
	return nil
}

// subject reads saml:Subject: saml:NameIdentifier, then an optional
// saml:SubjectConfirmation whose SubjectConfirmationData (the inner
// authentication assertion carrying the SSO ticket) is checked for
// well-formedness and discarded unread.
func (p *assertionParser) subject() (string, error) {
	var nameID string
	var haveName, haveConf bool
	err := p.children("saml:Subject", func(c startTag) error {
		switch {
		case !haveName && !haveConf && p.is(&c, nsSAML, "NameIdentifier"):
			haveName = true
			b, err := p.textContent("saml:NameIdentifier")
			nameID = string(trimXMLSpace(b))
			return err
		case haveName && !haveConf && p.is(&c, nsSAML, "SubjectConfirmation"):
			haveConf = true
			return p.subjectConfirmation()
		}
		return p.unexpected(&c, "saml:Subject")
	})
	if err == nil && nameID == "" {
		err = p.errorf("saml:Subject has no saml:NameIdentifier")
	}
	return nameID, err
}

func (p *assertionParser) subjectConfirmation() error {
	var methods int
	var data bool
	err := p.children("saml:SubjectConfirmation", func(c startTag) error {
		switch {
		case !data && p.is(&c, nsSAML, "ConfirmationMethod"):
			methods++
			_, err := p.textContent("saml:ConfirmationMethod")
			return err
		case methods > 0 && !data && p.is(&c, nsSAML, "SubjectConfirmationData"):
			data = true
			p.secret++
			err := p.confirmationData()
			p.secret--
			return err
		}
		return p.unexpected(&c, "saml:SubjectConfirmation")
	})
	if err == nil && methods == 0 {
		err = p.errorf("saml:SubjectConfirmation has no saml:ConfirmationMethod")
	}
	return err
}

// confirmationData consumes the saml:SubjectConfirmationData just opened
// (the inner authentication assertion), checking it as skip does, and notes
// a SHA-256 digest of the text of each text-only saml:SubjectConfirmationData
// nested in it: the SSO ticket the SSB answered for. The ticket itself is
// neither kept nor quoted.
func (p *assertionParser) confirmationData() error {
	depth := p.depth
	holder := 0 // depth of a nested saml:SubjectConfirmationData being read, or 0
	p.text = p.text[:0]
	for p.depth >= depth {
		kind, err := p.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokStart:
			holder = 0
			if t := p.startTag(); p.is(&t, nsSAML, "SubjectConfirmationData") {
				holder = p.depth
				p.text = p.text[:0]
			}
		case tokText:
			if holder == p.depth {
				p.text = append(p.text, p.s.textBytes()...)
			}
		case tokEnd:
			if holder != 0 && p.depth == holder-1 {
				p.ticketDigest = sha256.Sum256(trimXMLSpace(p.text))
				p.tickets++
				holder = 0
			}
		}
	}
	clear(p.text)
	return nil
}

// attribute reads one saml:Attribute and hands its values to the attribute
// dictionary.
func (p *assertionParser) attribute(t startTag) error {
	if err := p.xmlAttrs(&t, nil); err != nil {
		return err
	}
	// Read the two by position, not in a callback: the value slices are
	// then written to locals only, without GC write barriers.
	s := &p.s
	var name, namespace []byte
	for i := range s.nattrs {
		if a := &s.attrs[i]; a.name.local == a.name.start {
			switch string(s.local(a.name)) {
			case "AttributeName":
				name = s.attrValue(a)
			case "AttributeNamespace":
				namespace = s.attrValue(a)
			}
		}
	}
	if len(name) == 0 {
		return p.errorf("saml:Attribute has no AttributeName")
	}
	if string(namespace) != syntegraNS {
		return p.errorf("saml:Attribute %.40q has AttributeNamespace %.60q, want %s", name, namespace, syntegraNS)
	}
	return p.attributeValues(name)
}

// attributeValues reads the values of the saml:Attribute just opened, whose
// AttributeName is name, and hands them to the attribute dictionary.
func (p *assertionParser) attributeValues(name []byte) error {
	kind := attributeKind(string(name))
	p.nvalues, p.first = 0, ""
	if kind.multiValued() {
		p.attrs.lists.begin()
	}
	// The first values, if written like those of an attribute before.
	if t := &p.valTmpl; t.set && t.gen == p.nsGen && t.depth == p.depth && !p.general {
		for p.nextPlainValue(t.name, kind) {
		}
	}
	err := p.children("saml:Attribute", func(c startTag) error {
		if !p.is(&c, nsSAML, "AttributeValue") {
			return p.unexpected(&c, "saml:Attribute")
		}
		if p.nvalues >= maxAttributeValues {
			return p.errorf("saml:Attribute %.40q has more than %d values", name, maxAttributeValues)
		}
		if err := p.xmlAttrs(&c, nil); err != nil {
			return err
		}
		plain := p.s.nattrs == 0 && !p.general // read before the scanner moves on
		b, err := p.textContent("saml:AttributeValue")
		if err != nil {
			return err
		}
		if plain {
			p.valTmpl = valueTemplate{set: true, name: c.name, gen: p.nsGen, depth: p.depth}
		}
		p.addValue(kind, b)
		// The next values are most likely written the same way.
		for plain && p.nextPlainValue(c.name, kind) {
		}
		return nil
	})
	if err != nil {
		return err
	}
	if p.nvalues == 0 {
		return p.errorf("saml:Attribute %.40q has no saml:AttributeValue", name)
	}
	if err := p.attrs.add(kind, p.nvalues, p.first); err != nil {
		return p.dictionaryError(err)
	}
	return nil
}

// attrTemplate is the start tag of a saml:Attribute the general path read:
// data[start:value] runs from its '<' to the AttributeName value,
// data[valueEnd:end] from the closing quote past the '>'; name is the
// element name.
type attrTemplate struct {
	start, value, valueEnd, end int
	name                        qspan
}

// attributeTemplate describes the start tag t of a saml:Attribute just read
// if nextPlainAttribute may use it: exactly AttributeName and
// AttributeNamespace, in that order, neither decoded, no namespace
// declarations, not empty.
func (p *assertionParser) attributeTemplate(t *startTag) (attrTemplate, bool) {
	s := &p.s
	if s.nattrs != 2 || s.pendingEnd {
		return attrTemplate{}, false
	}
	a, b := &s.attrs[0], &s.attrs[1]
	if a.decoded || b.decoded || string(s.data[a.name.start:a.name.end]) != "AttributeName" ||
		string(s.data[b.name.start:b.name.end]) != "AttributeNamespace" {
		return attrTemplate{}, false
	}
	return attrTemplate{start: t.name.start - 1, value: a.value.start, valueEnd: a.value.end, end: s.pos, name: t.name}, true
}

// nextPlainAttribute reads the next saml:Attribute sibling if its start tag
// is byte for byte the one of tmpl but for a plain AttributeName value (no
// entity, white space other than spaces, '<', control or non-ASCII
// character): then its name, namespace (the same scope: neither declares
// any), attributes and depth need no new checks. It opens the element as
// push would and reads the values by the general path. Otherwise it leaves
// the scanner where it was and reports false.
func (p *assertionParser) nextPlainAttribute(tmpl *attrTemplate) (bool, error) {
	s := &p.s
	if s.pendingEnd {
		return false, nil
	}
	s.skipIndent()
	data, i := s.data, s.pos
	head, tail := tmpl.value-tmpl.start, tmpl.end-tmpl.valueEnd
	if i+head > len(data) || !sameAt(data, i, tmpl.start, head) {
		return false, nil
	}
	valueEnd, flags, err := scanTo(data, i+head, data[tmpl.value-1])
	if err != nil || valueEnd == i+head || flags&(runAmp|runCR|runTabLF|runLT|runNonASCII) != 0 ||
		valueEnd+tail > len(data) || !sameAt(data, valueEnd, tmpl.valueEnd, tail) {
		return false, nil
	}
	d := i - tmpl.start
	name := qspan{tmpl.name.start + d, tmpl.name.local + d, tmpl.name.end + d}
	p.stack[p.depth].name, p.stack[p.depth].nsMark = name, len(p.bindings)
	p.depth++
	s.expect = name
	s.pos = valueEnd + tail
	return true, p.attributeValues(data[i+head : valueEnd])
}

// addValue records the text of one saml:AttributeValue.
func (p *assertionParser) addValue(kind attrKind, b []byte) {
	if kind == attrUnknown {
		p.nvalues++
		return
	}
	// Only called when an end may be XML white space (the only bytes
	// below '!' the scanner lets through).
	if n := len(b); n > 0 && (b[0] <= ' ' || b[n-1] <= ' ') {
		b = trimXMLSpace(b)
	}
	// Lists take their values as read, into the list arena; the other
	// kinds need only the first (more are an error in add).
	v := p.strs.str(b)
	switch p.nvalues++; {
	case kind.multiValued():
		if v != "" {
			p.attrs.lists.push(v)
		}
	case p.nvalues == 1:
		p.first = v
	}
}

// nextPlainValue reads the next saml:AttributeValue sibling in one step if
// it is written exactly like the one just read at name (same name bytes,
// no attributes, plain text, no white space in the tags): then its name,
// namespace (the same scope: neither declares any), depth and end tag
// need no new checks beyond comparing bytes. Anything else, including any
// error, leaves the scanner where it was for the general path, and it
// reports false.
func (p *assertionParser) nextPlainValue(name qspan, kind attrKind) bool {
	s := &p.s
	if p.nvalues >= maxAttributeValues || s.pendingEnd {
		return false
	}
	s.skipIndent()
	data, i, n := s.data, s.pos, name.end-name.start
	// <name>
	if i+n+2 > len(data) || data[i] != '<' || data[i+n+1] != '>' || !sameAt(data, i+1, name.start, n) {
		return false
	}
	start := i + n + 2
	end, flags, err := scanTo(data, start, '<')
	// </name>
	if err != nil || end+n+3 > len(data) || data[end+1] != '/' || data[end+n+2] != '>' || !sameAt(data, end+2, name.start, n) {
		return false
	}
	text := data[start:end]
	if flags&runNeedsWork != 0 {
		if text, _, err = s.checkText(text, flags); err != nil {
			return false
		}
	}
	p.addValue(kind, text)
	s.pos = end + n + 3
	return true
}

// stringArena makes strings for many short values with few allocations:
// each is a substring of a chunk private to the arena, made with
// unsafe.String as strings.Builder does. Bytes of a chunk are written once,
// before the string over them is made, and never again (the arena only
// writes past used), so the strings are immutable as Go requires; no
// string aliases the input. Writing a value stores no pointer, so it costs
// no GC write barrier (a strings.Builder stores its buffer on every Write).
type stringArena struct {
	chunk []byte // full length; chunk[:used] is taken
	used  int
}

const arenaChunk = 4096

func (a *stringArena) str(v []byte) string {
	switch {
	case len(v) == 0:
		return ""
	case len(v) > arenaChunk/4:
		return string(v)
	case len(a.chunk)-a.used < len(v):
		a.chunk, a.used = make([]byte, arenaChunk), 0
	}
	off := a.used
	a.used += copy(a.chunk[off:], v)
	return unsafe.String(&a.chunk[off], len(v))
}

// countRoleBlocks estimates the number of role profile blocks in data, for
// the capacity of the role list, by counting "nhsIdCode" (quotes included).
// It looks for the rare letter I rather than for the whole string.
func countRoleBlocks(data []byte) int {
	n := 0
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], 'I')
		if j < 0 {
			return n
		}
		i += j + 1
		if i >= 5 && bytes.HasPrefix(data[i-5:], []byte(`"nhsIdCode"`)) {
			n++
		}
	}
}

// trimXMLSpace returns b without leading and trailing XML white space
// (space, tab, CR, LF). Other Unicode space (NO-BREAK SPACE, NEL, EM SPACE,
// …) is content: bytes.TrimSpace and strings.TrimSpace would strip it, and
// "&#160;232871648514" would pass for a uid.
func trimXMLSpace[T ~string | ~[]byte](b T) T {
	i, j := 0, len(b)
	for i < j && isSpaceByte(b[i]) {
		i++
	}
	for j > i && isSpaceByte(b[j-1]) {
		j--
	}
	return b[i:j]
}

// isXMLSpace reports whether b holds only XML white space.
func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// qname prints a raw element or attribute name, cut short if long.
func (p *assertionParser) qname(q qspan) string { return clip(p.s.data[q.start:q.end]) }
