package cis

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
)

// scanTokens renders the scanner's tokens, adjacent text merged, up to the
// first directive. ok is false if the scanner refused the input.
func scanTokens(data []byte) (out []string, ok bool) {
	s := newXMLScanner(data)
	var text []byte
	flush := func() {
		if text != nil {
			out = append(out, fmt.Sprintf("text %q", text))
			text = nil
		}
	}
	for {
		if err := s.next(); err != nil {
			return out, false
		}
		if s.kind != tokText {
			flush()
		}
		switch s.kind {
		case tokStart:
			var b strings.Builder
			fmt.Fprintf(&b, "start %s:%s", s.prefix, s.local)
			for _, a := range s.attrs {
				fmt.Fprintf(&b, " %s:%s=%q", a.prefix, a.local, a.value)
			}
			out = append(out, b.String())
		case tokEnd:
			out = append(out, fmt.Sprintf("end %s:%s", s.prefix, s.local))
		case tokText:
			text = append(text, s.text...)
			if text == nil {
				text = []byte{}
			}
		case tokComment:
			out = append(out, "comment")
		case tokProcInst:
			out = append(out, fmt.Sprintf("procinst %s", s.local))
		case tokDirective:
			return append(out, "directive"), true
		case tokEOF:
			flush()
			return out, true
		}
	}
}

// stdTokens renders encoding/xml's raw tokens the same way.
func stdTokens(data []byte) (out []string, err error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var text []byte
	flush := func() {
		if text != nil {
			out = append(out, fmt.Sprintf("text %q", text))
			text = nil
		}
	}
	for {
		tok, err := d.RawToken()
		if err != nil {
			flush()
			if err.Error() == "EOF" {
				return out, nil
			}
			return out, err
		}
		if _, isText := tok.(xml.CharData); !isText {
			flush()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var b strings.Builder
			fmt.Fprintf(&b, "start %s:%s", t.Name.Space, t.Name.Local)
			for _, a := range t.Attr {
				v := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(a.Value)
				fmt.Fprintf(&b, " %s:%s=%q", a.Name.Space, a.Name.Local, v)
			}
			out = append(out, b.String())
		case xml.EndElement:
			out = append(out, fmt.Sprintf("end %s:%s", t.Name.Space, t.Name.Local))
		case xml.CharData:
			text = append(text, t...)
			if text == nil {
				text = []byte{}
			}
		case xml.Comment:
			out = append(out, "comment")
		case xml.ProcInst:
			out = append(out, fmt.Sprintf("procinst %s", t.Target))
		case xml.Directive:
			return append(out, "directive"), nil
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
