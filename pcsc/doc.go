// Package pcsc is the smartcard layer: it watches PC/SC readers for cards
// being inserted and pulled (Monitor, WaitCard), talks APDUs to a card in one
// PC/SC transaction per command (Card), and uses a card or HSM through its
// PKCS#11 module (Token): PIN state and login, the authentication certificate,
// the user id in its CN, and a crypto.Signer over the authentication key.
//
// It is the only package of the module that uses cgo: it wraps
// github.com/ebfe/scard (libpcsclite, talking to pcscd) and
// github.com/miekg/pkcs11 (dlopen of a PKCS#11 module such as OpenSC's
// opensc-pkcs11.so or SoftHSM2's libsofthsm2.so). The rest of the module sees
// only crypto.Signer, *x509.Certificate, events and the errors declared here.
//
// It does not speak the CIS protocol (see package cis) and it does not read
// PINs from a person: the caller passes the PIN bytes and this package clears
// them after use.
//
// All cgo sits behind small unexported interfaces, so the logic (event
// tracking, PIN flag handling, key selection, error mapping) is unit-tested
// with fakes; the integration tests run against a real pcscd with the vpcd
// driver, the virtual PIV card of package pcsc/vcard, OpenSC and SoftHSM2.
package pcsc
