package cis2

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// private_key_jwt (OpenID Connect Core §9, RFC 7523): every request to the
// token endpoint carries a short-lived JWT signed with the client's key.
// golang.org/x/oauth2 has no hook for it (it sends only client_secret_basic
// or client_secret_post, and a refresh takes no extra parameters), so
// assertionTransport adds the assertion to each token request's form. The
// JWT is built and signed by go-jose's jwt package, not by hand.

const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	assertionLifetime   = time.Minute
	maxTokenRequest     = 64 << 10
)

type assertionTransport struct {
	base     http.RoundTripper
	tokenURL string
	clientID string
	signer   jose.Signer
	now      func() time.Time
}

// newAssertionTransport checks that the provider accepts the key's
// algorithm and returns a transport that signs client assertions with it.
func newAssertionTransport(base http.RoundTripper, clientID, keyID string, key crypto.Signer, d *discovery, now func() time.Time) (*assertionTransport, error) {
	alg, err := keyAlgorithm(key)
	if err != nil {
		return nil, err
	}
	if len(d.TokenAuthSigningAlgs) > 0 && !slices.Contains(d.TokenAuthSigningAlgs, string(alg)) {
		return nil, fmt.Errorf("cis2: provider does not accept %s client assertions (it lists %s)", alg, shown(strings.Join(d.TokenAuthSigningAlgs, " ")))
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if keyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), keyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("cis2: client key: %w", err)
	}
	return &assertionTransport{base: base, tokenURL: d.TokenURL, clientID: clientID, signer: signer, now: now}, nil
}

// keyAlgorithm picks the JWS algorithm for a private key.
func keyAlgorithm(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("cis2: client key: RSA key of %d bits, want 2048 or more", k.N.BitLen())
		}
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", fmt.Errorf("cis2: client key: unsupported curve %s", k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("cis2: client key of type %T: want an RSA, ECDSA or Ed25519 private key", key)
}

// RoundTrip adds client_assertion_type and a fresh client_assertion to a
// POST to the token endpoint; other requests pass unchanged.
func (t *assertionTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || !sameURL(req.URL, t.tokenURL) || req.Body == nil {
		return t.base.RoundTrip(req)
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxTokenRequest+1))
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(b) > maxTokenRequest {
		return nil, fmt.Errorf("token request larger than %d bytes", maxTokenRequest)
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, fmt.Errorf("token request form: %w", err)
	}
	a, err := t.assertion()
	if err != nil {
		return nil, err
	}
	form.Del("client_secret")
	form.Set("client_id", t.clientID)
	form.Set("client_assertion_type", clientAssertionType)
	form.Set("client_assertion", a)
	body := form.Encode()
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	r.Header.Del("Authorization")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return t.base.RoundTrip(r)
}

// assertion signs a client assertion: iss and sub the client id, aud the
// token endpoint, a random jti, one minute of life.
func (t *assertionTransport) assertion() (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := t.now()
	return jwt.Signed(t.signer).Claims(jwt.Claims{
		Issuer:   t.clientID,
		Subject:  t.clientID,
		Audience: jwt.Audience{t.tokenURL},
		ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
	}).Serialize()
}

// sameURL compares a request URL with the token endpoint, ignoring a query.
func sameURL(u *url.URL, s string) bool {
	v, err := url.Parse(s)
	return err == nil && strings.EqualFold(u.Scheme, v.Scheme) && strings.EqualFold(u.Host, v.Host) && u.EscapedPath() == v.EscapedPath()
}
