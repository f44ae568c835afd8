package cissim

import "strconv"

// gpWriter writes gpOBJECT replies the way GAS does: one gpPARAM per line,
// a DOCTYPE naming https://<host>/login/dtd, and — on purpose — role texts
// and the display name written raw, so "Admin & Clerical" carries a bare
// "&" (the reply is then not well-formed XML; every real client copes, and
// ours must too). Values echoed from the request are escaped.
type gpWriter struct{ b []byte }

func newGPWriter(b []byte, base string) gpWriter {
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE USER SYSTEM \""...)
	b = appendAttrValue(b, base+"/login/dtd")
	b = append(b, "\">\n<gpOBJECT>\n"...)
	return gpWriter{b: b}
}

// param writes a parameter with an escaped value.
func (g *gpWriter) param(name, value string) {
	g.b = append(g.b, `<gpPARAM name="`...)
	g.b = append(g.b, name...)
	g.b = append(g.b, `">`...)
	g.b = appendText(g.b, value)
	g.b = append(g.b, "</gpPARAM>\n"...)
}

// raw writes a parameter value as it is (users-file texts, which cannot
// hold '<' or '>', so the line stays one gpPARAM).
func (g *gpWriter) raw(name, value string) {
	g.b = append(g.b, `<gpPARAM name="`...)
	g.b = append(g.b, name...)
	g.b = append(g.b, `">`...)
	g.b = append(g.b, value...)
	g.b = append(g.b, "</gpPARAM>\n"...)
}

// role writes nhsjobroleN with id before orgcode and the role text raw:
// `ORG NAME, "staff group":"sub group":"job role"`.
func (g *gpWriter) role(n int, id, orgCode, orgName, staff, sub, job string) {
	g.b = append(g.b, `<gpPARAM name="nhsjobrole`...)
	g.b = strconv.AppendInt(g.b, int64(n), 10)
	g.b = append(g.b, `" id="`...)
	g.b = appendAttrValue(g.b, id)
	g.b = append(g.b, `" orgcode="`...)
	g.b = appendAttrValue(g.b, orgCode)
	g.b = append(g.b, `">`...)
	g.b = append(g.b, orgName...)
	g.b = append(g.b, `, "`...)
	g.b = append(g.b, staff...)
	g.b = append(g.b, `":"`...)
	g.b = append(g.b, sub...)
	g.b = append(g.b, `":"`...)
	g.b = append(g.b, job...)
	g.b = append(g.b, "\"</gpPARAM>\n"...)
}

func (g *gpWriter) end() []byte { return append(g.b, "</gpOBJECT>\n"...) }
