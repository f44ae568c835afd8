package cis

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// MaxCMSSize bounds the size of a CMS message VerifyChallenge accepts: a
// signed challenge with one card certificate is about 2 KiB.
const MaxCMSSize = 64 << 10

// maxCMSCerts bounds the certificates parsed out of one message.
const maxCMSCerts = 8

func cmsMalformed(format string, args ...any) error {
	return &ParseError{What: "CMS", Offset: -1, Msg: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func cmsInvalid(format string, args ...any) error {
	return fmt.Errorf("cis: CMS: %s: %w", fmt.Sprintf(format, args...), ErrValidationFailed)
}

// VerifyChallenge checks a CMS SignedData with attached content, as a GAS
// does with the response of a login, and returns the content and the
// signer's certificate. It reads DER and the BER forms openssl writes
// (indefinite lengths, constructed OCTET STRINGs), digest SHA-1 or SHA-256
// with NULL or absent parameters, signature algorithm rsaEncryption or
// sha1/sha256WithRSAEncryption, and signed attributes if present (their
// messageDigest must match). The signature is checked with the embedded
// certificate that matches the signer identifier; the certificate itself is
// not checked against any CA: that is the caller's business. Garbage is a
// *ParseError wrapping ErrMalformed (ErrTooLarge above MaxCMSSize); a
// signature that does not verify wraps ErrValidationFailed.
func VerifyChallenge(der []byte) (content []byte, signer *x509.Certificate, err error) {
	if len(der) > MaxCMSSize {
		return nil, nil, &ParseError{What: "CMS", Offset: -1, Msg: fmt.Sprintf("larger than %d bytes", MaxCMSSize), Err: ErrTooLarge}
	}
	d, err := berToDER(der)
	if err != nil {
		return nil, nil, cmsMalformed("%v", err)
	}
	top, err := derElems(d, false)
	if err != nil || len(top) != 2 {
		return nil, nil, cmsMalformed("not a ContentInfo")
	}
	var ct asn1.ObjectIdentifier
	if err := unmarshalExact(top[0].FullBytes, &ct); err != nil || !ct.Equal(oidSignedData) {
		return nil, nil, cmsMalformed("content type is not signedData")
	}
	if !isContext(top[1], 0, true) {
		return nil, nil, cmsMalformed("ContentInfo content not [0]")
	}
	sd, err := derElems(top[1].Bytes, true)
	if err != nil || len(sd) != 1 {
		return nil, nil, cmsMalformed("bad SignedData")
	}
	el, err := derElems(sd[0].Bytes, true)
	if err != nil || len(el) < 4 {
		return nil, nil, cmsMalformed("bad SignedData")
	}
	if content, err = parseEncap(el[2]); err != nil {
		return nil, nil, err
	}
	si, certs, err := parseSignedData(el)
	if err != nil {
		return nil, nil, err
	}
	if signer, err = verifySignerInfo(si, certs, content); err != nil {
		return nil, nil, err
	}
	return content, signer, nil
}

// parseEncap returns the attached content of an EncapsulatedContentInfo.
func parseEncap(ec asn1.RawValue) ([]byte, error) {
	encap, err := derElems(ec.Bytes, true)
	if err != nil || len(encap) < 1 || len(encap) > 2 {
		return nil, cmsMalformed("bad EncapsulatedContentInfo")
	}
	var ct asn1.ObjectIdentifier
	if err := unmarshalExact(encap[0].FullBytes, &ct); err != nil || !ct.Equal(oidData) {
		return nil, cmsMalformed("encapsulated content is not id-data")
	}
	if len(encap) != 2 || !isContext(encap[1], 0, true) {
		return nil, cmsMalformed("no attached content (detached signatures not supported)")
	}
	var content []byte
	if err := unmarshalExact(encap[1].Bytes, &content); err != nil {
		return nil, cmsMalformed("bad eContent")
	}
	return content, nil
}

// parseSignedData returns the one SignerInfo and the certificates of the
// SignedData elements el.
func parseSignedData(el []asn1.RawValue) (asn1.RawValue, []*x509.Certificate, error) {
	var version int
	if err := unmarshalExact(el[0].FullBytes, &version); err != nil || version < 1 || version > 5 {
		return asn1.RawValue{}, nil, cmsMalformed("bad SignedData version")
	}
	var certs []*x509.Certificate
	for _, e := range el[3 : len(el)-1] {
		if !isContext(e, 0, true) {
			continue // [1] CRLs
		}
		ce, err := derElems(e.Bytes, true)
		if err != nil {
			return asn1.RawValue{}, nil, cmsMalformed("bad certificates")
		}
		for _, c := range ce {
			if c.Class != asn1.ClassUniversal || c.Tag != asn1.TagSequence {
				continue // other certificate choices
			}
			if len(certs) == maxCMSCerts {
				return asn1.RawValue{}, nil, cmsMalformed("more than %d certificates", maxCMSCerts)
			}
			cert, err := x509.ParseCertificate(c.FullBytes)
			if err != nil {
				return asn1.RawValue{}, nil, cmsMalformed("certificate: %v", err)
			}
			certs = append(certs, cert)
		}
	}
	last := el[len(el)-1]
	if last.Class != asn1.ClassUniversal || last.Tag != asn1.TagSet {
		return asn1.RawValue{}, nil, cmsMalformed("no SignerInfos")
	}
	sis, err := derElems(last.Bytes, true)
	if err != nil || len(sis) != 1 {
		return asn1.RawValue{}, nil, cmsMalformed("want exactly one SignerInfo")
	}
	return sis[0], certs, nil
}

// verifySignerInfo checks the signature of si over content with the
// matching certificate in certs.
func verifySignerInfo(si asn1.RawValue, certs []*x509.Certificate, content []byte) (*x509.Certificate, error) {
	el, err := derElems(si.Bytes, true)
	if err != nil || len(el) < 5 || len(el) > 7 {
		return nil, cmsMalformed("bad SignerInfo")
	}
	cert, err := findSigner(el[1], certs)
	if err != nil {
		return nil, err
	}
	hash, err := cmsDigest(el[2])
	if err != nil {
		return nil, err
	}
	i := 3
	var signedAttrs *asn1.RawValue
	if isContext(el[i], 0, true) {
		signedAttrs = &el[i]
		i++
	}
	if i+1 >= len(el) || len(el) > i+3 || len(el) == i+3 && !isContext(el[i+2], 1, true) {
		return nil, cmsMalformed("bad SignerInfo")
	}
	if err := checkSigAlg(el[i], hash); err != nil {
		return nil, err
	}
	var sig []byte
	if err := unmarshalExact(el[i+1].FullBytes, &sig); err != nil {
		return nil, cmsMalformed("bad signature field")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, cmsInvalid("signer key is not RSA")
	}
	h := hash.New()
	h.Write(content)
	digest := h.Sum(nil)
	if signedAttrs != nil {
		if err := checkSignedAttrs(signedAttrs, digest); err != nil {
			return nil, err
		}
		set := append([]byte{0x31}, signedAttrs.FullBytes[1:]...) // signed as a DER SET OF
		h := hash.New()
		h.Write(set)
		digest = h.Sum(nil)
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return nil, cmsInvalid("signature does not verify")
	}
	return cert, nil
}

// findSigner returns the certificate named by the signer identifier: issuer
// and serial number, or (version 3) subject key identifier.
func findSigner(sid asn1.RawValue, certs []*x509.Certificate) (*x509.Certificate, error) {
	var ias struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	ski := isContext(sid, 0, false)
	if !ski {
		if err := unmarshalExact(sid.FullBytes, &ias); err != nil {
			return nil, cmsMalformed("bad signer identifier")
		}
	}
	for _, c := range certs {
		if ski && len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, sid.Bytes) ||
			!ski && bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes) && c.SerialNumber.Cmp(ias.Serial) == 0 {
			return c, nil
		}
	}
	return nil, cmsInvalid("no embedded certificate matches the signer")
}

// cmsDigest maps a digest AlgorithmIdentifier to a hash.
func cmsDigest(v asn1.RawValue) (crypto.Hash, error) {
	alg, err := algID(v)
	if err != nil {
		return 0, err
	}
	switch {
	case alg.Equal(oidSHA1):
		return crypto.SHA1, nil
	case alg.Equal(oidSHA256):
		return crypto.SHA256, nil
	}
	return 0, cmsInvalid("digest algorithm %s not supported", clip(alg.String()))
}

func checkSigAlg(v asn1.RawValue, h crypto.Hash) error {
	alg, err := algID(v)
	if err != nil {
		return err
	}
	if alg.Equal(oidRSA) || h == crypto.SHA1 && alg.Equal(oidSHA1WithRSA) || h == crypto.SHA256 && alg.Equal(oidSHA256WithRSA) {
		return nil
	}
	return cmsInvalid("signature algorithm %s not supported with %v", clip(alg.String()), h)
}

// algID reads an AlgorithmIdentifier whose parameters are NULL or absent.
func algID(v asn1.RawValue) (asn1.ObjectIdentifier, error) {
	var a pkix.AlgorithmIdentifier
	if err := unmarshalExact(v.FullBytes, &a); err != nil {
		return nil, cmsMalformed("bad algorithm identifier")
	}
	p := a.Parameters
	if len(p.FullBytes) != 0 && !(p.Class == asn1.ClassUniversal && p.Tag == asn1.TagNull && len(p.Bytes) == 0) {
		return nil, cmsMalformed("algorithm parameters not NULL")
	}
	return a.Algorithm, nil
}

// checkSignedAttrs requires content type id-data and a messageDigest equal
// to digest.
func checkSignedAttrs(raw *asn1.RawValue, digest []byte) error {
	attrs, err := derElems(raw.Bytes, true)
	if err != nil {
		return cmsMalformed("bad signed attributes")
	}
	var sawType, sawDigest bool
	for _, a := range attrs {
		var attr struct {
			Type   asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}
		if err := unmarshalExact(a.FullBytes, &attr); err != nil || len(attr.Values) != 1 {
			return cmsMalformed("bad signed attribute")
		}
		switch {
		case attr.Type.Equal(oidContentType):
			var ct asn1.ObjectIdentifier
			if err := unmarshalExact(attr.Values[0].FullBytes, &ct); err != nil || !ct.Equal(oidData) {
				return cmsInvalid("signed content type is not id-data")
			}
			sawType = true
		case attr.Type.Equal(oidMessageDigest):
			var md []byte
			if err := unmarshalExact(attr.Values[0].FullBytes, &md); err != nil {
				return cmsMalformed("bad messageDigest")
			}
			if !bytes.Equal(md, digest) {
				return cmsInvalid("messageDigest does not match the content")
			}
			sawDigest = true
		}
	}
	if !sawType || !sawDigest {
		return cmsInvalid("signed attributes lack content type or message digest")
	}
	return nil
}

// derElems splits b into its DER elements. With inner false, b must be
// exactly one element and its children are returned.
func derElems(b []byte, inner bool) ([]asn1.RawValue, error) {
	if !inner {
		var v asn1.RawValue
		if err := unmarshalExact(b, &v); err != nil {
			return nil, err
		}
		if !v.IsCompound {
			return nil, fmt.Errorf("not constructed")
		}
		b = v.Bytes
	}
	var out []asn1.RawValue
	for len(b) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(b, &v)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

func unmarshalExact(b []byte, v any) error {
	rest, err := asn1.Unmarshal(b, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func isContext(v asn1.RawValue, tag int, compound bool) bool {
	return v.Class == asn1.ClassContextSpecific && v.Tag == tag && v.IsCompound == compound
}
