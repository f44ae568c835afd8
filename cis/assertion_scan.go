package cis

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// xmlScanner is a strict, allocation-free tokenizer for the subset of XML 1.0
// a RoleAssertion uses: elements, attributes, character data with the five
// predefined entities and character references, CDATA sections, comments
// and processing instructions (reported, for the parser to refuse). It
// reports a DOCTYPE or any other <!…> as a directive and never expands
// entities. Input must be UTF-8. A token is a set of positions in the
// input (or in the scanner's buffers for decoded text), valid until the
// next call; attribute values and names stay valid longer.
//
// A caller that knows which end tag comes next sets expect: the scanner
// then reads it by one comparison and sets expected. Names equal to one of
// the last two read are recognised by comparison too.
//
// It replaces encoding/xml's Decoder, with which the parser took about
// fifteen times as long and several hundred times as many allocations (see
// docs/benchmarks.md). It may refuse more than encoding/xml (for
// example non-ASCII names); the fuzz test FuzzXMLScannerMatchesEncodingXML
// checks that whatever it accepts, encoding/xml reads as the same tokens.
type xmlScanner struct {
	data []byte
	pos  int

	// The current token. Positions are offsets, not slices: writing a
	// token stores no pointers, so it costs no GC write barriers.
	kind       tokKind
	name       qspan                 // element name, or processing instruction target
	attrs      [maxXMLAttrs]scanAttr // the start tag's attributes
	nattrs     int                   // how many of attrs are in use
	text       span                  // character data, decoded (in buf if textBuf)
	textBuf    bool                  // text is in buf, not in data
	space      bool                  // text is only white space
	pendingEnd bool                  // the start tag was empty (<x/>): an end tag follows
	recent     nameCache             // recent element names, tried first
	recentAttr nameCache             // the same for attribute names
	expect     qspan                 // the end tag the caller expects next, if any
	expected   bool                  // the end tag just read is expect

	buf  []byte // decoded character data of the current token
	vals []byte // decoded attribute values; only appended to, so spans stay valid
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

// span is data[start:end] (or buf or vals, as the holder says).
type span struct{ start, end int }

// qspan is a name data[start:end]; its local part starts at local, and its
// prefix, if any, is data[start:local-1].
type qspan struct{ start, local, end int }

// scanAttr is one XML attribute of the current start tag. Its value is
// data[value.start:value.end], or the same range of vals if decoded; both
// stay valid after the next token.
type scanAttr struct {
	name    qspan
	value   span
	decoded bool
}

var errScanEOF = errors.New("unexpected EOF")

// scanError is a syntax error; its text never quotes the input.
type scanError string

func (e scanError) Error() string { return string(e) }

func newXMLScanner(data []byte) xmlScanner {
	return xmlScanner{data: data}
}

// offset is the byte offset of the scanner in the input.
func (s *xmlScanner) offset() int64 { return int64(s.pos) }

// prefix returns the prefix of the name q ("" if none).
func (s *xmlScanner) prefix(q qspan) []byte {
	if q.local == q.start {
		return nil
	}
	return s.data[q.start : q.local-1]
}

// local returns the local part of the name q.
func (s *xmlScanner) local(q qspan) []byte { return s.data[q.local:q.end] }

// attrValue returns the value of a.
func (s *xmlScanner) attrValue(a *scanAttr) []byte {
	if a.decoded {
		return s.vals[a.value.start:a.value.end]
	}
	return s.data[a.value.start:a.value.end]
}

// textBytes returns the character data of the current token, valid until
// the next call.
func (s *xmlScanner) textBytes() []byte {
	if s.textBuf {
		return s.buf[s.text.start:s.text.end] // within cap(s.buf)
	}
	return s.data[s.text.start:s.text.end]
}

// next reads the next token.
func (s *xmlScanner) next() error {
	if s.pendingEnd {
		s.pendingEnd, s.expected = false, false
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
	if s.pos+1 < len(s.data) {
		switch s.data[s.pos+1] {
		case '/':
			return s.endTag()
		case '!':
			rest := s.data[s.pos:]
			switch {
			case bytes.HasPrefix(rest, []byte("<!--")):
				return s.comment()
			case bytes.HasPrefix(rest, []byte("<![CDATA[")):
				return s.cdata()
			}
			// Not parsed further: the caller refuses it. Scanning stops here.
			s.kind = tokDirective
			s.pos = len(s.data)
			return nil
		case '?':
			return s.procInst()
		}
	}
	return s.startTag()
}

// skipOutsideRoot reads the tokens before the root element (prolog: an
// XML declaration may come first) or after it: white space and comments. It
// stops at a start tag or the end of the input (kind says which); anything
// else there is an error, which never quotes the input.
func (s *xmlScanner) skipOutsideRoot(prolog bool) error {
	for first := prolog; ; first = false {
		if err := s.next(); err != nil {
			return err
		}
		switch s.kind {
		case tokStart, tokEOF:
			return nil
		case tokComment:
		case tokProcInst:
			if !first || string(s.local(s.name)) != "xml" {
				return scanError(misplacedToken(tokProcInst))
			}
		case tokText:
			if isXMLSpace(s.textBytes()) {
				continue
			}
			if prolog {
				return scanError("text before the root element")
			}
			return scanError("text after the root element")
		default:
			return scanError(misplacedToken(s.kind))
		}
	}
}

// misplacedToken says why a token a strict parser does not expect where it
// came is refused.
func misplacedToken(kind tokKind) string {
	switch kind {
	case tokProcInst:
		return "processing instruction not allowed"
	case tokDirective:
		return "DOCTYPE or other <!…> directive not allowed"
	case tokEOF:
		return "unexpected end of document"
	}
	return "unexpected token"
}

// skipIndent skips a line break and the spaces after it if a tag follows,
// without making a token of them: for a caller that ignores white space
// between elements.
func (s *xmlScanner) skipIndent() {
	data, i := s.data, s.pos
	if s.pendingEnd || i >= len(data) || data[i] != '\n' {
		return
	}
	if i = skipSpaces(data, i+1); i < len(data) && data[i] == '<' {
		s.pos = i
	}
}

// skipSpaces returns the offset of the first byte from i on that is not a
// space (len(data) if none), testing eight bytes at a time.
func skipSpaces(data []byte, i int) int {
	const spaces = 0x2020202020202020
	for ; i+8 <= len(data); i += 8 {
		if x := binary.LittleEndian.Uint64(data[i:]) ^ spaces; x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for i < len(data) && data[i] == ' ' {
		i++
	}
	return i
}

// charData reads text up to the next '<'.
func (s *xmlScanner) charData() error {
	// Fast path: a line break and indentation before the next tag.
	if data := s.data; data[s.pos] == '\n' {
		if i := skipSpaces(data, s.pos+1); i < len(data) && data[i] == '<' {
			s.kind, s.space = tokText, true
			s.text, s.textBuf = span{s.pos, i}, false
			s.pos = i
			return nil
		}
	}
	end, flags, err := scanTo(s.data, s.pos, '<')
	if err != nil {
		return err
	}
	s.kind = tokText
	s.text, s.textBuf = span{s.pos, end}, false
	s.space = flags&runNonSpace == 0
	if flags&runNeedsWork != 0 {
		text, inBuf, err := s.checkText(s.data[s.pos:end], flags)
		if err != nil {
			return err
		}
		if inBuf {
			s.text, s.textBuf = span{0, len(text)}, true
		}
	}
	s.pos = end
	return nil
}

// runNeedsWork are the flags of a text run that need more than the scan:
// a check (non-ASCII, "]]>") or decoding (references, CR).
const runNeedsWork = runNonASCII | runBracket | runAmp | runCR

// checkText checks a run of character data that scanTo classified as
// flags. If the run holds a reference or a CR it decodes it into s.buf and
// returns that with inBuf set; otherwise it returns raw.
func (s *xmlScanner) checkText(raw []byte, flags uint8) (text []byte, inBuf bool, err error) {
	if flags&runNonASCII != 0 {
		if err := checkChars(raw); err != nil {
			return nil, false, err
		}
	}
	if flags&runBracket != 0 && bytes.Contains(raw, []byte("]]>")) {
		return nil, false, scanError("]]> in character data")
	}
	if flags&(runAmp|runCR) == 0 {
		return raw, false, nil
	}
	if flags&runCR != 0 {
		raw = normalizeNewlines(raw)
	}
	buf, err := decodeEntities(s.buf[:0], raw)
	if err != nil {
		return nil, false, err
	}
	if cap(buf) != cap(s.buf) {
		s.buf = buf // only when it grew: a pointer write costs a GC write barrier
	}
	return buf, true, nil
}

// What scanTo saw in a run of text.
const (
	runAmp      = 1 << iota // &
	runCR                   // carriage return
	runTabLF                // tab or line feed
	runBracket              // ]
	runLT                   // <
	runNonASCII             // a byte >= 0x80
	runNonSpace             // anything but XML white space
	runControl              // a control character XML does not allow
)

// byteClasses holds the run flags of each byte value (low eight bits) and
// marks the bytes scanTo may stop at (stopAt): one table load per byte
// finds the end of a run and classifies it. It is never written.
var byteClasses = func() (t [256]uint16) {
	for c := range t {
		switch {
		case c >= 0x80:
			t[c] = runNonASCII | runNonSpace
		case c == '&':
			t[c] = runAmp | runNonSpace
		case c == ']':
			t[c] = runBracket | runNonSpace
		case c == '<':
			t[c] = runLT | runNonSpace
		case c > ' ':
			t[c] = runNonSpace
		case c == '\t' || c == '\n':
			t[c] = runTabLF
		case c == '\r':
			t[c] = runCR
		case c < ' ':
			t[c] = runControl
		}
	}
	for _, c := range []byte{'<', '"', '\''} {
		t[c] |= stopAt(c)
	}
	return t
}()

// stopAt is the byteClasses bit of a byte scanTo stops at.
func stopAt(stop byte) uint16 {
	switch stop {
	case '<':
		return 1 << 8
	case '"':
		return 1 << 9
	}
	return 1 << 10 // '\''
}

// scanTo finds the first stop byte ('<' or a quote) in data from i on
// (len(data) if none) and, in the same pass, notes which special bytes
// come before it. Control characters other than tab, line feed and
// carriage return are an error.
func scanTo(data []byte, i int, stop byte) (end int, flags uint8, err error) {
	t, mask := &byteClasses, stopAt(stop)
	var f uint16
	j := i
	for j+8 <= len(data) { // eight at a time: about half the instructions
		b := data[j : j+8 : j+8]
		w := t[b[0]] | t[b[1]] | t[b[2]] | t[b[3]] | t[b[4]] | t[b[5]] | t[b[6]] | t[b[7]]
		if w&mask != 0 {
			break
		}
		f |= w
		j += 8
	}
	for ; j < len(data); j++ {
		w := t[data[j]]
		if w&mask != 0 {
			break
		}
		f |= w
	}
	if f&runControl != 0 {
		return i, 0, scanError("control character in the document")
	}
	return j, uint8(f), nil
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

// spaceLiteralWhiteSpace appends raw to dst with each tab, LF, CR and CR LF
// pair replaced by one space: end-of-line handling, then attribute-value
// normalisation (the scanner's buffer for the current token serves as dst).
func spaceLiteralWhiteSpace(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			dst = append(dst, ' ')
		case '\t', '\n':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
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
	s.kind, s.space = tokText, false
	s.text, s.textBuf = span{start, start + end}, false
	if bytes.IndexByte(raw, '\r') >= 0 {
		s.buf = append(s.buf[:0], normalizeNewlines(raw)...)
		s.text, s.textBuf = span{0, len(s.buf)}, true
	}
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
	start := s.pos
	if _, _, err := s.nameColons(); err != nil {
		return err
	}
	name := s.data[start:s.pos]
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
	s.kind, s.name = tokProcInst, qspan{start, start, start + len(name)}
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
	// Fast path: the end tag the caller expects, without white space.
	if q := s.expect; q.end > q.start {
		end := s.pos + q.end - q.start
		if end < len(s.data) && s.data[end] == '>' && sameAt(s.data, s.pos, q.start, q.end-q.start) {
			d := s.pos - q.start
			s.name = qspan{s.pos, q.local + d, end}
			s.pos = end + 1
			s.kind, s.expected = tokEnd, true
			return nil
		}
	}
	var err error
	s.expected = false
	if s.name, err = s.qname(&s.recent); err != nil {
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
	var err error
	if s.name, err = s.qname(&s.recent); err != nil {
		return err
	}
	s.nattrs = 0
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
		if s.nattrs >= maxXMLAttrs {
			return scanError("too many attributes on one element")
		}
		if err := s.attribute(&s.attrs[s.nattrs]); err != nil {
			return err
		}
		s.nattrs++
	}
}

// attribute reads name="value" (or 'value') into a.
func (s *xmlScanner) attribute(a *scanAttr) error {
	var err error
	if a.name, err = s.qname(&s.recentAttr); err != nil {
		return err
	}
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
	end, flags, err := scanTo(s.data, start, q)
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
	a.value, a.decoded = span{start, end}, false
	if flags&(runAmp|runCR|runTabLF) != 0 {
		if flags&(runCR|runTabLF) != 0 {
			// Attribute-value normalisation (XML 1.0 §3.3.3), before the
			// references are decoded: it applies to white space written
			// literally, not to the characters &#9; &#10; &#13; stand for.
			s.buf = spaceLiteralWhiteSpace(s.buf[:0], raw)
			raw = s.buf
		}
		from := len(s.vals)
		if s.vals, err = decodeEntities(s.vals, raw); err != nil {
			return err
		}
		a.value, a.decoded = span{from, len(s.vals)}, true
	}
	s.pos = end + 1
	return nil
}

// nameCache holds two names read before, the older replaced first.
type nameCache struct {
	q     [2]qspan
	older int
	last  int // the entry that holds the name just read
}

// qname reads prefix:local or local. A name equal to one in recent is
// recognised by comparison; a new one replaces the older there.
func (s *xmlScanner) qname(recent *nameCache) (qspan, error) {
	data, pos := s.data, s.pos
	for i := range recent.q {
		q := &recent.q[i]
		n := q.end - q.start
		end := pos + n
		if n == 0 || end >= len(data) || !endsName(data[end]) || !sameAt(data, pos, q.start, n) {
			continue
		}
		s.pos = end
		recent.last = i
		return qspan{pos, q.local + pos - q.start, end}, nil
	}
	start := s.pos
	colons, first, err := s.nameColons()
	if err != nil {
		return qspan{}, err
	}
	q := qspan{start, start, s.pos}
	switch {
	case colons == 0:
	case colons > 1 || first == 0 || start+first == s.pos-1:
		return qspan{}, scanError("malformed qualified name")
	default:
		q.local = start + first + 1
	}
	recent.q[recent.older] = q
	recent.last = recent.older
	recent.older ^= 1
	return q, nil
}

// sameAt reports whether data[i:i+n] equals data[j:j+n], both in range.
// Names of 16 to 24 bytes, most in a RoleAssertion, take two comparisons.
func sameAt(data []byte, i, j, n int) bool {
	if n < 16 || n > 24 {
		return sameAtSlow(data, i, j, n)
	}
	return [16]byte(data[i:i+16]) == [16]byte(data[j:j+16]) && [8]byte(data[i+n-8:i+n]) == [8]byte(data[j+n-8:j+n])
}

func sameAtSlow(data []byte, i, j, n int) bool { return string(data[i:i+n]) == string(data[j:j+n]) }

// endsName reports whether c may follow a name in a tag; no name byte may.
func endsName(c byte) bool {
	return c == '>' || c == ' ' || c == '=' || c == '/' || c == '\n' || c == '\t' || c == '\r'
}

// nameColons reads an XML name and counts its colons, giving the offset of
// the first. Only ASCII names are accepted: SAML and the SSB use no others,
// and this keeps the check exact.
func (s *xmlScanner) nameColons() (colons, first int, err error) {
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
				return 0, 0, scanError("malformed name")
			}
		case c >= 0x80:
			return 0, 0, scanError("non-ASCII name")
		default:
			if s.pos == start {
				return 0, 0, scanError("expected a name")
			}
			return colons, first, nil
		}
		s.pos++
	}
	return 0, 0, errScanEOF
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
// character references replaced. Any other entity is an error. The output
// is never longer than raw (no reference is shorter than what it stands
// for), so it is written in place after one capacity check.
func decodeEntities(dst, raw []byte) ([]byte, error) {
	n := len(dst)
	out := slices.Grow(dst, len(raw))[:n+len(raw)]
	for k := 0; k < len(raw); {
		i := bytes.IndexByte(raw[k:], '&')
		if i < 0 {
			n += copy(out[n:], raw[k:])
			break
		}
		n += copy(out[n:], raw[k:k+i])
		k += i
		rest := raw[k+1:]
		if c, w := commonRef(rest); w > 0 {
			out[n], n, k = c, n+1, k+1+w
			continue
		}
		semi := -1 // the ';' within the 13 bytes a reference may take
		for j, c := range rest[:min(len(rest), 13)] {
			if c == ';' {
				semi = j
				break
			}
		}
		if semi < 0 {
			return out[:n], scanError("malformed entity reference")
		}
		ref := rest[:semi]
		k += semi + 2
		switch string(ref) {
		case "lt":
			out[n] = '<'
		case "gt":
			out[n] = '>'
		case "amp":
			out[n] = '&'
		case "apos":
			out[n] = '\''
		case "quot":
			out[n] = '"'
		default:
			r, ok := charRef(ref)
			if !ok {
				return out[:n], scanError("unknown or invalid entity reference")
			}
			// Within out: the reference took at least as many bytes.
			n = len(utf8.AppendRune(out[:n], r))
			continue
		}
		n++
	}
	return out[:n], nil
}

// commonRef decodes the references most frequent in a RoleAssertion, each
// compared as a whole, at the start of b (just past the '&'): the byte and
// the reference's length, or 0, 0 for the general path.
func commonRef(b []byte) (byte, int) {
	switch {
	case len(b) >= 4 && string(b[:4]) == "amp;":
		return '&', 4
	case len(b) >= 4 && string(b[:4]) == "#34;":
		return '"', 4
	case len(b) >= 3 && string(b[:3]) == "lt;":
		return '<', 3
	case len(b) >= 3 && string(b[:3]) == "gt;":
		return '>', 3
	}
	return 0, 0
}

// charRef decodes #123 or #x7B to an XML character.
func charRef(ref []byte) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, hex := ref[1:], false
	if digits[0] == 'x' {
		digits, hex = digits[1:], true
	}
	if len(digits) == 0 {
		return 0, false
	}
	var n uint64 // at most 11 digits: no overflow
	for _, c := range digits {
		var d byte
		switch {
		case c-'0' < 10:
			d = c - '0'
		case hex && (c|0x20)-'a' < 6:
			d = (c | 0x20) - 'a' + 10
		default:
			return 0, false
		}
		if hex {
			n = n<<4 | uint64(d)
		} else {
			n = n*10 + uint64(d)
		}
	}
	if n > 0x10FFFF {
		return 0, false
	}
	r := rune(n)
	ok := r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
	return r, ok
}
