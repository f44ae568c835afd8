package proxy

import (
	"net/url"
	"strings"
)

// cleanRequestPath reports whether u's path is one the proxy forwards: it
// starts with "/", has no empty segment ("//"), no "." or ".." segment
// (also before a ";", which some servers cut off), no backslash, no control
// character, and no percent-encoded slash or backslash. An upstream that
// normalises paths would otherwise serve "/public/../admin" as "/admin"
// after the proxy matched it against the rule for "/public/".
func cleanRequestPath(u *url.URL) bool {
	if !cleanPath(u.Path) {
		return false
	}
	if u.RawPath == "" {
		return true // no escapes beyond what Path shows
	}
	raw := u.RawPath
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		if h := raw[i+1 : i+3]; strings.EqualFold(h, "2f") || strings.EqualFold(h, "5c") {
			return false
		}
	}
	return true
}

// cleanPath is cleanRequestPath for a decoded path.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			if c < ' ' || c == 0x7f || c == '\\' {
				return false
			}
			if c != '/' {
				continue
			}
		}
		seg := p[start:i]
		if seg == "" && i < len(p) {
			return false // "//"
		}
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
		}
		if seg == "." || seg == ".." {
			return false
		}
		start = i + 1
	}
	return true
}
