// Package middleware puts NHS Care Identity Service (CIS) smartcard logins
// in front of any Go web application: who the user is and which role they
// selected, checked with the Spine Security Broker (SSB) or NHS CIS2, kept
// in a hardened server-side session, and enforced per page by activity code,
// job role or organisation.
//
//	m, err := middleware.New(middleware.Config{Env: env}) // env: cis.ResolveEnvironment("dev"), or cistest's
//	mux.Handle("/records", middleware.RequireActivity("B0264")(records))
//	http.ListenAndServeTLS(addr, cert, key, m.Handler(mux))
//
// Handler (and Optional, for pages that also serve visitors) has the
// func(http.Handler) http.Handler shape of net/http, chi and gorilla/mux
// middleware. It answers four endpoints itself (paths configurable):
//
//   - POST /cis/login: the ticket in the X-CIS-Ticket header (thick
//     clients), the form field "ticket" (a browser page; answered with a
//     redirect to the form's same-site "return" path) or a JSON body
//     {"ticket": …} (answered with the session as JSON). Never in the URL.
//   - POST /cis/refresh: ask the SSB now, so a role switched through GAS
//     shows at once.
//   - POST /cis/logout: end the session at once, on every instance (and
//     the SSO session at GAS, with Config.SSOLogout).
//   - GET /cis/session: the session as JSON.
//   - POST /cis/notify, with Config.Notify: session notifications from CIS
//     (below).
//
// With Config.CIS2 it also logs users in through NHS CIS2 (OpenID
// Connect), into the same session with Session.Source SourceCIS2, beside
// or instead of the ticket login:
//
//   - GET /cis/oidc/login?return=/path: to the CIS2 provider (state, nonce
//     and PKCE verifier kept on the server, bound to the browser by a
//     signed login cookie).
//   - GET /cis/oidc/callback: the provider's answer; the session starts and
//     the browser goes back to the return path.
//
// A CIS2 session is revalidated through the relying party (UserInfo,
// refresh) at the same interval, and a browser's logout also ends it at
// the provider (RP-initiated logout, by a posted form). See CIS2Config.
//
// Every other request gets its session in its context: SessionFrom,
// UserFrom, RoleFrom (and TicketFrom, to pass the ticket on to another CIS
// service). The selected role is always the one the identity source names
// as selected, never one a client chose. A CIS2 session may have no selected role:
// RoleFrom then reports false and guards refuse with 403, saying so.
//
// # What the middleware does for you
//
// The server fetches the RoleAssertion itself over the environment's
// verified TLS (the assertion is unsigned: this fetch is its only
// authority), checks its validity window with a bounded skew, and checks
// it again every Config.Revalidate (60 s): a pulled card, a logout or an
// expired SSO session ends the web session within that interval, on every
// instance. An SSB that is down, slow or in its maintenance slot makes
// requests fail with 503 and a Retry-After (the slot's end when known) —
// never a silent pass, never a logout — and a backoff keeps a failing SSB
// from a retry storm. Validations are cached per ticket (by its hash) for
// the interval, with one fetch in flight per ticket.
//
// With Config.Notify.ExternalURL set, each login also registers the
// application with CIS as a session listener (OpenSSO AddSessionListener,
// at the session service the naming service names), and a logout, an SSO
// timeout or an administrator's expiry ends the web session within
// milliseconds instead of at the next revalidation. A notification carries
// no authentication, so it is only ever a reason to ask the SSB at once —
// one check per ticket at a time, at most one per second, tickets without
// a session dropped after one index look-up — never a reason to end or
// change a session by itself; revalidation stays for the notifications
// that never come.
//
// Sessions live on the server (MemoryStore for one instance, RedisStore
// for a fleet); the cookie is only a random id signed with
// gorilla/securecookie (HttpOnly, Secure, SameSite=Lax, "__Host-" prefix,
// Max-Age and signature expiry tied to the ten-hour SSO session, rotating
// keys). The session id changes at login and whenever the selected role
// changes. Login, refresh and logout refuse cross-origin browser requests
// (http.CrossOriginProtection), return paths never leave the site, bodies
// are capped, and no ticket, cookie or session id reaches a log, a metric
// label or an answer. An authenticated request costs one map lookup: no
// signature check, no decoding, no network round trip.
//
// Guards (RequireActivity, RequireAnyActivity, RequireJobRole, RequireOrg,
// and the Guard values behind them) answer 401 without a session and 403
// with a page or JSON saying in plain words what the selected role lacks.
//
// # What it is not
//
// It is not a card layer or a workstation agent (the ticket comes from the
// agent's local API or the user), not an identity provider for other
// protocols (cis-proxy bridges to SAML 2.0), and not an authorisation
// policy engine: guards check what CIS says about the selected role,
// nothing more. It needs no cgo.
//
// docs/middleware.md describes the configuration, the endpoints, the
// security choices, the Redis fleet set-up and the metrics.
package middleware
