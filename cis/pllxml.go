package cis

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// OpenSSO's session service speaks PLL ("platform low level"): small XML
// envelopes (RequestSet, ResponseSet, NotificationSet) whose entries carry
// a second XML document as text, usually in a CDATA section. None of them
// uses namespaces, attributes are plain name="value" pairs and nesting is
// shallow. pllReader reads such a document strictly on top of xmlScanner.

// maxPLLDepth bounds element nesting in a PLL envelope or inner document;
// the deepest real one (SessionNotification/Session/Property) has three.
const maxPLLDepth = 8

// pllReader reads one PLL document: no namespaces (no prefixes, no xmlns
// declarations), no DOCTYPE, no processing instruction but a leading XML
// declaration, no repeated attribute, nesting at most maxPLLDepth, one root
// element and nothing but white space and comments around it. Its error
// messages name elements but never quote attribute values or text, which
// may hold an SSO ticket.
type pllReader struct {
	s     xmlScanner
	what  string // the document, for errors: "NotificationSet", "notification 2", …
	open  [maxPLLDepth]qspan
	depth int
	text  []byte // textContent's buffer
}

func newPLLReader(data []byte, what string) *pllReader {
	return &pllReader{s: newXMLScanner(data), what: what}
}

// errorf returns a *ParseError wrapping ErrMalformed at the current offset.
func (r *pllReader) errorf(format string, args ...any) error {
	return &ParseError{What: r.what, Offset: r.s.offset(), Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

// name returns the raw name q, bounded, for messages.
func (r *pllReader) name(q qspan) string {
	n := r.s.data[q.start:q.end]
	if len(n) > 40 {
		return string(n[:40]) + "…"
	}
	return string(n)
}

// next reads the next start tag, end tag or text (comments are skipped)
// and keeps the nesting checks.
func (r *pllReader) next() (tokKind, error) {
	for {
		if err := r.s.next(); err != nil {
			return 0, r.errorf("XML syntax error: %v", err)
		}
		switch r.s.kind {
		case tokStart:
			return tokStart, r.push()
		case tokEnd:
			if r.depth == 0 {
				return 0, r.errorf("end tag without a start tag")
			}
			top, n := r.open[r.depth-1], r.s.name
			if n.end-n.start != top.end-top.start || !sameAt(r.s.data, n.start, top.start, n.end-n.start) {
				return 0, r.errorf("end tag </%s> does not match <%s>", r.name(n), r.name(top))
			}
			r.depth--
			return tokEnd, nil
		case tokText:
			return tokText, nil
		case tokComment:
			continue
		}
		return 0, r.errorf("%s", misplacedToken(r.s.kind))
	}
}

// push opens the element just read: no prefix on it or its attributes, no
// namespace declaration, no attribute twice, nesting within bounds.
func (r *pllReader) push() error {
	s := &r.s
	if r.depth >= maxPLLDepth {
		return r.errorf("elements nested deeper than %d", maxPLLDepth)
	}
	if len(s.prefix(s.name)) != 0 {
		return r.errorf("element <%s> is in a namespace; OpenSSO documents use none", r.name(s.name))
	}
	attrs := s.attrs[:s.nattrs]
	for i := range attrs {
		a := attrs[i].name
		if len(s.prefix(a)) != 0 || string(s.local(a)) == "xmlns" {
			return r.errorf("attribute %s on <%s>: OpenSSO documents use no namespaces", r.name(a), r.name(s.name))
		}
		for j := range attrs[:i] {
			if b := attrs[j].name; b.end-b.start == a.end-a.start && sameAt(s.data, a.start, b.start, a.end-a.start) {
				return r.errorf("element <%s> repeats attribute %s", r.name(s.name), r.name(a))
			}
		}
	}
	r.open[r.depth] = s.name
	r.depth++
	return nil
}

// is reports whether the start tag just read is called local.
func (r *pllReader) is(local string) bool { return string(r.s.local(r.s.name)) == local }

// tag returns the name of the start tag just read, for messages.
func (r *pllReader) tag() string { return r.name(r.s.name) }

// root reads the prolog (an optional XML declaration, white space,
// comments) and the root start tag, which must be called want.
func (r *pllReader) root(want string) error {
	if err := r.s.skipOutsideRoot(true); err != nil {
		return r.errorf("XML syntax error: %v", err)
	}
	if r.s.kind == tokEOF {
		return r.errorf("no root element")
	}
	if err := r.push(); err != nil {
		return err
	}
	if !r.is(want) {
		return r.errorf("root element is <%s>, want <%s>", r.tag(), want)
	}
	return nil
}

// end checks that only white space and comments follow the root element.
func (r *pllReader) end() error {
	if err := r.s.skipOutsideRoot(false); err != nil {
		return r.errorf("XML syntax error: %v", err)
	}
	if r.s.kind == tokStart {
		return r.errorf("second root element <%s>", r.name(r.s.name))
	}
	return nil
}

// once marks the element just opened as seen, failing if it was before.
func (r *pllReader) once(seen *bool) error {
	if *seen {
		return r.errorf("second <%s>", r.tag())
	}
	*seen = true
	return nil
}

// decimalContent reads the text of the element just opened as a decimal
// number from 0 to max (white space around it allowed).
func (r *pllReader) decimalContent(max int64) (int64, error) {
	where := r.tag()
	text, err := r.textContent()
	if err != nil {
		return 0, err
	}
	n, ok := parseDecimal(trimXMLSpace(text))
	if !ok || n < 0 || n > max {
		return 0, r.errorf("<%s> is not a number from 0 to %d", where, max)
	}
	return n, nil
}

// sessionEnvelope reads the root element of a PLL envelope of the session
// service (RequestSet, ResponseSet, NotificationSet) and its vers, svcid and
// id attribute (reqid or notid), all required. The svcid must be "session"
// or "Session": clients and servers spell it both ways.
func (r *pllReader) sessionEnvelope(root, idAttr string) (vers, svcid, id string, err error) {
	if err := r.root(root); err != nil {
		return "", "", "", err
	}
	v, err := r.attrValues("vers", "svcid", idAttr)
	if err != nil {
		return "", "", "", err
	}
	if v[1] != "session" && v[1] != "Session" {
		return "", "", "", r.errorf("svcid is not session: not a message of the session service")
	}
	return v[0], v[1], v[2], nil
}

// singleResponse reads the children of the ResponseSet just opened, which
// must be one Response (the answer to one request), through the end of the
// document, and returns the Response's text: the inner document.
func (r *pllReader) singleResponse() ([]byte, error) {
	var inner []byte
	responses := 0
	err := r.children(func() error {
		if !r.is("Response") {
			return r.errorf("unexpected element <%s> in <ResponseSet>", r.tag())
		}
		if responses++; responses > 1 {
			return r.errorf("more than one Response to one request")
		}
		text, err := r.textContent()
		inner = append(inner, trimXMLSpace(text)...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if responses == 0 {
		return nil, r.errorf("no Response")
	}
	return inner, r.end()
}

// attrValues returns the values of the named attributes of the start tag
// just read, all required; other attributes are ignored.
func (r *pllReader) attrValues(names ...string) ([]string, error) {
	vals := make([]string, len(names))
	found := 0 // push refused repeated attributes: each name counts once
	_ = r.attrs(func(name string, value []byte) error {
		if i := slices.Index(names, name); i >= 0 {
			vals[i] = string(value)
			found++
		}
		return nil
	})
	if found != len(names) {
		return nil, r.errorf("<%s> lacks one of %s", r.tag(), strings.Join(names, ", "))
	}
	return vals, nil
}

// attrs calls f with the name and value of each attribute of the start tag
// just read (the reader has already refused namespaces and repeats).
func (r *pllReader) attrs(f func(name string, value []byte) error) error {
	s := &r.s
	for i := range s.nattrs {
		a := &s.attrs[i]
		if err := f(string(s.local(a.name)), s.attrValue(a)); err != nil {
			return err
		}
	}
	return nil
}

// children calls f for each child element of the element just opened and
// returns after its end tag; text between children must be white space. f
// must consume the child through its end tag (with children, textContent
// or empty).
func (r *pllReader) children(f func() error) error {
	depth := r.depth
	for {
		kind, err := r.next()
		if err != nil {
			return err
		}
		switch kind {
		case tokStart:
			if err := f(); err != nil {
				return err
			}
			if r.depth != depth {
				return r.errorf("internal: child of <%s> not consumed", r.name(r.open[depth-1]))
			}
		case tokEnd:
			return nil
		case tokText:
			if !r.s.space && !isXMLSpace(r.s.textBytes()) {
				return r.errorf("unexpected text in <%s>", r.name(r.open[depth-1]))
			}
		}
	}
}

// textContent reads the text of the element just opened (character data
// and CDATA sections, references decoded) through its end tag; a child
// element is an error. The result is valid until the next call.
func (r *pllReader) textContent() ([]byte, error) {
	r.text = r.text[:0]
	where := r.tag()
	for {
		kind, err := r.next()
		if err != nil {
			return nil, err
		}
		switch kind {
		case tokStart:
			return nil, r.errorf("unexpected element in <%s>: want text", where)
		case tokEnd:
			return r.text, nil
		case tokText:
			r.text = append(r.text, r.s.textBytes()...)
		}
	}
}

// empty reads the element just opened, which may hold only white space.
func (r *pllReader) empty() error {
	return r.children(func() error { return r.errorf("unexpected element <%s>", r.tag()) })
}

// parseDecimal parses an optionally signed decimal integer of at most 19
// digits (so it fits an int64) with no white space.
func parseDecimal(b []byte) (int64, bool) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}
