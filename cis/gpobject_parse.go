package cis

import (
	"bytes"
	"fmt"
	"strings"
)

// ParseGPObject parses a gpOBJECT message leniently, the way GAS writes
// them: a raw '&' that does not start one of XML's entities or a character
// reference is taken literally (role texts such as "Admin & Clerical"),
// unknown params and attributes are kept, any DOCTYPE without an internal
// subset is accepted and ignored, and bodies may be indented and use CRLF
// line ends. The structure is checked strictly: exactly one gpOBJECT root
// holding only gpPARAM elements, which hold only text; no entity is ever
// declared or expanded; an element may carry at most 32 attributes. Errors
// are *ParseError wrapping ErrMalformed, or ErrTooLarge above
// MaxGPObjectSize.
func ParseGPObject(data []byte) (*GPObject, error) {
	if len(data) > MaxGPObjectSize {
		return nil, &ParseError{What: "gpOBJECT", Offset: -1, Msg: fmt.Sprintf("larger than %d bytes", MaxGPObjectSize), Err: ErrTooLarge}
	}
	p := &gpParser{data: data}
	return p.document()
}

type gpParser struct {
	data  []byte
	pos   int
	attrs []Attr // scratch for startTag, reused
}

func (p *gpParser) fail(off int, format string, args ...any) error {
	return &ParseError{What: "gpOBJECT", Offset: int64(off), Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func (p *gpParser) eof() bool { return p.pos >= len(p.data) }

func (p *gpParser) has(s string) bool { return bytes.HasPrefix(p.data[p.pos:], []byte(s)) }

func (p *gpParser) skipSpace() {
	for p.pos < len(p.data) && isSpaceByte(p.data[p.pos]) {
		p.pos++
	}
}

// skipPast moves past the next occurrence of end, failing with what if
// there is none.
func (p *gpParser) skipPast(end, what string) error {
	i := bytes.Index(p.data[p.pos:], []byte(end))
	if i < 0 {
		return p.fail(p.pos, "unterminated %s", what)
	}
	p.pos += i + len(end)
	return nil
}

func (p *gpParser) document() (*GPObject, error) {
	for i, c := range p.data {
		if c < 0x20 && !isSpaceByte(c) {
			return nil, p.fail(i, "control character 0x%02x", c)
		}
	}
	if p.has("\xEF\xBB\xBF") {
		p.pos = 3
	}
	if err := p.prolog(); err != nil {
		return nil, err
	}
	name, _, empty, err := p.startTag()
	if err != nil {
		return nil, err
	}
	if !bytes.EqualFold(name, []byte("gpOBJECT")) {
		return nil, p.fail(p.pos, "root element is <%s>, want <gpOBJECT>", clip(name))
	}
	g := &GPObject{}
	if !empty {
		if err := p.objectContent(g); err != nil {
			return nil, err
		}
	}
	return g, p.epilog()
}

// prolog skips the XML declaration, comments, processing instructions and
// one DOCTYPE, and stops at the root element's '<'.
func (p *gpParser) prolog() error {
	start, doctype := p.pos, false
	for {
		p.skipSpace()
		switch {
		case p.eof():
			return p.fail(p.pos, "no <gpOBJECT> element (empty or truncated message)")
		case p.has("<?xml ") || p.has("<?xml?") || p.has("<?xml\t") || p.has("<?xml\r") || p.has("<?xml\n"):
			if strings.TrimSpace(string(p.data[start:p.pos])) != "" || doctype {
				return p.fail(p.pos, "misplaced XML declaration")
			}
			if err := p.skipPast("?>", "XML declaration"); err != nil {
				return err
			}
		case p.has("<?"):
			if err := p.skipPast("?>", "processing instruction"); err != nil {
				return err
			}
		case p.has("<!--"):
			if err := p.skipPast("-->", "comment"); err != nil {
				return err
			}
		case p.has("<!DOCTYPE"):
			if doctype {
				return p.fail(p.pos, "second DOCTYPE")
			}
			doctype = true
			if err := p.doctype(); err != nil {
				return err
			}
		case p.has("<!"):
			return p.fail(p.pos, "markup declaration outside a DOCTYPE refused")
		case p.has("<"):
			return nil
		default:
			return p.fail(p.pos, "text before the <gpOBJECT> element")
		}
	}
}

// doctype skips <!DOCTYPE name SYSTEM "…"> and refuses an internal subset:
// nothing in a gpOBJECT message may declare an entity.
func (p *gpParser) doctype() error {
	start := p.pos
	p.pos += len("<!DOCTYPE")
	if p.eof() || !isSpaceByte(p.data[p.pos]) {
		return p.fail(start, "malformed DOCTYPE")
	}
	var quote byte
	for ; p.pos < len(p.data); p.pos++ {
		c := p.data[p.pos]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[':
			return p.fail(p.pos, "DOCTYPE with an internal subset refused (no entity declarations)")
		case c == '<':
			return p.fail(p.pos, "malformed DOCTYPE")
		case c == '>':
			p.pos++
			return nil
		}
	}
	return p.fail(start, "unterminated DOCTYPE")
}

// epilog allows only white space, comments and processing instructions
// after the root element.
func (p *gpParser) epilog() error {
	for {
		p.skipSpace()
		switch {
		case p.eof():
			return nil
		case p.has("<!--"):
			if err := p.skipPast("-->", "comment"); err != nil {
				return err
			}
		case p.has("<?") && !p.has("<?xml"):
			if err := p.skipPast("?>", "processing instruction"); err != nil {
				return err
			}
		case p.has("<"):
			return p.fail(p.pos, "content after the <gpOBJECT> element (second root)")
		default:
			return p.fail(p.pos, "text after the <gpOBJECT> element")
		}
	}
}

func (p *gpParser) objectContent(g *GPObject) error {
	for {
		p.skipSpace()
		switch {
		case p.eof():
			return p.fail(p.pos, "unterminated <gpOBJECT> (truncated message)")
		case p.has("</"):
			return p.endTag("gpOBJECT")
		case p.has("<!--"):
			if err := p.skipPast("-->", "comment"); err != nil {
				return err
			}
		case p.has("<!") || p.has("<?"):
			return p.fail(p.pos, "unexpected markup in <gpOBJECT>")
		case p.has("<"):
			at := p.pos
			name, attrs, empty, err := p.startTag()
			if err != nil {
				return err
			}
			if !bytes.EqualFold(name, []byte("gpPARAM")) {
				return p.fail(at, "unexpected element <%s> in <gpOBJECT>", clip(name))
			}
			var prm Param
			for _, a := range attrs {
				if strings.EqualFold(a.Name, "name") {
					prm.Name = a.Value
				} else {
					prm.Attrs = append(prm.Attrs, a)
				}
			}
			if !empty {
				if prm.Value, err = p.paramContent(); err != nil {
					return err
				}
			}
			g.Params = append(g.Params, prm)
		default:
			return p.fail(p.pos, "text outside <gpPARAM> in <gpOBJECT>")
		}
	}
}

func (p *gpParser) paramContent() (string, error) {
	var sb strings.Builder
	for first := true; ; first = false {
		i := bytes.IndexByte(p.data[p.pos:], '<')
		if i < 0 {
			return "", p.fail(len(p.data), "unterminated <gpPARAM> (truncated message)")
		}
		text := decodeText(p.data[p.pos : p.pos+i])
		p.pos += i
		if first && p.has("</") { // the usual case: one run of text
			return text, p.endTag("gpPARAM")
		}
		sb.WriteString(text)
		switch {
		case p.has("</"):
			return sb.String(), p.endTag("gpPARAM")
		case p.has("<![CDATA["):
			p.pos += len("<![CDATA[")
			j := bytes.Index(p.data[p.pos:], []byte("]]>"))
			if j < 0 {
				return "", p.fail(p.pos, "unterminated CDATA section")
			}
			sb.WriteString(xmlChars(gpNormalizeNewlines(p.data[p.pos : p.pos+j])))
			p.pos += j + 3
		case p.has("<!--"):
			if err := p.skipPast("-->", "comment"); err != nil {
				return "", err
			}
		default:
			return "", p.fail(p.pos, "markup nested in <gpPARAM>")
		}
	}
}

// endTag reads </want> (name compared without regard to case).
func (p *gpParser) endTag(want string) error {
	at := p.pos
	p.pos += 2
	name := p.name()
	p.skipSpace()
	if p.eof() || p.data[p.pos] != '>' {
		return p.fail(at, "unterminated end tag")
	}
	p.pos++
	if !bytes.EqualFold(name, []byte(want)) {
		return p.fail(at, "end tag </%s> does not match <%s>", clip(name), want)
	}
	return nil
}

// startTag reads <name attr="v" …> or <name … />, at most maxXMLAttrs
// attributes. The attributes are in a scratch slice valid until the next
// call.
func (p *gpParser) startTag() (name []byte, attrs []Attr, empty bool, err error) {
	at := p.pos
	p.pos++
	attrs = p.attrs[:0]
	defer func() { p.attrs = attrs[:0] }()
	if name = p.name(); len(name) == 0 {
		return nil, nil, false, p.fail(at, "malformed tag")
	}
	for {
		sp := p.pos
		p.skipSpace()
		switch {
		case p.eof():
			return nil, nil, false, p.fail(at, "unterminated tag <%s>", clip(name))
		case p.has("/>"):
			p.pos += 2
			return name, attrs, true, nil
		case p.has(">"):
			p.pos++
			return name, attrs, false, nil
		}
		if sp == p.pos {
			return nil, nil, false, p.fail(p.pos, "malformed tag <%s>", clip(name))
		}
		// Bounded as in the RoleAssertion scanner: the duplicate check
		// below compares each attribute with those before it.
		if len(attrs) >= maxXMLAttrs {
			return nil, nil, false, p.fail(p.pos, "more than %d attributes on <%s>", maxXMLAttrs, clip(name))
		}
		a, err := p.attr()
		if err != nil {
			return nil, nil, false, err
		}
		for _, b := range attrs {
			if strings.EqualFold(a.Name, b.Name) {
				return nil, nil, false, p.fail(p.pos, "repeated attribute %q", clip(a.Name))
			}
		}
		attrs = append(attrs, a)
	}
}

func (p *gpParser) attr() (Attr, error) {
	at := p.pos
	n := gpAttrName(p.name())
	if !isAttrName(n) {
		return Attr{}, p.fail(at, "malformed attribute")
	}
	p.skipSpace()
	if !p.has("=") {
		return Attr{}, p.fail(p.pos, "attribute %q without a value", clip(n))
	}
	p.pos++
	p.skipSpace()
	if p.eof() || (p.data[p.pos] != '"' && p.data[p.pos] != '\'') {
		return Attr{}, p.fail(p.pos, "attribute %q value not quoted", clip(n))
	}
	q := p.data[p.pos]
	p.pos++
	j := bytes.IndexByte(p.data[p.pos:], q)
	if j < 0 {
		return Attr{}, p.fail(at, "unterminated attribute %q", clip(n))
	}
	raw := p.data[p.pos : p.pos+j]
	if k := bytes.IndexByte(raw, '<'); k >= 0 {
		return Attr{}, p.fail(p.pos+k, "'<' in attribute %q", clip(n))
	}
	p.pos += j + 1
	return Attr{Name: n, Value: decodeText(raw)}, nil
}

// attrName returns b as a string, without allocating for the usual names.
func gpAttrName(b []byte) string {
	switch string(b) {
	case "name":
		return "name"
	case "id":
		return "id"
	case "orgcode":
		return "orgcode"
	case "encoding":
		return "encoding"
	}
	return string(b)
}

// name reads an XML name (ASCII subset) and returns it, empty if none.
func (p *gpParser) name() []byte {
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' ||
			p.pos > start && (c >= '0' && c <= '9' || c == '-' || c == '.') {
			p.pos++
			continue
		}
		break
	}
	return p.data[start:p.pos]
}

// decodeText normalises line ends, decodes XML's five entities and
// character references, keeps any other '&' literally, and replaces
// characters XML cannot carry with U+FFFD.
func decodeText(raw []byte) string {
	s := gpNormalizeNewlines(raw)
	if strings.IndexByte(s, '&') < 0 {
		return xmlChars(s)
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if r, n := entity(s); n > 0 {
			b.WriteRune(r)
			s = s[n:]
		} else {
			b.WriteByte('&')
			s = s[1:]
		}
	}
	return xmlChars(b.String())
}

// entity decodes the entity or character reference at the start of s
// (which starts with '&'), returning its length, or 0 if there is none.
func entity(s string) (rune, int) {
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 10 {
		return 0, 0
	}
	switch body := s[1:end]; body {
	case "amp":
		return '&', end + 1
	case "lt":
		return '<', end + 1
	case "gt":
		return '>', end + 1
	case "quot":
		return '"', end + 1
	case "apos":
		return '\'', end + 1
	default:
		if body[0] != '#' || len(body) < 2 {
			return 0, 0
		}
		digits, base := body[1:], rune(10)
		if digits[0] == 'x' {
			digits, base = digits[1:], 16
		}
		if digits == "" {
			return 0, 0
		}
		var r rune
		for i := 0; i < len(digits); i++ {
			d := rune(strings.IndexByte("0123456789abcdef", lowerASCII(digits[i])))
			if d < 0 || d >= base {
				return 0, 0
			}
			r = r*base + d
		}
		if !isXMLChar(r) {
			return 0, 0
		}
		return r, end + 1
	}
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// gpNormalizeNewlines turns CRLF and lone CR into LF, as XML does.
func gpNormalizeNewlines(b []byte) string {
	if bytes.IndexByte(b, '\r') < 0 {
		return string(b)
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
