package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/pcsc"
)

// Token is what the agent needs of a card opened through PKCS#11;
// *pcsc.Token implements it, tests use fakes.
type Token interface {
	Reader() string
	PINStatus(ctx context.Context) (pcsc.PINStatus, error)
	Login(ctx context.Context, pin []byte, opts pcsc.LoginOptions) error
	Logout(ctx context.Context) error
	UID(ctx context.Context) (string, error)
	Signer(ctx context.Context) (crypto.Signer, error)
	Certificate(ctx context.Context) (*x509.Certificate, error)
	Close() error
}

var _ Token = (*pcsc.Token)(nil)

// UnlockedCard is a card whose PIN the card accepted: whose it is, and its
// authentication key.
type UnlockedCard struct {
	// Before is the PIN state the card showed before the PIN was sent.
	Before pcsc.PINStatus
	// UID is the 12-digit user id in the certificate's CN.
	UID string
	// Signer signs with the card's authentication key; it is a
	// cis.ContextSigner for a *pcsc.Token, so a cancelled login stops it.
	Signer crypto.Signer
	// Cert is the authentication certificate.
	Cert *x509.Certificate
}

// UnlockCard reads the PIN state, logs in to the token with pin (which
// Token.Login clears, whatever happens) and reads the user id, key and
// certificate. The PIN is not sent when the card is locked, nor on its
// final try unless opts.AllowFinalTry: the *pcsc.PINError says so (and,
// after a wrong PIN, what is left).
func UnlockCard(ctx context.Context, tok Token, pin []byte, opts pcsc.LoginOptions) (*UnlockedCard, error) {
	defer clear(pin)
	var c UnlockedCard
	var err error
	if c.Before, err = tok.PINStatus(ctx); err != nil {
		return nil, fmt.Errorf("PIN status: %w", err)
	}
	if err := tok.Login(ctx, pin, opts); err != nil {
		return nil, fmt.Errorf("card login: %w", err)
	}
	if c.UID, err = tok.UID(ctx); err != nil {
		return nil, fmt.Errorf("card user id: %w", err)
	}
	if c.Signer, err = tok.Signer(ctx); err != nil {
		return nil, fmt.Errorf("card key: %w", err)
	}
	if c.Cert, err = tok.Certificate(ctx); err != nil {
		return nil, fmt.Errorf("card certificate: %w", err)
	}
	return &c, nil
}

// CardLogin is what a card login leaves behind on the workstation.
type CardLogin struct {
	// Card is the unlocked card.
	Card *UnlockedCard
	// Session is the GAS session, with the role selected when one was
	// asked for.
	Session *cis.Session
}

// LogInWithCard does what the Identity Agent does once the person typed the
// PIN: UnlockCard, then a GAS login with the card (activate, the
// challenge's CMS signed on the card, validate), then, unless roleID is
// empty, the selection of roleID in mode. A PIN problem stops it before
// anything is sent to GAS; a cancelled ctx stops it where it is, the
// card's signature included. A role that cannot be selected logs the new
// session out again.
func LogInWithCard(ctx context.Context, tok Token, pin []byte, opts pcsc.LoginOptions, gas *cis.GASClient, roleID string, mode cis.Mode) (*CardLogin, error) {
	card, err := UnlockCard(ctx, tok, pin, opts)
	if err != nil {
		return nil, err
	}
	sess, err := gas.Login(ctx, card.Signer, card.Cert)
	if err != nil {
		return nil, fmt.Errorf("GAS login: %w", err)
	}
	l := &CardLogin{Card: card, Session: sess}
	if roleID == "" {
		return l, nil
	}
	if err := gas.SelectRole(ctx, sess, roleID, mode); err != nil {
		logoutQuietly(gas, sess)
		return nil, fmt.Errorf("select role: %w", err)
	}
	return l, nil
}
