package pcsc

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/miekg/pkcs11"

	"github.com/opencis/cisauth/internal/cisid"
)

// Caps on what a token may make us read: a card holds a handful of objects.
const (
	maxObjects   = 256
	maxCertBytes = 16 << 10
)

// candidate is one authentication key and certificate pair (or, before
// login, when private keys are hidden, a certificate alone).
type candidate struct {
	id         []byte
	cert       *x509.Certificate
	hasKey     bool
	key        pkcs11.ObjectHandle
	sign       bool
	alwaysAuth bool
}

// score ranks candidates by the rule of the CIS clients: a certificate
// whose CN is a 12-digit user id first, then one with keyUsage
// digitalSignature (or no keyUsage at all), then a key that signs without a
// per-operation PIN (PIV 9C "always authenticate" loses to 9A "PIV AUTH").
func (c candidate) score() int {
	s := 0
	if cisid.Valid(c.cert.Subject.CommonName) {
		s += 16
	}
	switch {
	case c.cert.KeyUsage&x509.KeyUsageDigitalSignature != 0:
		s += 8
	case c.cert.KeyUsage == 0:
		s += 4
	}
	if c.hasKey && c.sign {
		s += 2
	}
	if !c.alwaysAuth {
		s++
	}
	return s
}

// best returns the best candidate; ties go to the lowest CKA_ID (PIV 9A is
// ID 01 through OpenSC).
func best(cands []candidate) (candidate, bool) {
	if len(cands) == 0 {
		return candidate{}, false
	}
	return slices.MinFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(b.score(), a.score()); c != 0 {
			return c
		}
		return bytes.Compare(a.id, b.id)
	}), true
}

// findObjects returns the handles of objects matching tmpl, at most
// maxObjects. Called with t.mu held.
func (t *Token) findObjects(ctx context.Context, tmpl []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.p.FindObjectsInit(t.session, tmpl); err != nil {
		return nil, t.fail(ctx, "find objects", err)
	}
	var out []pkcs11.ObjectHandle
	for len(out) < maxObjects {
		hs, _, err := t.p.FindObjects(t.session, 32)
		if err != nil {
			_ = t.p.FindObjectsFinal(t.session)
			return nil, t.fail(ctx, "find objects", err)
		}
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	if err := t.p.FindObjectsFinal(t.session); err != nil {
		return nil, t.fail(ctx, "find objects", err)
	}
	return out[:min(len(out), maxObjects)], nil
}

// attributes reads the given attribute types of o; an attribute the object
// lacks (or hides) is left out instead of failing the whole read.
func (t *Token) attributes(o pkcs11.ObjectHandle, types ...uint) map[uint][]byte {
	tmpl := make([]*pkcs11.Attribute, len(types))
	for i, typ := range types {
		tmpl[i] = pkcs11.NewAttribute(typ, nil)
	}
	out := map[uint][]byte{}
	if attrs, err := t.p.GetAttributeValue(t.session, o, tmpl); err == nil {
		for _, a := range attrs {
			out[a.Type] = a.Value
		}
		return out
	}
	for _, typ := range types {
		if attrs, err := t.p.GetAttributeValue(t.session, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)}); err == nil && len(attrs) == 1 {
			out[typ] = attrs[0].Value
		}
	}
	return out
}

func boolAttr(v []byte) bool { return len(v) == 1 && v[0] != 0 }

type tokenCert struct {
	id   []byte
	cert *x509.Certificate
}

// certificates returns the token's X.509 certificates that parse and carry
// an RSA key. Called with t.mu held.
func (t *Token) certificates(ctx context.Context) ([]tokenCert, error) {
	hs, err := t.findObjects(ctx, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
	})
	if err != nil {
		return nil, err
	}
	var out []tokenCert
	for _, h := range hs {
		a := t.attributes(h, pkcs11.CKA_ID, pkcs11.CKA_VALUE)
		if c := parseTokenCert(a[pkcs11.CKA_ID], a[pkcs11.CKA_VALUE]); c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// parseTokenCert parses a certificate object's value; it returns nil for
// anything that is not a certificate with an RSA public key.
func parseTokenCert(id, der []byte) *tokenCert {
	if len(der) == 0 || len(der) > maxCertBytes {
		return nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil
	}
	return &tokenCert{id: bytes.Clone(id), cert: cert}
}

type tokenKey struct {
	handle     pkcs11.ObjectHandle
	id         []byte
	sign       bool
	alwaysAuth bool
	modulus    []byte
}

// privateKeys returns the RSA private keys that may sign (CKA_SIGN, or
// CKA_DECRYPT for raw RSA as the CIS clients use). Before login most tokens
// hide them. Called with t.mu held.
func (t *Token) privateKeys(ctx context.Context) ([]tokenKey, error) {
	hs, err := t.findObjects(ctx, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
	})
	if err != nil {
		return nil, err
	}
	var out []tokenKey
	for _, h := range hs {
		a := t.attributes(h, pkcs11.CKA_ID, pkcs11.CKA_SIGN, pkcs11.CKA_DECRYPT, pkcs11.CKA_ALWAYS_AUTHENTICATE, pkcs11.CKA_MODULUS)
		k := tokenKey{handle: h, id: a[pkcs11.CKA_ID], sign: boolAttr(a[pkcs11.CKA_SIGN]),
			alwaysAuth: boolAttr(a[pkcs11.CKA_ALWAYS_AUTHENTICATE]), modulus: a[pkcs11.CKA_MODULUS]}
		if k.sign || boolAttr(a[pkcs11.CKA_DECRYPT]) {
			out = append(out, k)
		}
	}
	return out, nil
}

// pairs matches keys and certificates by CKA_ID (and, where the key shows
// its modulus, by public key).
func pairs(keys []tokenKey, certs []tokenCert) []candidate {
	var out []candidate
	for _, k := range keys {
		for _, c := range certs {
			if !bytes.Equal(k.id, c.id) {
				continue
			}
			pub := c.cert.PublicKey.(*rsa.PublicKey)
			if len(k.modulus) > 0 && !bytes.Equal(bytes.TrimLeft(k.modulus, "\x00"), pub.N.Bytes()) {
				continue
			}
			out = append(out, candidate{id: c.id, cert: c.cert, hasKey: true, key: k.handle, sign: k.sign, alwaysAuth: k.alwaysAuth})
		}
	}
	return out
}

// authPair selects the authentication key and certificate; with keys
// hidden (before login) and certsOnly set it selects among certificates
// alone. Called with t.mu held.
func (t *Token) authPair(ctx context.Context, certsOnly bool) (candidate, error) {
	certs, err := t.certificates(ctx)
	if err != nil {
		return candidate{}, err
	}
	keys, err := t.privateKeys(ctx)
	if err != nil {
		return candidate{}, err
	}
	if c, ok := best(pairs(keys, certs)); ok {
		return c, nil
	}
	if certsOnly && len(keys) == 0 {
		cands := make([]candidate, len(certs))
		for i, c := range certs {
			cands[i] = candidate{id: c.id, cert: c.cert}
		}
		if c, ok := best(cands); ok {
			return c, nil
		}
	}
	if len(keys) == 0 && len(certs) > 0 && !t.loggedIn {
		return candidate{}, fmt.Errorf("pcsc: token %q: %w: private keys are hidden until login (%w)", t.reader, ErrNoKey, ErrNotLoggedIn)
	}
	return candidate{}, fmt.Errorf("pcsc: token %q: %w (%d RSA keys, %d RSA certificates)", t.reader, ErrNoKey, len(keys), len(certs))
}

// Certificate returns the authentication certificate: the one paired with
// the authentication key (see Signer), or, while the private keys are still
// hidden before login, the best certificate by the same rule (12-digit CN,
// keyUsage digitalSignature, lowest CKA_ID). Certificates are public, so it
// works without login.
func (t *Token) Certificate(ctx context.Context) (*x509.Certificate, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if t.cert != nil {
		return t.cert, nil
	}
	c, err := t.authPair(ctx, true)
	if err != nil {
		return nil, err
	}
	if c.hasKey {
		t.cert = c.cert // final: a pair cannot change while the card stays in
	}
	return c.cert, nil
}

// UID returns the CIS user id: the authentication certificate's CN, which
// must be 12 digits (ErrNoUID otherwise).
func (t *Token) UID(ctx context.Context) (string, error) {
	cert, err := t.Certificate(ctx)
	if err != nil {
		return "", err
	}
	cn := cert.Subject.CommonName
	if !cisid.Valid(cn) {
		return "", fmt.Errorf("%w: %q", ErrNoUID, cn)
	}
	return cn, nil
}
