package cis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"
)

// xmlScanner is a strict, allocation-free tokenizer for the subset of XML 1.0
// a RoleAssertion uses: elements, attributes, character data with the five
// predefined entities and character references, CDATA sections, comments
// and processing instructions (reported, for the parser to refuse). It
// reports a DOCTYPE or any other <!…> as a directive and never expands
// entities. Input must be UTF-8. Tokens alias the input or the scanner's
// buffers and are valid until the next call.
//
// It replaces encoding/xml's Decoder, with which the parser took about six
// times as long and ninety times as many allocations (see
// docs/benchmarks-assertion.md). It may refuse more than encoding/xml (for
// example non-ASCII names); the fuzz test FuzzXMLScannerMatchesEncodingXML
// checks that whatever it accepts, encoding/xml reads as the same tokens.
type xmlScanner struct {
	data []byte
	pos  int

	// the current token
	kind       tokKind
	prefix     []byte // element name prefix ("" if none)
	local      []byte // element local name, or processing instruction target
	attrs      []scanAttr
	text       []byte // character data, decoded
	space      bool   // text is only white space
	pendingEnd bool   // the start tag was empty (<x/>): an end tag follows

	buf []byte // decoded character data
}

type tokKind uint8

const (
	tokStart tokKind = iota + 1
	tokEnd
	tokText
	tokComment
	tokProcInst
	tokDirective
	tokEOF
)

// scanAttr is one XML attribute of the current start tag. Its slices stay
// valid after the next token: they alias the input, or a fresh copy when
// the value had to be decoded.
type scanAttr struct {
	prefix, local, value []byte
}

var errScanEOF = errors.New("unexpected EOF")

// scanError is a syntax error; its text never quotes the input.
type scanError string

func (e scanError) Error() string { return string(e) }

func newXMLScanner(data []byte) xmlScanner {
	return xmlScanner{data: data, attrs: make([]scanAttr, 0, 8)}
}

// offset is the byte offset of the scanner in the input.
func (s *xmlScanner) offset() int64 { return int64(s.pos) }

// next reads the next token.
func (s *xmlScanner) next() error {
	if s.pendingEnd {
		s.pendingEnd = false
		s.kind = tokEnd
		return nil
	}
	if s.pos >= len(s.data) {
		s.kind = tokEOF
		return nil
	}
	if s.data[s.pos] != '<' {
		return s.charData()
	}
	rest := s.data[s.pos:]
	switch {
	case bytes.HasPrefix(rest, []byte("</")):
		return s.endTag()
	case bytes.HasPrefix(rest, []byte("<!--")):
		return s.comment()
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		return s.cdata()
	case bytes.HasPrefix(rest, []byte("<!")):
		// Not parsed further: the caller refuses it. Scanning stops here.
		s.kind = tokDirective
		s.pos = len(s.data)
		return nil
	case bytes.HasPrefix(rest, []byte("<?")):
		return s.procInst()
	}
	return s.startTag()
}

// charData reads text up to the next '<'.
func (s *xmlScanner) charData() error {
	// Fast path for the indentation between tags, most of a RoleAssertion.
	i := s.pos
	for i < len(s.data) {
		if i+8 <= len(s.data) && binary.LittleEndian.Uint64(s.data[i:]) == 0x2020202020202020 {
			i += 8 // eight spaces at a time
			continue
		}
		if c := s.data[i]; c != ' ' && c != '\n' && c != '\t' {
			break
		}
		i++
	}
	if i == len(s.data) || s.data[i] == '<' {
		s.kind, s.text, s.space = tokText, s.data[s.pos:i], true
		s.pos = i
		return nil
	}
	end, flags, err := scanRun(s.data, s.pos, '<')
	if err != nil {
		return err
	}
	raw := s.data[s.pos:end]
	if flags&runNonASCII != 0 {
		if err := checkChars(raw); err != nil {
			return err
		}
	}
	if flags&runBracket != 0 && bytes.Contains(raw, []byte("]]>")) {
		return scanError("]]> in character data")
	}
	s.kind = tokText
	s.text = raw
	s.space = false
	if flags&(runAmp|runCR) != 0 {
		if s.buf, err = decodeEntities(s.buf[:0], normalizeNewlines(raw)); err != nil {
			return err
		}
		s.text = s.buf
	}
	s.pos = end
	return nil
}

// What scanRun saw in a run of text.
const (
	runAmp      = 1 << iota // &
	runCR                   // carriage return
	runTabLF                // tab or line feed
	runBracket              // ]
	runLT                   // <
	runNonASCII             // a byte >= 0x80
)

// scanRun finds the first stop byte in data from i on (len(data) if none)
// and, in the same pass, notes which special bytes come before it. Control
// characters other than tab, line feed and carriage return are an error.
func scanRun(data []byte, i int, stop byte) (end int, flags uint8, err error) {
	for ; i < len(data); i++ {
		c := data[i]
		if c > ']' && c < 0x80 {
			continue // lower-case letters and most punctuation
		}
		switch {
		case c == stop:
			return i, flags, nil
		case c >= 0x80:
			flags |= runNonASCII
		case c >= 0x20:
			switch c {
			case '&':
				flags |= runAmp
			case ']':
				flags |= runBracket
			case '<':
				flags |= runLT
			}
		case c == '\t' || c == '\n':
			flags |= runTabLF
		case c == '\r':
			flags |= runCR
		default:
			return i, flags, scanError("control character in the document")
		}
	}
	return len(data), flags, nil
}

// normalizeNewlines applies XML's end-of-line handling: CR LF and a lone
// CR become LF. It returns b itself when it holds no CR.
func normalizeNewlines(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, b[i])
	}
	return out
}

func (s *xmlScanner) cdata() error {
	start := s.pos + len("<![CDATA[")
	end := bytes.Index(s.data[start:], []byte("]]>"))
	if end < 0 {
		return errScanEOF
	}
	raw := s.data[start : start+end]
	if err := checkChars(raw); err != nil {
		return err
	}
	s.kind, s.text, s.space = tokText, normalizeNewlines(raw), false
	s.pos = start + end + len("]]>")
	return nil
}

func (s *xmlScanner) comment() error {
	start := s.pos + len("<!--")
	end := bytes.Index(s.data[start:], []byte("--"))
	if end < 0 {
		return errScanEOF
	}
	if start+end+2 >= len(s.data) {
		return errScanEOF
	}
	if s.data[start+end+2] != '>' {
		return scanError("-- in a comment")
	}
	if err := checkChars(s.data[start : start+end]); err != nil {
		return err
	}
	s.kind = tokComment
	s.pos = start + end + len("-->")
	return nil
}

// procInst reads <?target …?>; the XML declaration's encoding, if given,
// must be UTF-8.
func (s *xmlScanner) procInst() error {
	s.pos += len("<?")
	name, err := s.name()
	if err != nil {
		return err
	}
	end := bytes.Index(s.data[s.pos:], []byte("?>"))
	if end < 0 {
		return errScanEOF
	}
	body := s.data[s.pos : s.pos+end]
	if err := checkChars(body); err != nil {
		return err
	}
	if len(body) > 0 && !isSpaceByte(body[0]) {
		return scanError("malformed processing instruction")
	}
	if string(name) == "xml" {
		if err := checkXMLDecl(body); err != nil {
			return err
		}
	}
	s.kind, s.prefix, s.local = tokProcInst, nil, name
	s.pos += end + len("?>")
	return nil
}

// checkXMLDecl accepts version 1.0 and, if named, the UTF-8 encoding.
func checkXMLDecl(body []byte) error {
	if !bytes.Contains(body, []byte(`version="1.0"`)) && !bytes.Contains(body, []byte(`version='1.0'`)) {
		return scanError("XML declaration without version 1.0")
	}
	if i := bytes.Index(body, []byte("encoding")); i >= 0 {
		v := bytes.TrimLeft(body[i+len("encoding"):], " \t\r\n")
		if len(v) < 2 || v[0] != '=' {
			return scanError("malformed XML declaration")
		}
		v = bytes.TrimLeft(v[1:], " \t\r\n")
		if len(v) < 7 || (v[0] != '"' && v[0] != '\'') || !bytes.EqualFold(v[1:6], []byte("utf-8")) || v[6] != v[0] {
			return scanError("encoding other than UTF-8")
		}
	}
	return nil
}

func (s *xmlScanner) endTag() error {
	s.pos += len("</")
	if err := s.qname(); err != nil {
		return err
	}
	s.skipSpace()
	if s.pos >= len(s.data) {
		return errScanEOF
	}
	if s.data[s.pos] != '>' {
		return scanError("malformed end tag")
	}
	s.pos++
	s.kind = tokEnd
	return nil
}

func (s *xmlScanner) startTag() error {
	s.pos++
	if err := s.qname(); err != nil {
		return err
	}
	s.attrs = s.attrs[:0]
	for {
		spaced := s.skipSpace()
		if s.pos >= len(s.data) {
			return errScanEOF
		}
		switch c := s.data[s.pos]; {
		case c == '>':
			s.pos++
			s.kind = tokStart
			return nil
		case c == '/':
			if s.pos+1 >= len(s.data) {
				return errScanEOF
			}
			if s.data[s.pos+1] != '>' {
				return scanError("malformed empty-element tag")
			}
			s.pos += 2
			s.kind, s.pendingEnd = tokStart, true
			return nil
		case !spaced:
			return scanError("attributes must be separated by white space")
		}
		if len(s.attrs) >= maxXMLAttrs {
			return scanError("too many attributes on one element")
		}
		if err := s.attribute(); err != nil {
			return err
		}
	}
}

// attribute reads name="value" (or 'value').
func (s *xmlScanner) attribute() error {
	prefix, local := s.prefix, s.local // the element's, restored below
	if err := s.qname(); err != nil {
		return err
	}
	a := scanAttr{prefix: s.prefix, local: s.local}
	s.prefix, s.local = prefix, local
	s.skipSpace()
	if s.pos >= len(s.data) {
		return errScanEOF
	}
	if s.data[s.pos] != '=' {
		return scanError("attribute without a value")
	}
	s.pos++
	s.skipSpace()
	if s.pos >= len(s.data) {
		return errScanEOF
	}
	q := s.data[s.pos]
	if q != '"' && q != '\'' {
		return scanError("unquoted attribute value")
	}
	start := s.pos + 1
	end, flags, err := scanRun(s.data, start, q)
	if err != nil {
		return err
	}
	if end == len(s.data) {
		return errScanEOF
	}
	raw := s.data[start:end]
	if flags&runLT != 0 {
		return scanError("< in an attribute value")
	}
	if flags&runNonASCII != 0 {
		if err := checkChars(raw); err != nil {
			return err
		}
	}
	a.value = raw
	if flags&(runAmp|runCR|runTabLF) != 0 {
		v, err := decodeEntities(make([]byte, 0, len(raw)), normalizeNewlines(raw))
		if err != nil {
			return err
		}
		// Attribute-value normalisation: each white space character is a space.
		for i, c := range v {
			if c == '\t' || c == '\n' || c == '\r' {
				v[i] = ' '
			}
		}
		a.value = v
	}
	s.pos = end + 1
	s.attrs = append(s.attrs, a)
	return nil
}

// qname reads prefix:local or local into s.prefix, s.local.
func (s *xmlScanner) qname() error {
	n, colons, first, err := s.nameColons()
	if err != nil {
		return err
	}
	switch {
	case colons == 0:
		s.prefix, s.local = nil, n
	case colons > 1 || first == 0 || first == len(n)-1:
		return scanError("malformed qualified name")
	default:
		s.prefix, s.local = n[:first], n[first+1:]
	}
	return nil
}

// name reads an XML name.
func (s *xmlScanner) name() ([]byte, error) {
	n, _, _, err := s.nameColons()
	return n, err
}

// nameColons reads an XML name and counts its colons, giving the offset of
// the first. Only ASCII names are accepted: SAML and the SSB use no others,
// and this keeps the check exact.
func (s *xmlScanner) nameColons() (n []byte, colons, first int, err error) {
	start := s.pos
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case (c|0x20)-'a' < 26, c == '_': // ASCII letters and name start characters
		case c == ':':
			if colons == 0 {
				first = s.pos - start
			}
			colons++
		case c-'0' < 10, c == '-', c == '.':
			if s.pos == start {
				return nil, 0, 0, scanError("malformed name")
			}
		case c >= 0x80:
			return nil, 0, 0, scanError("non-ASCII name")
		default:
			if s.pos == start {
				return nil, 0, 0, scanError("expected a name")
			}
			return s.data[start:s.pos], colons, first, nil
		}
		s.pos++
	}
	return nil, 0, 0, errScanEOF
}

// skipSpace skips white space and reports whether there was any.
func (s *xmlScanner) skipSpace() bool {
	start := s.pos
	for s.pos < len(s.data) && isSpaceByte(s.data[s.pos]) {
		s.pos++
	}
	return s.pos > start
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// checkChars accepts UTF-8 text of XML characters: no control characters
// but tab, newline and carriage return; no U+FFFE or U+FFFF.
func checkChars(b []byte) error {
	ascii := true
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return scanError("control character in the document")
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return nil
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || r == 0xFFFE || r == 0xFFFF {
			return scanError("invalid UTF-8 or character")
		}
		b = b[n:]
	}
	return nil
}

// decodeEntities appends raw to dst with the predefined entities and
// character references replaced. Any other entity is an error.
func decodeEntities(dst, raw []byte) ([]byte, error) {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '&')
		if i < 0 {
			return append(dst, raw...), nil
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i+1:]
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 || semi > 12 {
			return dst, scanError("malformed entity reference")
		}
		ref := raw[:semi]
		raw = raw[semi+1:]
		switch string(ref) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "apos":
			dst = append(dst, '\'')
		case "quot":
			dst = append(dst, '"')
		default:
			r, ok := charRef(ref)
			if !ok {
				return dst, scanError("unknown or invalid entity reference")
			}
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst, nil
}

// charRef decodes #123 or #x7B to an XML character.
func charRef(ref []byte) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, base := ref[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil {
		return 0, false
	}
	r := rune(n)
	ok := r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
	return r, ok
}
