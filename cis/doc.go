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
// The RoleAssertion is unsigned. Its only authority is that this package
// fetched it over TLS verified against the environment's trust anchors, so
// never parse one that a browser or client supplied and treat it as proof.
package cis
