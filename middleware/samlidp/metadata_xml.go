package samlidp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
)

// XML namespaces the metadata check knows.
const (
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsXSI       = "http://www.w3.org/2001/XMLSchema-instance"
	nsXML       = "http://www.w3.org/XML/1998/namespace"
)

// Bounds of one service provider's metadata document. A real one is a few
// kilobytes, a dozen levels deep, with some tens of elements.
const (
	// MaxMetadataSize is the largest metadata document accepted, in bytes.
	MaxMetadataSize  = 256 << 10
	maxMetadataDepth = 32
	maxMetadataElems = 4096
)

// mdFrame is an open element during checkMetadataShape.
type mdFrame struct {
	name xml.Name
	// free: anything may appear below (md:Extensions, ds:Signature, ...).
	free bool
	// dsOnly: children must be XML Signature elements (ds:KeyInfo,
	// ds:X509Data, whose children crewjam reads by local name).
	dsOnly bool
	// seen counts the children that may appear at most once.
	seen map[xml.Name]bool
}

// singletons are the children crewjam decodes into a single field, where
// encoding/xml would silently keep (or merge) the last of several.
var singletons = map[xml.Name]bool{
	{Space: nsDSig, Local: "Signature"}:                 true,
	{Space: nsDSig, Local: "KeyInfo"}:                   true,
	{Space: nsMetadata, Local: "Extensions"}:            true,
	{Space: nsMetadata, Local: "Organization"}:          true,
	{Space: nsMetadata, Local: "AffiliationDescriptor"}: true,
}

// checkMetadataShape makes the checks encoding/xml leaves out, before the
// document is decoded into crewjam's structs: one root, md:EntityDescriptor;
// no DOCTYPE or other directive, no processing instruction but the XML
// declaration; bounded depth and element count; no duplicate attribute; and,
// because crewjam's struct tags mostly match elements and attributes by local
// name in any namespace, every element under a metadata element is itself in
// the metadata namespace, except where the schema puts foreign elements
// (ds:Signature, ds:KeyInfo, md:Extensions' and md:EncryptionMethod's
// content, saml:AttributeValue), and the metadata elements carry no
// namespace-qualified attribute but xml:* and xsi:*. Elements that may appear
// once (ds:KeyInfo in a KeyDescriptor, ds:Signature, md:Extensions,
// md:Organization) appear at most once.
func checkMetadataShape(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []*mdFrame
	roots, elems := 0, 0
	for first := true; ; first = false {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			elems++
			if elems > maxMetadataElems {
				return fmt.Errorf("more than %d elements", maxMetadataElems)
			}
			if len(stack) >= maxMetadataDepth {
				return fmt.Errorf("elements nested more than %d deep", maxMetadataDepth)
			}
			var f *mdFrame
			if len(stack) == 0 {
				roots++
				if roots > 1 {
					return errors.New("more than one root element")
				}
				if t.Name != (xml.Name{Space: nsMetadata, Local: "EntityDescriptor"}) {
					return fmt.Errorf("root element is %s, want md:EntityDescriptor (one service provider per file)", showName(t.Name))
				}
				f = &mdFrame{name: t.Name}
			} else {
				if f, err = childFrame(stack[len(stack)-1], t.Name); err != nil {
					return err
				}
			}
			if err := checkAttrs(t, f); err != nil {
				return err
			}
			stack = append(stack, f)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text outside the root element")
			}
		case xml.Directive:
			return errors.New("a DOCTYPE or other directive is not allowed")
		case xml.ProcInst:
			if t.Target != "xml" || !first {
				return fmt.Errorf("processing instruction <?%s?> is not allowed", t.Target)
			}
		}
	}
	if roots == 0 {
		return errors.New("no root element")
	}
	return nil
}

// childFrame checks that child may appear in parent and returns its frame.
func childFrame(parent *mdFrame, child xml.Name) (*mdFrame, error) {
	f := &mdFrame{name: child}
	switch {
	case parent.free:
		f.free = true
		return f, nil
	case parent.dsOnly:
		if child.Space != nsDSig {
			return nil, fmt.Errorf("element %s is not allowed in ds:%s", showName(child), parent.name.Local)
		}
		f.dsOnly = child.Local == "X509Data"
		f.free = !f.dsOnly
	case child.Space == nsMetadata:
		switch child.Local {
		case "Extensions", "RoleDescriptor", "EncryptionMethod":
			f.free = true
		}
	case child == xml.Name{Space: nsDSig, Local: "Signature"}:
		f.free = true
	case child == xml.Name{Space: nsDSig, Local: "KeyInfo"} && parent.name.Local == "KeyDescriptor":
		f.dsOnly = true
	case child == xml.Name{Space: nsAssertion, Local: "AttributeValue"} && parent.name.Local == "RequestedAttribute":
		f.free = true
	default:
		return nil, fmt.Errorf("element %s is not allowed in md:%s", showName(child), parent.name.Local)
	}
	if singletons[child] {
		if parent.seen[child] {
			return nil, fmt.Errorf("more than one %s in %s", showName(child), showName(parent.name))
		}
		if parent.seen == nil {
			parent.seen = map[xml.Name]bool{}
		}
		parent.seen[child] = true
	}
	return f, nil
}

// checkAttrs refuses a repeated attribute on any element, and a
// namespace-qualified one, other than xml:* and xsi:*, on a metadata or
// signature element that crewjam reads.
func checkAttrs(t xml.StartElement, f *mdFrame) error {
	var seen map[xml.Name]bool // for many attributes: stay linear
	if len(t.Attr) > 8 {
		seen = make(map[xml.Name]bool, len(t.Attr))
	}
	for i, a := range t.Attr {
		repeated := seen[a.Name]
		if seen != nil {
			seen[a.Name] = true
		} else {
			repeated = slices.ContainsFunc(t.Attr[:i], func(p xml.Attr) bool { return p.Name == a.Name })
		}
		if repeated {
			return fmt.Errorf("attribute %s repeated on %s", showName(a.Name), showName(t.Name))
		}
		if f.free {
			continue
		}
		switch a.Name.Space {
		case "", "xmlns", nsXML, nsXSI:
		default:
			return fmt.Errorf("attribute %s is not allowed on %s", showName(a.Name), showName(t.Name))
		}
	}
	return nil
}

// showName writes a name with the usual prefix of its namespace.
func showName(n xml.Name) string {
	switch n.Space {
	case nsMetadata:
		return "md:" + n.Local
	case nsDSig:
		return "ds:" + n.Local
	case nsAssertion:
		return "saml:" + n.Local
	case "":
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}
