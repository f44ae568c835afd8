package cis

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The OpenSSO services (session service, naming service) wrap their XML
// answers in a second XML document carried as character data (usually
// CDATA): <ResponseSet><Response><![CDATA[<SessionResponse>…]]></Response>.
// Both layers are small, namespace-free documents. This file reads them
// into a tree, strictly: one root, no DOCTYPE or other directive, no
// namespace prefix or declaration, matching end tags, no text next to
// elements except blanks, no repeated attribute; depth, element count and
// size are capped, so the cost is linear in the input.

// MaxSessionResponseSize bounds an OpenSSO session service answer.
const MaxSessionResponseSize = 64 << 10

// Caps of the OpenSSO tree parser, per document.
const (
	maxOpenSSODepth    = 8
	maxOpenSSOElements = 512
	maxOpenSSOAttrs    = 32
)

// ssoNode is one element of an OpenSSO document.
type ssoNode struct {
	name     string
	attrs    []xml.Attr
	children []*ssoNode
	text     []byte // character data directly inside (CDATA included), when it has no child elements
	offset   int64  // byte offset of its start tag
}

// attr returns the value of attribute name and whether it is there.
func (n *ssoNode) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// only returns n's single child element, which must be called name.
func (n *ssoNode) only(what, name string) (*ssoNode, error) {
	if len(n.children) != 1 || n.children[0].name != name {
		return nil, ssoError(what, n.offset, "<%s> must hold exactly one <%s>", n.name, name)
	}
	return n.children[0], nil
}

func ssoError(what string, off int64, format string, args ...any) error {
	return &ParseError{What: what, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// parseSSOTree reads one OpenSSO document (what names it in errors) into
// its root element.
func parseSSOTree(what string, data []byte) (*ssoNode, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	var (
		root  *ssoNode
		stack []*ssoNode
		count int
	)
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, ssoError(what, off, "not well-formed XML: %s", se.Msg)
			}
			return nil, ssoError(what, off, "not well-formed XML")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != "" {
				return nil, ssoError(what, off, "namespace prefix %q", t.Name.Space)
			}
			if root != nil && len(stack) == 0 {
				return nil, ssoError(what, off, "second root element <%s>", t.Name.Local)
			}
			if count++; count > maxOpenSSOElements {
				return nil, ssoError(what, off, "more than %d elements", maxOpenSSOElements)
			}
			if len(stack) >= maxOpenSSODepth {
				return nil, ssoError(what, off, "nested deeper than %d", maxOpenSSODepth)
			}
			if len(t.Attr) > maxOpenSSOAttrs {
				return nil, ssoError(what, off, "more than %d attributes", maxOpenSSOAttrs)
			}
			n := &ssoNode{name: t.Name.Local, offset: off}
			for _, a := range t.Attr {
				if a.Name.Space != "" || a.Name.Local == "xmlns" {
					return nil, ssoError(what, off, "namespace attribute on <%s>", t.Name.Local)
				}
				if _, dup := n.attr(a.Name.Local); dup {
					return nil, ssoError(what, off, "attribute %q repeated", a.Name.Local)
				}
				n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: a.Name.Local}, Value: a.Value})
			}
			if len(stack) == 0 {
				root = n
			} else {
				parent := stack[len(stack)-1]
				if len(bytes.TrimSpace(parent.text)) != 0 {
					return nil, ssoError(what, off, "<%s> mixes text and elements", parent.name)
				}
				parent.text = nil
				parent.children = append(parent.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 || t.Name.Space != "" || stack[len(stack)-1].name != t.Name.Local {
				return nil, ssoError(what, off, "unexpected end tag </%s>", t.Name.Local)
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, ssoError(what, off, "text outside the root element")
				}
				continue
			}
			top := stack[len(stack)-1]
			if len(top.children) != 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, ssoError(what, off, "<%s> mixes text and elements", top.name)
				}
				continue
			}
			top.text = append(top.text, t...)
		case xml.Directive:
			return nil, ssoError(what, off, "DOCTYPE or other directive")
		case xml.ProcInst:
			if t.Target != "xml" || root != nil || off != 0 && len(bytes.TrimSpace(data[:off])) != 0 {
				return nil, ssoError(what, off, "processing instruction <?%s?>", t.Target)
			}
			if enc := procInstAttr(string(t.Inst), "encoding"); enc != "" && !strings.EqualFold(enc, "UTF-8") {
				return nil, ssoError(what, off, "encoding %q (want UTF-8)", enc)
			}
		case xml.Comment:
		}
	}
	if root == nil {
		return nil, ssoError(what, 0, "no root element")
	}
	if len(stack) != 0 {
		return nil, ssoError(what, int64(len(data)), "<%s> not closed", stack[len(stack)-1].name)
	}
	return root, nil
}

// procInstAttr returns a pseudo-attribute of an XML declaration.
func procInstAttr(inst, name string) string {
	i := strings.Index(inst, name+"=")
	if i < 0 {
		return ""
	}
	v := inst[i+len(name)+1:]
	if v == "" || v[0] != '"' && v[0] != '\'' {
		return ""
	}
	end := strings.IndexByte(v[1:], v[0])
	if end < 0 {
		return ""
	}
	return v[1 : 1+end]
}

// parseResponseSet reads an OpenSSO ResponseSet of the service svcid
// (compared without case: clients and servers differ) and returns the
// inner document of each Response, in order.
func parseResponseSet(what string, data []byte, svcid string) ([][]byte, error) {
	root, err := parseSSOTree(what, data)
	if err != nil {
		return nil, err
	}
	if root.name != "ResponseSet" {
		return nil, ssoError(what, root.offset, "root is <%s>, want <ResponseSet>", root.name)
	}
	if v, _ := root.attr("vers"); v != "1.0" {
		return nil, ssoError(what, root.offset, "ResponseSet vers %q, want 1.0", v)
	}
	if v, _ := root.attr("svcid"); !strings.EqualFold(v, svcid) {
		return nil, ssoError(what, root.offset, "ResponseSet svcid %q, want %s", v, svcid)
	}
	if len(root.children) == 0 {
		return nil, ssoError(what, root.offset, "ResponseSet holds no Response")
	}
	inner := make([][]byte, 0, len(root.children))
	for _, r := range root.children {
		if r.name != "Response" || len(r.children) != 0 {
			return nil, ssoError(what, r.offset, "<%s> in ResponseSet, want <Response> with a document inside", r.name)
		}
		inner = append(inner, bytes.TrimSpace(r.text))
	}
	return inner, nil
}
