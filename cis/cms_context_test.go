package cis

import (
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"io"
	"testing"
	"time"
)

// cardSigner is a ContextSigner like a card's: Sign is not used, and
// SignContext waits on the card (until release or ctx ends).
type cardSigner struct {
	key     *rsa.PrivateKey
	started chan struct{} // closed when a signature starts
	release chan struct{} // closed to let the card answer
}

func newCardSigner(key *rsa.PrivateKey) *cardSigner {
	return &cardSigner{key: key, started: make(chan struct{}), release: make(chan struct{})}
}

func (s *cardSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s *cardSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("Sign called: SignChallenge must use SignContext")
}

func (s *cardSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	close(s.started)
	select {
	case <-s.release:
		return rsa.SignPKCS1v15(nil, s.key, opts.HashFunc(), digest)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestSignChallengeUsesContext: a ContextSigner signs through SignContext
// (so Sign is never called), and cancelling the context stops a signature
// in flight.
func TestSignChallengeUsesContext(t *testing.T) {
	key, cert := testCard(t)
	s := newCardSigner(key)
	close(s.release)
	der, err := SignChallenge(context.Background(), s, cert, []byte("challenge"), crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	if content, _, err := VerifyChallenge(der); err != nil || string(content) != "challenge" {
		t.Fatalf("CMS from a ContextSigner does not verify: %v", err)
	}

	s = newCardSigner(key)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := SignChallenge(ctx, s, cert, []byte("challenge"), crypto.SHA1)
		done <- err
	}()
	<-s.started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled mid-signature: %v, want context.Canceled", err)
	}
}

// TestSignChallengePlainSignerDoneContext: a signer without SignContext is
// not asked once the context is done.
func TestSignChallengePlainSignerDoneContext(t *testing.T) {
	_, cert := testCard(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &countingSigner{Signer: mustKey(t)}
	if _, err := SignChallenge(ctx, s, cert, []byte("x"), crypto.SHA1); !errors.Is(err, context.Canceled) || s.calls != 0 {
		t.Fatalf("done ctx: %v after %d Sign calls, want context.Canceled and none", err, s.calls)
	}
}

// countingSigner counts Sign calls.
type countingSigner struct {
	crypto.Signer
	calls int
}

func (c *countingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.calls++
	return c.Signer.Sign(r, d, o)
}

func mustKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, _ := testCard(t)
	return key
}

// TestGASLoginCancelledDuringSignature: a login cancelled while the card
// signs (the person walked away, the card was pulled) sends nothing to
// GAS's validate endpoint.
func TestGASLoginCancelledDuringSignature(t *testing.T) {
	f := newFakeGAS(t)
	c := newTestClient(t, f.env(), &lockedLog{}, 5*time.Second)
	key, cert := testCard(t)
	s := newCardSigner(key)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Login(ctx, s, cert)
		done <- err
	}()
	<-s.started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("login cancelled mid-signature: %v, want context.Canceled", err)
	}
	if n := f.hitCount("/login/authvalidate"); n != 0 {
		t.Errorf("validate called %d times after the signature was stopped", n)
	}
	if n := f.hitCount("/login/authactivate"); n != 1 {
		t.Errorf("activate called %d times, want 1", n)
	}
}
