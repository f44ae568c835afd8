// Package proxy is the reverse proxy of cis-proxy: it puts the CIS
// middleware (package middleware) in front of a web application written in
// any language, and tells the application who the user is and which role
// they selected in X-CIS-* request headers.
//
// A Proxy answers, in this order: its health check (HealthPath), its login
// page (GET LoginPagePath, a page that asks the workstation agent for the
// smartcard session's ticket and posts it to the middleware's login
// endpoint), the SAML 2.0 bridge (package middleware/samlidp) when one is
// configured, the middleware's own endpoints (/cis/login, /cis/logout, …),
// and forwards everything else to the upstream through
// httputil.ReverseProxy, after the middleware has found the request's
// session and the path's rule (see Rules) has allowed its selected role.
//
// What the upstream receives: every X-CIS-* header the client sent is
// removed (also spelt with underscores, which some servers read as
// hyphens), then X-CIS-UID, X-CIS-Name, X-CIS-Role-ID, X-CIS-Org-Code,
// X-CIS-Job-Role-Code and X-CIS-Activities (comma-separated) are set from
// the session; the proxy's session cookie is taken out of the Cookie
// header; X-Forwarded-For, -Host and -Proto are set afresh.
//
// What it refuses before any rule is looked at: a path that is not clean
// ("//", "/./", "/../", a ".." segment before ";", a backslash, an encoded
// slash or backslash), so that an upstream that normalises paths cannot be
// reached through a path that matched another rule; a cross-origin request
// with an unsafe method (http.CrossOriginProtection); a WebSocket handshake
// from another origin.
//
// It is not a general-purpose proxy: one upstream, no load balancing, no
// caching, no URL rewriting. cmd/cis-proxy builds one from flags and a
// YAML file (see File).
package proxy
