package middleware

import (
	"net/url"
	"strings"
)

// maxReturnLen bounds a return path.
const maxReturnLen = 2048

// safeReturn returns s if it is a path on this site to send a browser back
// to after login, refresh or logout, and "/" otherwise: never another
// origin (no open redirect). Accepted: a path starting with a single "/",
// optionally with a query, made of printable ASCII without backslashes.
// Rejected, among others: "//evil.example", "/\evil.example",
// "https://evil.example", "javascript:…", anything with control
// characters, spaces or a fragment, and anything longer than 2 KiB.
func safeReturn(s string) string {
	if s == "" || len(s) > maxReturnLen || s[0] != '/' {
		return "/"
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '\\' || c == '#' {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	// Percent-encoded slashes and backslashes at the start decode to
	// "//" or "/\" in some servers' routing: refuse them there too.
	if p := strings.ToLower(u.EscapedPath()); strings.HasPrefix(p, "/%2f") || strings.HasPrefix(p, "/%5c") {
		return "/"
	}
	return s
}

// requestReturn is the path and query of the request, as a return path.
func requestReturn(u *url.URL) string {
	return safeReturn(u.RequestURI())
}
