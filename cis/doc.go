// Package cis speaks the legacy NHS Care Identity Service (CIS) smartcard
// protocol: the gpOBJECT messages of the Government Authentication Service
// (GAS), the card-signed CMS challenge response, the SSB RoleAssertion (SAML
// 1.1) and the user and role model that a supplier application authorises on.
//
// It holds the clients (GASClient for a workstation's login, SSBClient for a
// server validating a ticket, SessionServiceClient for checking and keeping
// alive an SSO session through OpenSSO's session service), the parsers for every message they receive,
// and the environments they talk to (the NHS development environment, the
// local simulator, or one loaded from an environment file).
//
// It is not a card layer: signing is done by any crypto.Signer (package pcsc
// offers one for PKCS#11 tokens), and nothing here needs cgo. It is not web
// middleware either: package middleware builds sessions on top of it.
//
// Session notifications (OpenSSO session listeners) let CIS push the end of
// an SSO session instead of waiting for the next revalidation.
// AddSessionListenerRequest and ParseAddSessionListenerResponse are the two
// halves of registering a listener URL for a ticket with the session
// service; ParseNotificationSet reads what CIS then POSTs to that URL (a
// NotificationSet of SessionEvents: logout, idle or maximum timeout,
// destroy, property change, with the session's state); and
// NotificationHandler is the http.Handler to serve at the URL, answering
// "OK" and handing the parsed events to a callback. NamingClient finds the
// session service as OpenSSO clients do (GetNamingProfile on the naming
// service, the answer cached, the environment's own URL as the fallback),
// and SessionListenerClient registers a listener there. A notification carries
// no authentication of any kind: anyone who can reach the listener can send
// one. Treat every event as a hint to ask CIS about that session again
// (RoleAssertion or GetSession), never as proof that it ended or changed,
// and keep revalidating periodically for when notifications stop arriving.
//
// The RoleAssertion is unsigned. Its only authority is that this package
// fetched it over TLS verified against the environment's trust anchors, so
// never parse one that a browser or client supplied and treat it as proof.
package cis
