package cis

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
)

// tokenList renders tokens as lines, merging adjacent text.
type tokenList struct {
	out  []string
	text []byte
}

func (l *tokenList) add(line string) {
	l.flush()
	l.out = append(l.out, line)
}

func (l *tokenList) addText(b []byte) {
	l.text = append(l.text, b...)
	if l.text == nil {
		l.text = []byte{}
	}
}

func (l *tokenList) flush() {
	if l.text != nil {
		l.out = append(l.out, fmt.Sprintf("text %q", l.text))
		l.text = nil
	}
}

// scanTokens renders the scanner's tokens, adjacent text merged, up to the
// first directive. ok is false if the scanner refused the input. Like the
// parser, it tells the scanner which end tag to expect (the innermost open
// element's), so that the scanner's fast path for it is compared too.
func scanTokens(data []byte) (out []string, ok bool) {
	s := newXMLScanner(data)
	var l tokenList
	var open []qspan
	for {
		if err := s.next(); err != nil {
			return l.out, false
		}
		switch s.kind {
		case tokStart:
			open = append(open, s.name)
		case tokEnd:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		}
		s.expect = qspan{}
		if len(open) > 0 {
			s.expect = open[len(open)-1]
		}
		switch s.kind {
		case tokStart:
			var b strings.Builder
			fmt.Fprintf(&b, "start %s:%s", s.prefix(s.name), s.local(s.name))
			for i := range s.nattrs {
				a := &s.attrs[i]
				fmt.Fprintf(&b, " %s:%s=%q", s.prefix(a.name), s.local(a.name), s.attrValue(a))
			}
			l.add(b.String())
		case tokEnd:
			l.add(fmt.Sprintf("end %s:%s", s.prefix(s.name), s.local(s.name)))
		case tokText:
			l.addText(s.textBytes())
		case tokComment:
			l.add("comment")
		case tokProcInst:
			l.add(fmt.Sprintf("procinst %s", s.local(s.name)))
		case tokDirective:
			l.add("directive")
			return l.out, true
		case tokEOF:
			l.flush()
			return l.out, true
		}
	}
}

// stdTokens renders encoding/xml's raw tokens the same way, with attribute
// values normalised as XML 1.0 §3.3.3 says and encoding/xml does not: each
// white space character written literally (tab, LF, CR, or a CR LF pair)
// becomes a space, while a character reference (&#9; &#10; &#13;) stands
// for its character unchanged. The values come from a second decoding of
// the document with every literal tab, LF and CR made a space (which
// changes no token's kind or place, only the white space in them); all
// else from the first.
func stdTokens(data []byte) ([]string, error) {
	out, err := stdRawTokens(data)
	spaced, _ := stdRawTokens(literalSpaceToSpaces(data))
	if len(spaced) < len(out) {
		return out, fmt.Errorf("oracle: %d tokens with literal white space made spaces, %d without", len(spaced), len(out))
	}
	for i, line := range out {
		if strings.HasPrefix(line, "start ") {
			out[i] = spaced[i]
		}
	}
	return out, err
}

// literalSpaceToSpaces returns data with each tab, LF, CR and CR LF pair
// replaced by one space (the replacer tries "\r\n" before "\r").
func literalSpaceToSpaces(data []byte) []byte {
	return []byte(strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\t", " ").Replace(string(data)))
}

// stdRawTokens renders encoding/xml's raw tokens as scanTokens does.
func stdRawTokens(data []byte) (out []string, err error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var l tokenList
	for {
		tok, err := d.RawToken()
		if err != nil {
			l.flush()
			if err == io.EOF {
				return l.out, nil
			}
			return l.out, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var b strings.Builder
			fmt.Fprintf(&b, "start %s:%s", t.Name.Space, t.Name.Local)
			for _, a := range t.Attr {
				fmt.Fprintf(&b, " %s:%s=%q", a.Name.Space, a.Name.Local, a.Value)
			}
			l.add(b.String())
		case xml.EndElement:
			l.add(fmt.Sprintf("end %s:%s", t.Name.Space, t.Name.Local))
		case xml.CharData:
			l.addText(t)
		case xml.Comment:
			l.add("comment")
		case xml.ProcInst:
			l.add(fmt.Sprintf("procinst %s", t.Target))
		case xml.Directive:
			l.add("directive")
			return l.out, nil
		}
	}
}

// FuzzXMLScannerMatchesEncodingXML checks the RoleAssertion scanner against
// encoding/xml: whatever the scanner accepts, encoding/xml accepts too and
// reads as the same tokens. (The scanner may refuse more.)
func FuzzXMLScannerMatchesEncodingXML(f *testing.F) {
	for _, name := range []string{"single-role.xml", "namespace-variants.xml", "unicode-names.xml", "doctype-billion-laughs.xml"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("<a x='1'\r\n y=\"&#x41;&amp;\t\">t&lt;<![CDATA[c\r\nd]]><!-- c --><b/></a>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, ok := scanTokens(data)
		if !ok {
			return
		}
		std, err := stdTokens(data)
		if n := len(mine); n > 0 && mine[n-1] == "directive" {
			// The scanner stops at any <!…> (the parser refuses it); compare
			// what came before.
			mine = mine[:n-1]
			if len(std) > n-1 {
				std = std[:n-1]
			}
			err = nil
		}
		if err != nil {
			t.Fatalf("scanner accepted what encoding/xml refuses (%v):\n%q", err, data)
		}
		if strings.Join(mine, "\n") != strings.Join(std, "\n") {
			t.Fatalf("tokens differ for %q:\nscanner:      %q\nencoding/xml: %q", data, mine, std)
		}
	})
}

func TestXMLScannerRefuses(t *testing.T) {
	for _, in := range []string{
		"<a>\x01</a>", "<a>]]></a>", "<a b='<'/>", "<a b=c/>", "<a b='1'c='2'/>", "<a><!-- -- --></a>",
		"<a>&unknown;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&#-1;</a>", "<a>&amp</a>",
		"<:a/>", "<a:/>", "<a:b:c/>", "<1a/>", "<a>\xff</a>", "<a>\uFFFE</a>", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
		"<?xml?><a/>", "<a", "<a b", "<a b=", "<a b='1", "</a", "<!--", "<![CDATA[", "<?pi",
	} {
		s := newXMLScanner([]byte(in))
		var err error
		for err == nil && s.kind != tokEOF {
			err = s.next()
		}
		if err == nil {
			t.Errorf("%q: scanned without error", in)
		}
	}
}

// TestXMLScannerAttributeValueNormalisation: XML 1.0 §3.3.3 makes each
// literal tab, LF, CR and CR LF pair in an attribute value a space, and
// keeps the character a reference stands for.
func TestXMLScannerAttributeValueNormalisation(t *testing.T) {
	s := newXMLScanner([]byte("<a x='1&#10;2&#9;3&#13;4&#xA;5&#x9;6&#xD;7' y=\"1\n2\t3\r4\r\n5&#32;6\" z='&amp;\t&#9;'/>"))
	if err := s.next(); err != nil || s.kind != tokStart || s.nattrs != 3 {
		t.Fatalf("%v, kind %v, %d attributes", err, s.kind, s.nattrs)
	}
	for i, want := range []string{"1\n2\t3\r4\n5\t6\r7", "1 2 3 4 5 6", "& \t"} {
		if got := string(s.attrValue(&s.attrs[i])); got != want {
			t.Errorf("attribute %d = %q, want %q", i, got, want)
		}
	}
}

func TestXMLScannerAttributeLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("<a")
	for i := range maxXMLAttrs + 1 {
		fmt.Fprintf(&b, " a%d='1'", i)
	}
	b.WriteString("/>")
	_, err := ParseRoleAssertion([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many attributes") {
		t.Fatalf("err = %v", err)
	}
}

// TestDecodeEntities covers the references decoded in place, at the ends of
// the text and cut short, against the general reference path.
func TestDecodeEntities(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"&amp;", "&"},
		{"a&amp;b&lt;c&gt;d&#34;e", `a&b<c>d"e`},
		{"&apos;&quot;&#x41;&#65;&#x10000;", "'\"AA\U00010000"},
		{"&#34;&#34;", `""`},
		{"x&amp", "!"},
		{"x&#34", "!"},
		{"x&lt", "!"},
		{"&am;", "!"},
		{"&#0;", "!"},
		{"&;", "!"},
		{"&", "!"},
	} {
		got, err := decodeEntities([]byte("pre:"), []byte(tt.in))
		switch {
		case tt.want == "!" && err == nil:
			t.Errorf("%q: decoded to %q, want an error", tt.in, got)
		case tt.want != "!" && (err != nil || string(got) != "pre:"+tt.want):
			t.Errorf("%q: %q, %v, want %q", tt.in, got, err, "pre:"+tt.want)
		}
	}
}
