package cis

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

// contentInfo is CMS ContentInfo (RFC 5652 §3).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, built and read by hand
}

// signedData is CMS SignedData as SignChallenge writes it (RFC 5652 §5.1).
type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue // [0] IMPLICIT SET OF Certificate
	SignerInfos      []signerInfo  `asn1:"set"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"explicit,tag:0"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
}

// digestOID returns the digest algorithm OID for h: SHA-1 (what cards and
// GAS use) or SHA-256.
func digestOID(h crypto.Hash) (asn1.ObjectIdentifier, error) {
	switch h {
	case crypto.SHA1:
		return oidSHA1, nil
	case crypto.SHA256:
		return oidSHA256, nil
	}
	return nil, fmt.Errorf("cis: CMS: digest %v not supported (want SHA-1 or SHA-256)", h)
}

// ContextSigner is a crypto.Signer whose signing also takes a context, so
// the caller can stop it: a card's signer (pcsc.ContextSigner satisfies
// this) gives up when the login is cancelled or the card is pulled.
type ContextSigner interface {
	crypto.Signer
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// SignChallenge signs content (the decoded GAS challenge) with signer and
// wraps it as CMS SignedData in DER, the way smartcard agents do: version 1,
// the content attached as id-data, cert included, one SignerInfo identified
// by issuer and serial number, no signed attributes, digest algorithm hash
// (SHA-1 or SHA-256, with NULL parameters) and signature algorithm
// rsaEncryption; the signature is PKCS #1 v1.5 over hash(content). The
// signer's public key must be cert's, and RSA.
//
// A signer that is a ContextSigner signs with SignContext(ctx, …), so a
// cancelled ctx stops a signature in flight; any other signer is called
// only if ctx is still live.
func SignChallenge(ctx context.Context, signer crypto.Signer, cert *x509.Certificate, content []byte, hash crypto.Hash) ([]byte, error) {
	if signer == nil || cert == nil {
		return nil, errors.New("cis: CMS: signer and certificate required")
	}
	dOID, err := digestOID(hash)
	if err != nil {
		return nil, err
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil, errors.New("cis: CMS: certificate key is not RSA")
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("cis: CMS: signer's key does not match the certificate")
	}
	h := hash.New()
	h.Write(content)
	var sig []byte
	if cs, ok := signer.(ContextSigner); ok {
		sig, err = cs.SignContext(ctx, h.Sum(nil), hash)
	} else if err = ctx.Err(); err == nil {
		sig, err = signer.Sign(rand.Reader, h.Sum(nil), hash)
	}
	if err != nil {
		return nil, fmt.Errorf("cis: CMS: sign: %w", err)
	}
	digestAlg := pkix.AlgorithmIdentifier{Algorithm: dOID, Parameters: asn1.NullRawValue}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{digestAlg},
		EncapContentInfo: encapContentInfo{EContentType: oidData, EContent: content},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cert.Raw},
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                issuerAndSerial{Issuer: asn1.RawValue{FullBytes: cert.RawIssuer}, Serial: cert.SerialNumber},
			DigestAlgorithm:    digestAlg,
			SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidRSA, Parameters: asn1.NullRawValue},
			Signature:          sig,
		}},
	}
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("cis: CMS: %w", err)
	}
	return asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
}
