package cis

import "bytes"

// answerOK reports whether the answer to a role selection or a logout says
// OK, as GAS and the SSB write it (<HTML><STATUS>OK</STATUS></HTML>): the
// body holds exactly one STATUS element (its tag in any case, without
// attributes) whose text, less XML white space around it, is OK; or the
// body is OK alone, less XML white space around it. A body that merely
// holds the word ("NOT OK", "Click OK to continue", an error page) is not
// OK, and neither is "ok".
func answerOK(body []byte) bool {
	if string(trimXMLSpace(body)) == "OK" {
		return true
	}
	lower := asciiLower(body) // same length and offsets as body
	const open, end = "<status>", "</status>"
	if bytes.Count(lower, []byte("<status")) != 1 || bytes.Count(lower, []byte("</status")) != 1 {
		return false
	}
	i := bytes.Index(lower, []byte(open))
	j := bytes.Index(lower, []byte(end))
	if i < 0 || j < i+len(open) {
		return false
	}
	return string(trimXMLSpace(body[i+len(open):j])) == "OK"
}

// asciiLower returns a copy of b with ASCII capitals made small; other
// bytes are kept, so offsets in it are offsets in b.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
