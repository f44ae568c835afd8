// Package vcard is a virtual PIV smartcard for tests and demos: the fake that
// stands next to a real NHS smartcard.
//
// A Card answers the subset of NIST SP 800-73-4 that OpenSC's PIV driver needs
// (SELECT, GET DATA for the CHUID, discovery and 9A certificate objects, VERIFY
// with a retry counter and lockout, GENERAL AUTHENTICATE with the RSA key of
// slot 9A, GET RESPONSE and command chaining). Card.Insert connects it to
// pcscd's vsmartcard vpcd driver over TCP, so that pcscd, OpenSC's
// opensc-pkcs11.so and every PC/SC tool see a real card in a reader; Pull
// takes it out again. Card.Transmit answers one APDU in process, with no
// reader at all.
//
// Provision mints a card like an NHS authentication card: an RSA-2048 key and
// a certificate with subject O=nhs, OU=people, CN=<12-digit user id>, signed
// by a test CA. Load and CardFile.Save read and write the card file used by
// the cis-vcard command.
//
// The package is pure Go (no cgo). It is not a secure element: the key and
// PIN live in process memory and in the card file, the RSA operation is not
// hardened against side channels, and it exists to exercise the real PC/SC and
// PKCS#11 stacks without hardware. Never provision a card with a CA that
// anything real trusts.
package vcard
