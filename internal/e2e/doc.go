// Package e2e holds the project's end-to-end tests: a clinician's card logs
// in to CIS and a supplier's server learns who they are, with nothing faked
// but the card hardware.
//
// A virtual PIV card (package pcsc/vcard), provisioned by the simulator's
// card CA, sits in a vsmartcard vpcd reader of the real pcscd; OpenSC's
// opensc-pkcs11.so reads it through package pcsc (PIN, certificate, a
// crypto.Signer over the card key); cis.GASClient logs in over TLS to the
// CIS simulator (package cis/cistest), signing the challenge's CMS on the
// card, and selects a role; cis.SSBClient fetches and parses the SAML
// RoleAssertion as a supplier's server does. The card login and the logout
// on removal are the agent's own (agent.LogInWithCard,
// agent.LogoutOnRemoval): a pcsc.Monitor sees the card being pulled, the
// session is logged out, and the ticket dies. The agent daemon as a whole is
// tested in package internal/agent. The same login runs from a SoftHSM2 token, and a wrong PIN is shown
// never to reach GAS.
//
// The package has tests and benchmarks only. They need the real card stack
// (scripts/cardstack.sh, see package internal/stacktest): outside
// `make test` they skip without it, under `make test` they fail. They use
// readers 4 and 5 of stacktest's table ("Virtual PCD C 00 00" and
// "Virtual PCD C 00 01").
//
// What is not here: unit tests of the pieces (they live with each package)
// and the browser and middleware layers.
package e2e
