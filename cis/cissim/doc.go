// Package cissim simulates the legacy NHS CIS smartcard services — GAS
// (/login/*), the SSB (/saml/*) and the OpenSSO session and naming services
// (/amserver/*) — as one http.Handler, for tests, demos and suppliers' CI.
//
// It behaves like the real service rather than replaying canned text: it
// mints single-use challenges bound to an opaque server MAC, verifies the
// card's CMS signature and certificate chain against configured card CAs,
// keeps SSO sessions with idle and maximum lifetimes on an injected clock,
// and writes the replies in the shapes existing clients parse, quirks
// included (one gpPARAM per line, role texts with a raw "&", HTTP 200 with a
// non-Success SAML status for a dead ticket). Faults can be injected:
// latency, a 5xx fail rate, and maintenance slots answered with 503 and a
// maintenance page.
//
// Applications can register session listeners (OpenSSO AddSessionListener):
// when a session ends — logout, idle or maximum timeout, an administrator's
// expiry — the simulator POSTs a session notification to each, once and
// asynchronously, as CIS does (see docs/cis-sim.md). Timeouts of sessions
// with listeners are noticed by a timer when they happen; ExpireDue ends the
// sessions whose time ran out by an injected clock at once.
//
// Put a *Simulator in an httptest.Server (package cistest does that and
// logs users in for you), or run it with the cis-sim command. The state
// directory helpers (DefaultStateDir, LoadOrCreateCA, CardCAFiles, …) keep
// the command's TLS CA and card CA across restarts.
//
// It is not a production identity provider: it trusts whatever card CAs it
// is given, keeps sessions in memory only, and has no notion of real users
// beyond its users file.
package cissim
