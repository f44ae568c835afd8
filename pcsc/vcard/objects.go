package vcard

import (
	"crypto/sha256"
	"crypto/x509"
)

// pivAID is the full PIV application identifier (NIST SP 800-73-4 part 1,
// 2.2); SELECT may name any prefix of it from the RID (5 bytes) on.
var pivAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// PIV data object tags read with GET DATA.
const (
	tagCHUID     = 0x5FC102
	tagCert9A    = 0x5FC105
	tagDiscovery = 0x7E
)

// testFASCN is a FASC-N with agency code 9999 ("not a federal issuer"): for
// such cards OpenSC takes the token serial number from the CHUID GUID, which
// is unique per card here.
var testFASCN = []byte{
	0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68,
	0x58, 0x21, 0x08, 0x42, 0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB,
}

// selectResponse is the application property template answered to SELECT.
func selectResponse() []byte {
	inner := appendTLV(nil, 0x4F, pivAID[5:9]) // PIX of the application
	inner = appendTLV(inner, 0x79, appendTLV(nil, 0x4F, pivAID[:5]))
	inner = appendTLV(inner, 0x50, []byte("cisauth virtual PIV"))
	return appendTLV(nil, 0x61, inner)
}

// chuidObject is the Card Holder Unique Identifier: FASC-N, a GUID derived
// from the certificate, the expiry date, and an empty issuer signature.
func chuidObject(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	guid := sum[:16]
	var v []byte
	v = appendTLV(v, 0x30, testFASCN)
	v = appendTLV(v, 0x34, guid)
	v = appendTLV(v, 0x35, []byte(cert.NotAfter.UTC().Format("20060102")))
	v = appendTLV(v, 0x3E, nil)
	v = appendTLV(v, 0xFE, nil)
	return appendTLV(nil, 0x53, v)
}

// discoveryObject names the PIV AID and the PIN usage policy: the PIV
// application PIN only (40 00).
func discoveryObject() []byte {
	v := appendTLV(nil, 0x4F, pivAID)
	v = appendTLV(v, 0x5F2F, []byte{0x40, 0x00})
	return appendTLV(nil, 0x7E, v)
}

// certObject is the X.509 certificate for PIV authentication (slot 9A),
// uncompressed.
func certObject(cert *x509.Certificate) []byte {
	v := appendTLV(nil, 0x70, cert.Raw)
	v = appendTLV(v, 0x71, []byte{0x00})
	v = appendTLV(v, 0xFE, nil)
	return appendTLV(nil, 0x53, v)
}
