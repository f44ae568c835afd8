package cissim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// maxPreviousKeys bounds the keys kept in the JWKS after rotations.
const maxPreviousKeys = 2

// signingKey is one key of the ring, ready to sign.
type signingKey struct {
	key    crypto.Signer
	kid    string
	alg    jose.SignatureAlgorithm
	signer jose.Signer
}

func newSigningKey(key crypto.Signer) (*signingKey, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("cissim: OIDC signing key: RSA key of %d bits, want 2048 or more", k.N.BitLen())
		}
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("cissim: OIDC signing key: ECDSA keys must be P-256 (ES256)")
		}
		alg = jose.ES256
	default:
		return nil, fmt.Errorf("cissim: OIDC signing key of type %T: want RSA or ECDSA P-256", key)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("cissim: OIDC signing key: %w", err)
	}
	sum := sha256.Sum256(spki)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("cissim: OIDC signing key: %w", err)
	}
	return &signingKey{key: key, kid: kid, alg: alg, signer: signer}, nil
}

func (k *signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.key.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// keyRing holds the signing key and the previous keys. The signing key is
// generated on first use when none was configured (RSA keys take a while
// to make, and most simulators never serve OIDC).
type keyRing struct {
	mu       sync.Mutex
	current  *signingKey
	previous []*signingKey
}

func newKeyRing(current crypto.Signer, previous []crypto.Signer) (*keyRing, error) {
	r := &keyRing{}
	if current != nil {
		k, err := newSigningKey(current)
		if err != nil {
			return nil, err
		}
		r.current = k
	}
	for _, p := range previous {
		k, err := newSigningKey(p)
		if err != nil {
			return nil, fmt.Errorf("previous key: %w", err)
		}
		r.previous = append(r.previous, k)
	}
	return r, nil
}

// GenerateOIDCKey makes a signing key of the kind CIS2 uses (RSA-2048).
func GenerateOIDCKey() (crypto.Signer, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("cissim: OIDC signing key: %w", err)
	}
	return k, nil
}

// currentLocked returns the signing key, generating it if needed.
func (r *keyRing) currentLocked() (*signingKey, error) {
	if r.current == nil {
		key, err := GenerateOIDCKey()
		if err != nil {
			return nil, err
		}
		if r.current, err = newSigningKey(key); err != nil {
			return nil, err
		}
	}
	return r.current, nil
}

// sign serialises claims as a JWT signed with the current key.
func (r *keyRing) sign(claims any) (string, error) {
	r.mu.Lock()
	k, err := r.currentLocked()
	r.mu.Unlock()
	if err != nil {
		return "", err
	}
	return jwt.Signed(k.signer).Claims(claims).Serialize()
}

// jwks is the public key set: current key first.
func (r *keyRing) jwks() (jose.JSONWebKeySet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.currentLocked()
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.jwk()}}
	for _, p := range r.previous {
		set.Keys = append(set.Keys, p.jwk())
	}
	return set, nil
}

// algorithms lists the ID token algorithms of the ring's keys.
func (r *keyRing) algorithms() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	algs := []string{}
	add := func(a jose.SignatureAlgorithm) {
		for _, x := range algs {
			if x == string(a) {
				return
			}
		}
		algs = append(algs, string(a))
	}
	if r.current == nil {
		add(jose.RS256) // what currentLocked will generate
	} else {
		add(r.current.alg)
	}
	for _, p := range r.previous {
		add(p.alg)
	}
	return algs
}

// rotate makes key (generated if nil) current and keeps the old current
// key as the newest previous one.
func (r *keyRing) rotate(key crypto.Signer) (crypto.Signer, error) {
	if key == nil {
		var err error
		if key, err = GenerateOIDCKey(); err != nil {
			return nil, err
		}
	}
	k, err := newSigningKey(key)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil {
		r.previous = append([]*signingKey{r.current}, r.previous...)
		if len(r.previous) > maxPreviousKeys {
			r.previous = r.previous[:maxPreviousKeys]
		}
	}
	r.current = k
	return key, nil
}

func (r *keyRing) signers() (crypto.Signer, []crypto.Signer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, err := r.currentLocked()
	if err != nil {
		return nil, nil, err
	}
	var prev []crypto.Signer
	for _, p := range r.previous {
		prev = append(prev, p.key)
	}
	return k.key, prev, nil
}

// verify checks a JWT signed by any key of the ring (expiry not checked:
// an id_token_hint may have expired) and decodes its claims into dst.
func (r *keyRing) verify(token string, dst any) error {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(t.Headers) != 1 {
		return errors.New("not a signed JWT")
	}
	kid := t.Headers[0].KeyID
	r.mu.Lock()
	keys := append([]*signingKey{r.current}, r.previous...)
	r.mu.Unlock()
	for _, k := range keys {
		if k != nil && k.kid == kid {
			if err := t.Claims(k.key.Public(), dst); err != nil {
				return errors.New("signature does not verify")
			}
			return nil
		}
	}
	return errors.New("signed by an unknown key")
}
