package proxy

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzParseFile: no input panics, and a file that parses has rules that
// compile.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("upstream: http://127.0.0.1:3000\nrules:\n  - path: /admin/\n    job_roles: [R8000]\n"))
	f.Add([]byte("rules:\n  - path: /static/\n    public: true\n  - path: /records\n    activities: [B0264]\n    orgs: [RCJ]\n"))
	f.Add([]byte("saml:\n  idp_key: k.pem\n  idp_cert: c.pem\n  sp_metadata: [a.xml, /etc/b.xml]\nrevalidate: 30s\n"))
	f.Add([]byte("rules: [{path: /x/, public: true, activities: [B1]}]"))
	f.Add([]byte("--- \na: 1\n--- \nb: 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := ParseFile(b, "/etc/cis-proxy")
		if err != nil {
			return
		}
		if _, err := CompileRules(fl.Rules); err != nil {
			t.Fatalf("ParseFile accepted rules CompileRules refuses: %v", err)
		}
	})
}

// FuzzCleanPath: a path cleanRequestPath accepts is one path.Clean leaves
// alone (but for a trailing slash), so no upstream that cleans paths sees
// another path than the rules did.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b/", "/a/../b", "/a/./b", "//a", "/a;x/..;/b", `/a\b`, "/a%2fb", "/%2e%2e/x", "/a/b;c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.ParseRequestURI(raw)
		if err != nil || !cleanRequestPath(u) {
			return
		}
		c := path.Clean(u.Path)
		if c != strings.TrimSuffix(u.Path, "/") && c != u.Path {
			t.Fatalf("accepted %q (path %q), which cleans to %q", raw, u.Path, c)
		}
		for seg := range strings.SplitSeq(u.Path, "/") {
			if s, _, _ := strings.Cut(seg, ";"); s == ".." || s == "." {
				t.Fatalf("accepted %q with segment %q", raw, seg)
			}
		}
		if strings.Contains(strings.ToLower(u.EscapedPath()), "%2f") {
			t.Fatalf("accepted %q with an encoded slash", raw)
		}
	})
}

// FuzzStripCookie: the session cookie never reaches the upstream, other
// cookies do.
func FuzzStripCookie(f *testing.F) {
	f.Add("cis_session=abc; theme=dark", "x=1")
	f.Add("theme=dark;cis_session=abc;;", "cis_session=z")
	f.Add("cis_sessionx=1", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		h := http.Header{"Cookie": {a, b}}
		stripCookie(h, "cis_session")
		r := &http.Request{Header: h}
		for _, c := range r.Cookies() {
			if c.Name == "cis_session" {
				t.Fatalf("session cookie left in %q", h["Cookie"])
			}
		}
		before := (&http.Request{Header: http.Header{"Cookie": {a, b}}}).Cookies()
		kept := map[string]bool{}
		for _, c := range r.Cookies() {
			kept[c.Name+"="+c.Value] = true
		}
		for _, c := range before {
			if c.Name != "cis_session" && !kept[c.Name+"="+c.Value] {
				t.Fatalf("cookie %s=%s lost from %q, %q: %q", c.Name, c.Value, a, b, h["Cookie"])
			}
		}
	})
}
