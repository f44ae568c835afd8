package cis

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// MaxGPObjectSize bounds the size of a gpOBJECT message ParseGPObject
// accepts. A validate response for a user with 40 roles is under 10 KiB.
const MaxGPObjectSize = 256 << 10

// Attr is one attribute of a gpPARAM other than its name, such as id,
// orgcode or encoding.
type Attr struct{ Name, Value string }

// Param is one <gpPARAM name="…" …>value</gpPARAM> of a gpOBJECT message.
type Param struct {
	Name  string
	Value string
	Attrs []Attr // attributes other than name, in document order
}

// Attr returns the value of the attribute called name (compared without
// regard to case), or "" if the param has none.
func (p Param) Attr(name string) string {
	for _, a := range p.Attrs {
		if strings.EqualFold(a.Name, name) {
			return a.Value
		}
	}
	return ""
}

// GPObject is a gpOBJECT message of the GAS login protocol: an ordered list
// of named params. Names may repeat; Get and Lookup return the first.
type GPObject struct {
	Params []Param
}

// Get returns the value of the first param called name, or "" if absent.
func (g *GPObject) Get(name string) string {
	p, _ := g.Lookup(name)
	return p.Value
}

// Text returns the value of the first param called name without leading
// and trailing XML white space (space, tab, CR, LF), or "" if absent: a
// value as GAS and its clients read it. Other Unicode space (NO-BREAK
// SPACE, EM SPACE, …) is kept, so a value wrapped in it stays unlike the
// bare value.
func (g *GPObject) Text(name string) string { return trimXMLSpace(g.Get(name)) }

// Lookup returns the first param called name.
func (g *GPObject) Lookup(name string) (Param, bool) {
	if g == nil {
		return Param{}, false
	}
	for _, p := range g.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Add appends a param.
func (g *GPObject) Add(name, value string, attrs ...Attr) {
	var as []Attr
	if len(attrs) > 0 {
		as = append(as, attrs...)
	}
	g.Params = append(g.Params, Param{Name: name, Value: value, Attrs: as})
}

// Encode returns g as a well-formed XML document: the XML declaration, a
// <!DOCTYPE USER SYSTEM "doctype"> line if doctype is not empty, and the
// gpOBJECT element with one gpPARAM per line. Names, attribute values and
// texts are escaped (line breaks as character references, so each param
// stays on one line); characters XML cannot carry become U+FFFD. Attributes
// whose name is not a plain XML name, is "name", or repeats an earlier one
// are left out; quotes are dropped from doctype.
func (g *GPObject) Encode(doctype string) []byte { return g.encode(doctype, false) }

// EncodeLikeGAS is Encode the way GAS writes its replies, which clients
// read with regular expressions: a param's text keeps its quotes,
// apostrophes and '&' raw (`"Admin & Clerical":"…"`); only '<', line breaks
// and a '&' that would read back as an entity are escaped, so
// ParseGPObject still returns g unchanged. The result is not well-formed XML when a text holds a '&';
// use it only to imitate GAS (the simulator), never for requests.
func (g *GPObject) EncodeLikeGAS(doctype string) []byte { return g.encode(doctype, true) }

func (g *GPObject) encode(doctype string, legacyText bool) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	if doctype != "" {
		b.WriteString("<!DOCTYPE USER SYSTEM \"")
		b.WriteString(strings.ReplaceAll(xmlChars(doctype), "\"", ""))
		b.WriteString("\">\n")
	}
	b.WriteString("<gpOBJECT>\n")
	if g != nil {
		for _, p := range g.Params {
			b.WriteString("<gpPARAM name=\"")
			escapeXML(&b, p.Name, false)
			b.WriteByte('"')
			seen := []string{"name"}
			for _, a := range p.Attrs {
				if !isAttrName(a.Name) || containsFoldAny(seen, a.Name) {
					continue
				}
				seen = append(seen, a.Name)
				b.WriteByte(' ')
				b.WriteString(a.Name)
				b.WriteString("=\"")
				escapeXML(&b, a.Value, false)
				b.WriteByte('"')
			}
			b.WriteByte('>')
			escapeXML(&b, p.Value, legacyText)
			b.WriteString("</gpPARAM>\n")
		}
	}
	b.WriteString("</gpOBJECT>\n")
	return b.Bytes()
}

func containsFoldAny(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// escapeXML writes s escaped for both text and double-quoted attribute
// values. With legacyText (GAS's own style, text only), quotes and '>'
// stay raw, and so does a '&' that does not start an entity.
func escapeXML(b *bytes.Buffer, s string, legacyText bool) {
	s = xmlChars(s)
	for i, r := range s {
		if legacyText && (r == '"' || r == '\'' || r == '>') {
			b.WriteRune(r)
			continue
		}
		switch r {
		case '&':
			if _, n := entity(s[i:]); legacyText && n == 0 {
				b.WriteByte('&')
			} else {
				b.WriteString("&amp;")
			}
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteRune(r)
		}
	}
}

// xmlChars replaces invalid UTF-8 and characters outside XML 1.0's Char
// production with U+FFFD.
func xmlChars(s string) string {
	ok := utf8.ValidString(s)
	if ok {
		for _, r := range s {
			if !isXMLChar(r) {
				ok = false
				break
			}
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s { // invalid UTF-8 yields utf8.RuneError, U+FFFD
		if !isXMLChar(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// isAttrName reports whether s is an attribute name this package reads and
// writes: an ASCII letter or underscore, then letters, digits, '_', '-', '.'.
func isAttrName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
