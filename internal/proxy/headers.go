package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/middleware"
)

// The headers that tell the upstream who is logged in. A request without
// a session (a public rule's) carries none of them; a session without a
// selected role (a CIS2 login without one) carries only the first two.
const (
	HeaderUID         = "X-Cis-Uid"
	HeaderName        = "X-Cis-Name"
	HeaderRoleID      = "X-Cis-Role-Id"
	HeaderOrgCode     = "X-Cis-Org-Code"
	HeaderJobRoleCode = "X-Cis-Job-Role-Code"
	HeaderActivities  = "X-Cis-Activities"
)

// rewrite returns the ReverseProxy's Rewrite: the upstream's URL, fresh
// X-Forwarded-* headers, no client X-CIS-* header and no session cookie,
// then the session's headers.
func (p *Proxy) rewrite(upstream *url.URL) func(*httputil.ProxyRequest) {
	cookie := p.mw.CookieName()
	return func(pr *httputil.ProxyRequest) {
		pr.Out.Header = withoutCISHeaders(pr.Out.Header)
		pr.SetURL(upstream) // Host: the upstream's; X-Forwarded-Host: the user's
		pr.SetXForwarded()
		h := pr.Out.Header
		stripCookie(h, cookie)
		if s, ok := middleware.SessionFrom(pr.In.Context()); ok {
			setCISHeaders(h, s.User, s.Role)
		}
	}
}

// addedHeaders is how many headers rewrite adds: X-Forwarded-For, -Host
// and -Proto and the six X-CIS-* ones.
const addedHeaders = 3 + 6

// withoutCISHeaders returns a copy of h without any header whose name
// starts with "X-CIS-", in any case, also spelt with underscores
// ("X_CIS_UID"): CGI, Rack, PHP and others turn both into HTTP_X_CIS_UID.
// The copy has room for addedHeaders more: growing the map (cloned by
// ReverseProxy at the request's size) to take them cost more than the
// copy.
func withoutCISHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h)+addedHeaders)
	for k, v := range h {
		if !isCISHeader(k) {
			out[k] = v
		}
	}
	return out
}

// isCISHeader reports whether k is "X-CIS-…" in any case, with hyphens or
// underscores.
func isCISHeader(k string) bool {
	return len(k) > 6 && (k[0] == 'x' || k[0] == 'X') && (k[1] == '-' || k[1] == '_') &&
		strings.EqualFold(k[2:5], "cis") && (k[5] == '-' || k[5] == '_')
}

// setCISHeaders sets the headers of a session; r is the zero RoleProfile
// when the session has no selected role.
//
// The six values share one backing array, each header's slice capped at
// its one value (an Add to one of them cannot write into the next): one
// allocation per request instead of six.
func setCISHeaders(h http.Header, u cis.User, r cis.RoleProfile) {
	if r.ID == "" {
		vs := []string{headerValue(u.UID), headerValue(u.Name)}
		h[HeaderUID], h[HeaderName] = vs[0:1:1], vs[1:2:2]
		return
	}
	vs := []string{
		headerValue(u.UID), headerValue(u.Name), headerValue(r.ID), headerValue(r.OrgCode),
		headerValue(r.JobRoleCode), headerValue(strings.Join(r.Activities, ",")),
	}
	h[HeaderUID], h[HeaderName] = vs[0:1:1], vs[1:2:2]
	h[HeaderRoleID], h[HeaderOrgCode] = vs[2:3:3], vs[3:4:4]
	h[HeaderJobRoleCode], h[HeaderActivities] = vs[4:5:5], vs[5:6:6]
}

// headerValue makes s safe as a header value: control characters become
// spaces (net/http refuses a request with CR or LF in a header, which would
// turn a strange display name into a 502). Other text, UTF-8 included, is
// passed as it is.
func headerValue(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < ' ' || r == 0x7f {
					return ' '
				}
				return r
			}, s)
		}
	}
	return s
}

// stripCookie takes the cookie called name out of h's Cookie headers: the
// upstream has no use for the proxy's session, and must not be able to
// leak it.
func stripCookie(h http.Header, name string) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	found := false
	for _, l := range lines {
		if strings.Contains(l, name) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	var kept []string
	for _, l := range lines {
		for part := range strings.SplitSeq(l, ";") {
			p := strings.TrimSpace(part)
			if n, _, _ := strings.Cut(p, "="); n == name || p == "" {
				continue
			}
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}
