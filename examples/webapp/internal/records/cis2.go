package records

import (
	"net/url"

	"github.com/opencis/cisauth/middleware"
)

// CIS2 logins are the middleware's: the app only links to its login path
// (middleware.DefaultCIS2LoginPath), with the page to come back to and,
// to choose a role afresh, prompt=login. The middleware checks the return
// path again (same site only) and keeps it on the server during the login.

// cis2Link is the CIS2 login path returning to ret (a path checked by
// localPath); with choose, the provider asks for a fresh login and role
// choice (prompt=login).
func cis2Link(ret string, choose bool) string {
	q := url.Values{}
	if ret = localPath(ret); ret != "/" {
		q.Set("return", ret)
	}
	if choose {
		q.Set("prompt", "login")
	}
	u := url.URL{Path: middleware.DefaultCIS2LoginPath, RawQuery: q.Encode()}
	return u.String()
}

// sourceNames say in plain words how a session was logged in
// (middleware.Session.Source).
var sourceNames = map[string]string{
	middleware.SourceSSB:  "smartcard ticket, checked with the Spine Security Broker (SSB)",
	middleware.SourceCIS2: "NHS CIS2 (OpenID Connect)",
}

// sourceName names a session's identity source for people.
func sourceName(source string) string {
	if n, ok := sourceNames[source]; ok {
		return n
	}
	return source
}
