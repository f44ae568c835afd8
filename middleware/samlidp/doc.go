// Package samlidp is the SAML 2.0 identity provider bridge of cis-proxy: it
// lets a web application that speaks SAML 2.0 as a service provider (SP)
// sign NHS staff in with their CIS smartcard session, and tells it who they
// are and which role they selected, under the attribute names CIS2 uses for
// the same claims.
//
// It is built on github.com/crewjam/saml's IdentityProvider. The bridge has
// no login and no sessions of its own: the CIS session, read through
// Config.Identity, is the identity provider's session, and Config.Login is
// the only way to get one. cis-proxy plugs its middleware's session and
// login page into those two seams.
//
// # Flow
//
// The SP sends the browser to SSOPath with an AuthnRequest (HTTP-Redirect
// binding: GET; HTTP-POST binding: POST). The bridge checks it (known SP,
// assertion consumer service listed in the SP's metadata, signature if the
// request is signed or the SP's metadata says it signs). With a CIS session
// it answers at once with a page that posts a signed Response to the SP's
// assertion consumer service. Without one it calls Config.Login with a
// path on its own origin that repeats the request, and answers when the
// browser comes back signed in. The metadata at MetadataPath needs no
// session.
//
// # The assertion
//
// NameID: the uid (format unspecified). Attributes (NameFormat basic):
// nhsid_useruid, name (the display name, whole), selected_roleid, org_code,
// role_code, activity_codes (one value per code). Audience: the SP's entity
// ID; Recipient and Destination: its assertion consumer service;
// InResponseTo: the request's ID; AuthnContextClassRef: SmartcardPKI. The
// assertion is signed on its own (RSA-SHA256, SHA-256 digests, exclusive
// c14n), and so is the Response. Its validity window is
// Config.AssertionLifetime. It is encrypted (RSA-OAEP with SHA-256 and
// MGF1-SHA-256, AES-256-GCM) when, and only when, the SP's metadata offers
// an encryption key.
//
// # What it refuses
//
// New refuses to run without a signing key and certificate (it never makes
// a key), with an RSA key under MinRSABits, a certificate that is not the
// key's or is expired or signed with SHA-1, no service provider, or two
// with one entity ID. ParseServiceProvider refuses metadata that is not
// exactly one md:EntityDescriptor with one SPSSODescriptor for SAML 2.0, or
// is larger than MaxMetadataSize, has a DOCTYPE, elements or attributes in
// places and namespaces the schema does not put them, a repeated attribute
// or ds:KeyInfo, no HTTP-POST assertion consumer service, one that is not
// https (plain http only on loopback), two with one index, RSA keys under
// MinRSABits, an encryption key that is not RSA or whose listed algorithms
// exclude the bridge's suite. At sign-on it refuses an unknown SP, an
// assertion consumer service not in the SP's metadata, a request signed
// with SHA-1 or not signed when the SP's metadata says it signs, an
// expired request, the HTTP-POST-SimpleSign binding, and oversized
// requests and RelayState.
//
// # What it is not
//
// No IdP-initiated login (so no RelayState of the bridge's choosing is ever
// followed), no single logout, no HTTP-Artifact binding, no attribute
// query, no fetching of metadata over the network, no signed metadata. See
// docs/saml-bridge.md for how an SP registers and for the reasons.
package samlidp
