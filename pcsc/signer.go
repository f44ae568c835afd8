package pcsc

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"
	"slices"

	"github.com/miekg/pkcs11"
)

// digestInfoPrefix is the DER DigestInfo header (RFC 8017 §9.2, note 1) put
// before a digest for RSASSA-PKCS1-v1_5 with CKM_RSA_PKCS.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// pkcs1Input returns what CKM_RSA_PKCS signs for digest under opts: the
// DigestInfo for hash, or the digest itself when opts.HashFunc() is 0.
func pkcs1Input(digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, ok := opts.(*rsa.PSSOptions); ok {
		return nil, fmt.Errorf("pcsc: sign: %w: RSA-PSS", ErrMechanism)
	}
	h := crypto.Hash(0)
	if opts != nil {
		h = opts.HashFunc()
	}
	if h == 0 {
		return digest, nil
	}
	prefix, ok := digestInfoPrefix[h]
	if !ok {
		return nil, fmt.Errorf("pcsc: sign: %w: hash %v", ErrMechanism, h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("pcsc: sign: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	return append(slices.Clip(prefix), digest...), nil
}

// ContextSigner is a crypto.Signer whose signing also takes a context. The
// signer Token.Signer returns implements it.
type ContextSigner interface {
	crypto.Signer
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// tokenSigner signs with the token's authentication key. key is the key's
// handle as found at t.loginGen == gen (both under t.mu).
type tokenSigner struct {
	t   *Token
	key pkcs11.ObjectHandle
	gen uint64
	pub *rsa.PublicKey
}

var (
	_ crypto.Signer = (*tokenSigner)(nil)
	_ ContextSigner = (*tokenSigner)(nil)
)

// Signer returns a crypto.Signer over the authentication key (the rule of
// Certificate, applied to key and certificate pairs matched by CKA_ID). It
// needs Login first on tokens that hide private keys until then (both
// OpenSC and SoftHSM2 do: ErrNoKey otherwise).
//
// It signs RSASSA-PKCS1-v1_5: crypto.Signer hands over a digest, not the
// message, so it uses CKM_RSA_PKCS with the DigestInfo for opts.HashFunc()
// (SHA-1, SHA-224, SHA-256, SHA-384, SHA-512), or the bare input when
// HashFunc is 0. Tokens without CKM_RSA_PKCS give ErrMechanism; RSA-PSS is
// not supported. The signer is safe for concurrent use (see Token) and
// implements ContextSigner. It lives on across a Logout and Login of the
// Token (it finds its key again), and signs only while the Token is logged
// in.
func (t *Token) Signer(ctx context.Context) (crypto.Signer, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if err := t.requireMechanism(ctx, pkcs11.CKM_RSA_PKCS); err != nil {
		return nil, err
	}
	c, err := t.authPair(ctx, false)
	if err != nil {
		return nil, err
	}
	t.cert = c.cert
	return &tokenSigner{t: t, key: c.key, gen: t.loginGen, pub: c.cert.PublicKey.(*rsa.PublicKey)}, nil
}

// refind finds the signer's key again after the Token logged in or out
// (SoftHSM2 gives private keys new handles at each login): the
// authentication key, which must still be the one of s.pub. Called with
// s.t.mu held.
func (s *tokenSigner) refind(ctx context.Context) error {
	t := s.t
	c, err := t.authPair(ctx, false)
	if err != nil {
		return err
	}
	if !s.pub.Equal(c.cert.PublicKey) {
		return fmt.Errorf("pcsc: token %q: %w: the authentication key is no longer the signer's", t.reader, ErrNoKey)
	}
	s.key, s.gen = c.key, t.loginGen
	return nil
}

// requireMechanism checks the token's mechanism list. Called with t.mu held.
func (t *Token) requireMechanism(ctx context.Context, mech uint) error {
	if t.mechs == nil {
		ms, err := t.p.GetMechanismList(t.slot)
		if err != nil {
			return t.fail(ctx, "list mechanisms", err)
		}
		t.mechs = make([]uint, 0, len(ms))
		for _, m := range ms {
			t.mechs = append(t.mechs, m.Mechanism)
		}
	}
	if !slices.Contains(t.mechs, mech) {
		return fmt.Errorf("pcsc: token %q: %w: CKM_RSA_PKCS is not offered", t.reader, ErrMechanism)
	}
	return nil
}

// Public returns the RSA public key of the authentication certificate.
func (s *tokenSigner) Public() crypto.PublicKey { return s.pub }

// Sign signs digest with RSASSA-PKCS1-v1_5 (see Token.Signer); rand is not
// used, the token makes the signature.
func (s *tokenSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext is Sign with a context, checked before the token is used
// (a command already sent to the card is not interrupted).
func (s *tokenSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	in, err := pkcs1Input(digest, opts)
	if err != nil {
		return nil, err
	}
	if len(in) > s.pub.Size()-11 {
		return nil, fmt.Errorf("pcsc: sign: %d bytes of input do not fit a %d-bit key", len(in), s.pub.N.BitLen())
	}
	t := s.t
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.mu.Unlock()
	if s.gen != t.loginGen {
		if err := s.refind(ctx); err != nil {
			return nil, err
		}
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}
	if err := t.p.SignInit(t.session, mech, s.key); err != nil {
		return nil, t.fail(ctx, "sign init", err)
	}
	sig, err := t.p.Sign(t.session, in)
	if err != nil {
		return nil, t.fail(ctx, "sign", err)
	}
	return sig, nil
}
