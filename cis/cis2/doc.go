// Package cis2 is a relying party for NHS CIS2 Authentication, the OpenID
// Connect successor of the legacy GAS/SSB smartcard flow. It logs a user in
// with the Authorization Code flow (PKCE S256, state, nonce), checks the ID
// token and the assurance (acr/amr) policy, reads the UserInfo roles, and
// hands back the same model as the legacy path: a cis.User with its
// cis.RoleProfile list and the selected role id. Later it revalidates the
// grant (UserInfo, refresh) and builds the RP-initiated logout request.
//
// The protocol work is done by github.com/coreos/go-oidc/v3 (discovery
// data, ID token signature, issuer, audience and expiry) and
// golang.org/x/oauth2 (authorization URL, PKCE, code exchange, refresh);
// the private_key_jwt client assertion is signed with go-jose's jwt
// package, since x/oauth2 has no helper for it. Nothing here parses or signs
// JOSE by hand.
//
// A web application drives it in three steps, keeping everything but the
// authorization URL on the server, bound to the browser's session:
//
//	req, _ := rp.Begin(cis2.BeginOptions{})       // keep req.Pending server side
//	http.Redirect(w, r, req.URL, http.StatusFound)
//	…
//	login, err := rp.Finish(ctx, &pending, r.URL.RawQuery) // at the callback
//	…
//	login, err = rp.Revalidate(ctx, login)        // at the revalidation interval
//
// Errors say what failed: every refused login matches ErrRefused (and a
// more precise sentinel such as ErrState, ErrIDToken, ErrAssurance); a grant
// the provider says is gone matches cis.ErrSessionInvalid; an unreachable,
// slow or failing provider cis.ErrUnavailable or cis.ErrTimeout — so
// cis.HTTPStatus sorts them as it does the legacy ones.
//
// It is not web middleware (package middleware builds sessions, guards and
// routes on top of it) and not a general OpenID Connect library: it knows
// CIS2's scopes, claims and assurance values.
package cis2
