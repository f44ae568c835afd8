package middleware

import (
	"net/url"
	"strings"
)

// MaxReturnLen bounds a return path (the "return" of a login, refresh or
// logout, the path a browser without a session asked for): a longer one
// is replaced by "/". It leaves room for the SAML bridge's
// (middleware/samlidp) return to its sign-on endpoint, which carries the
// service provider's whole AuthnRequest: one signed with RSA-2048 and its
// certificate inside (HTTP-POST binding) already takes about 2.4 KiB.
const MaxReturnLen = 8 << 10

// safeReturn returns s if it is a path on this site to send a browser back
// to after login, refresh or logout, and "/" otherwise: never another
// origin (no open redirect). Accepted: a path starting with a single "/",
// optionally with a query, made of printable ASCII without backslashes.
// Rejected, among others: "//evil.example", "/\evil.example",
// "https://evil.example", "javascript:…", anything with control
// characters, spaces or a fragment, and anything longer than MaxReturnLen.
func safeReturn(s string) string {
	if s == "" || len(s) > MaxReturnLen || s[0] != '/' {
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
