package agent

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/pcsc"
)

// A flow is one login with the card in one reader: PIN, card, GAS, role;
// or, for a locked session, the PIN and the proof that the same card is
// back. At most one runs at a time. Pulling its card cancels it, which
// stops whatever it waits on, a signature on the card included.
type flow struct {
	reader string
	resume bool
	cancel context.CancelCauseFunc
}

// tokenAttempts and tokenRetry: OpenSC may not show a token yet when
// pcscd already reported the card; the open is tried again a few times.
const (
	tokenAttempts = 4
	tokenRetry    = 250 * time.Millisecond
)

var (
	errNoRoles      = errors.New("CIS lists no roles for this user")
	errOtherCard    = errors.New("agent: a different card")
	errKeyNotCard   = errors.New("agent: the card's key does not match its certificate")
	errFlowReplaced = errors.New("agent: login replaced")
)

// startFlowLocked starts a flow with the card in reader (resume: unlock
// the held session). Called with a.mu held.
func (a *Agent) startFlowLocked(parent context.Context, reader string, resume bool) {
	ctx, cancel := context.WithCancelCause(parent)
	f := &flow{reader: reader, resume: resume, cancel: cancel}
	a.flow = f
	events, stop := a.watch(reader)
	go func() {
		if WaitRemoval(ctx, events, reader) == nil {
			cancel(pcsc.ErrCardRemoved)
		}
	}()
	a.setLocked(PhaseLoggingIn, msgCheckingIn)
	a.spawn(func() {
		defer stop()
		h, err := a.runFlow(ctx, f)
		if err != nil && context.Cause(ctx) != nil && errors.Is(err, context.Canceled) {
			err = context.Cause(ctx)
		}
		cancel(nil)
		a.finishFlow(f, h, err)
	})
}

// runFlow does the flow's work and returns the session to hold (the held
// one itself, unlocked, for a resume).
func (a *Agent) runFlow(ctx context.Context, f *flow) (*held, error) {
	tok, err := a.openToken(ctx, f.reader)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Leave the card as we found it: no PIN-verified state for other
		// programs to use.
		lctx, cancel := context.WithTimeout(context.Background(), logoutTimeout)
		defer cancel()
		_ = tok.Logout(lctx)
		_ = tok.Close()
		if f.reader != "" {
			if err := a.cfg.CardLogout(lctx, f.reader); err != nil {
				a.log.Debug("card logout", "reader", f.reader, "error", err)
			}
		}
	}()
	card, err := a.unlock(ctx, tok, f)
	if err != nil {
		return nil, err
	}
	if f.resume {
		h, err := a.resume(ctx, f, card)
		if err == nil || !errors.Is(err, errOtherCard) && !errors.Is(err, cis.ErrSessionInvalid) {
			return h, err
		}
		// Someone else's card, or the locked session died meanwhile: a
		// fresh login with this card, whose PIN is already checked.
	}
	return a.login(ctx, f, card)
}

// openToken opens the card in reader, trying again briefly while OpenSC
// does not show its token yet.
func (a *Agent) openToken(ctx context.Context, reader string) (Token, error) {
	for i := 1; ; i++ {
		tok, err := a.cfg.OpenToken(ctx, reader)
		if err == nil || !errors.Is(err, pcsc.ErrNoToken) || i == tokenAttempts {
			return tok, err
		}
		select {
		case <-time.After(tokenRetry):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// unlock asks for the PIN until the card accepts one: it shows the tries
// left, never sends a PIN on the final try without the person's
// confirmation, and stops when the card is locked.
func (a *Agent) unlock(ctx context.Context, tok Token, f *flow) (*UnlockedCard, error) {
	uid, _ := tok.UID(ctx) // certificates are public: name the card in the question
	var last *pcsc.PINError
	var note string
	for {
		st, err := tok.PINStatus(ctx)
		if err != nil {
			return nil, err
		}
		if st.Locked {
			return nil, &pcsc.PINError{Retries: 0, Locked: true, Err: pcsc.ErrPINLocked}
		}
		left := st.Retries
		if left < 0 {
			if n, err := a.cfg.PINRetries(ctx, f.reader); err == nil && n > 0 {
				left = n
			}
		}
		final := st.FinalTry || left == 1
		if last != nil {
			note = PINMessage(last, left)
		}
		q := Question{Kind: AskPIN, Reader: f.reader, TriesLeft: left, FinalTry: final, Note: note,
			Text: pinQuestion(note, uid, f.resume, left, final)}
		a.mu.Lock()
		a.askingLocked(PhaseAwaitingPIN, q.Text)
		a.mu.Unlock()
		ans, err := a.prompts.Ask(ctx, q)
		if err != nil {
			return nil, err
		}
		if final && !ans.ConfirmFinalTry {
			clear(ans.PIN)
			last, note = nil, PINMessage(&pcsc.PINError{Retries: 1, FinalTry: true, Err: pcsc.ErrFinalTry}, 1)
			continue
		}
		a.mu.Lock()
		a.setLocked(PhaseLoggingIn, msgCheckingIn)
		a.mu.Unlock()
		card, err := UnlockCard(ctx, tok, ans.PIN, pcsc.LoginOptions{AllowFinalTry: ans.ConfirmFinalTry})
		var pe *pcsc.PINError
		switch {
		case err == nil:
			return card, nil
		case errors.As(err, &pe) && errors.Is(err, pcsc.ErrPINIncorrect) && !pe.Locked:
			last, note = pe, ""
			a.log.Info("wrong PIN", "reader", f.reader)
		case errors.As(err, &pe) && pe.Locked:
			// Not locked before this PIN: it was wrong, and used the last try.
			return nil, &pcsc.PINError{Retries: 0, Locked: true, Err: pcsc.ErrPINIncorrect}
		case errors.Is(err, pcsc.ErrPINInvalid):
			last, note = nil, a.describe(err)
		default:
			return nil, err
		}
	}
}

// pinQuestion is the PIN question in plain words, after note (the last
// attempt's outcome, if any).
func pinQuestion(note, uid string, resume bool, left int, final bool) string {
	q := "Enter your smartcard PIN"
	if resume {
		q = "Session locked: enter the PIN of the same smartcard to carry on"
	}
	if uid != "" {
		q += " (card " + uid + ")"
	}
	switch {
	case final:
		q += ". Final try: a wrong PIN locks the card, so confirm to use it"
	case left > 0:
		q += " (" + tries(left) + ")"
	}
	if note != "" {
		return note + ". " + q
	}
	return q
}

// resume checks that card is the locked session's (same user, same
// certificate, and it holds the key: it signs a fresh challenge) and that
// CIS still has the session, and returns the session to unlock.
// errOtherCard: someone else's card; cis.ErrSessionInvalid: the session is
// gone. In both cases the locked session has been ended.
func (a *Agent) resume(ctx context.Context, f *flow, card *UnlockedCard) (*held, error) {
	a.mu.Lock()
	h := a.held
	a.mu.Unlock()
	if h == nil || !h.locked {
		return nil, fmt.Errorf("%w: no locked session", cis.ErrSessionInvalid)
	}
	if card.UID != h.sess.UID || !card.Cert.Equal(h.cert) {
		a.dropHeld(h, "A different smartcard: the locked session of "+h.sess.Name+" is ended")
		return nil, errOtherCard
	}
	if err := proveKey(ctx, card.Signer, h.cert); err != nil {
		return nil, err
	}
	if _, err := a.sessions.GetSession(ctx, h.sess.Ticket, true); err != nil {
		if errors.Is(err, cis.ErrSessionInvalid) {
			a.dropHeld(h, msgEnded)
		}
		return nil, err
	}
	return h, nil
}

// dropHeld ends the held session h (if still held) and logs it out.
func (a *Agent) dropHeld(h *held, msg string) {
	a.mu.Lock()
	if a.held != h {
		a.mu.Unlock()
		return
	}
	a.takeHeldLocked()
	a.mu.Unlock()
	a.endSession(h, msg)
}

// proveKey has signer sign a random challenge and checks the signature
// with cert: a card showing a copy of someone's certificate without the
// key fails.
func proveKey(ctx context.Context, signer crypto.Signer, cert *x509.Certificate) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errKeyNotCard
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	d := sha256.Sum256(nonce)
	var sig []byte
	var err error
	if cs, ok := signer.(cis.ContextSigner); ok {
		sig, err = cs.SignContext(ctx, d[:], crypto.SHA256)
	} else {
		sig, err = signer.Sign(rand.Reader, d[:], crypto.SHA256)
	}
	if err != nil {
		return fmt.Errorf("card signature: %w", err)
	}
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) != nil {
		return errKeyNotCard
	}
	return nil
}

// login logs the unlocked card in to GAS and selects a role.
func (a *Agent) login(ctx context.Context, f *flow, card *UnlockedCard) (*held, error) {
	a.mu.Lock()
	a.setLocked(PhaseLoggingIn, msgLoggingIn)
	a.mu.Unlock()
	sess, err := a.gas.Login(ctx, card.Signer, card.Cert)
	if err != nil {
		return nil, err
	}
	roleID, err := a.chooseRole(ctx, sess)
	if err == nil {
		err = a.gas.SelectRole(ctx, sess, roleID, a.cfg.SSBMode)
	}
	if err != nil {
		if lerr := logoutQuietly(a.gas, sess); lerr != nil {
			a.log.Warn("logout after a failed role selection failed", "error", lerr)
		}
		return nil, err
	}
	return &held{sess: sess, cert: card.Cert, reader: f.reader, roleID: roleID, verifiedAt: a.cfg.Now()}, nil
}

// chooseRole picks the role to work in: the configured one if the user
// holds it, the only one, or the person's choice.
func (a *Agent) chooseRole(ctx context.Context, sess *cis.Session) (string, error) {
	if len(sess.Roles) == 0 {
		return "", errNoRoles
	}
	note := ""
	if a.cfg.Role != "" {
		if _, ok := sess.Role(a.cfg.Role); ok {
			return a.cfg.Role, nil
		}
		note = "Role " + a.cfg.Role + " is not one of yours. "
	}
	if len(sess.Roles) == 1 {
		return sess.Roles[0].ID, nil
	}
	choices := roleChoices(sess.Roles)
	for {
		q := Question{Kind: AskRole, Text: note + "Choose the role to work in", Note: strings.TrimSuffix(note, " "), Roles: choices, TriesLeft: -1}
		a.mu.Lock()
		a.askingLocked(PhaseChoosingRole, q.Text)
		a.mu.Unlock()
		ans, err := a.prompts.Ask(ctx, q)
		if err != nil {
			return "", err
		}
		if _, ok := sess.Role(ans.RoleID); ok {
			return ans.RoleID, nil
		}
		note = "That role is not one of yours. "
	}
}

func roleChoices(roles []cis.LoginRole) []RoleChoice {
	out := make([]RoleChoice, len(roles))
	for i, r := range roles {
		out[i] = RoleChoice{ID: r.ID, OrgCode: r.OrgCode, OrgName: r.OrgName, StaffGroup: r.StaffGroup,
			SubGroup: r.SubGroup, JobRole: r.JobRole}
	}
	return out
}

// finishFlow records how flow f ended: a session held, unlocked, or a
// message saying what went wrong.
func (a *Agent) finishFlow(f *flow, h *held, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.flow == f {
		a.flow = nil
	}
	a.flowSeq++
	a.flowErr = err
	if errors.Is(err, errAgentStopping) || errors.Is(err, errFlowReplaced) {
		return
	}
	if err != nil {
		msg := a.describe(err)
		if errors.Is(err, pcsc.ErrCardRemoved) {
			msg = a.idleMessageLocked()
		}
		a.log.Info("login did not complete", "reader", f.reader, "error", err)
		a.setLocked(a.idlePhaseLocked(), msg)
		return
	}
	now := a.cfg.Now()
	if h == a.held {
		h.locked, h.cardOut, h.reader, h.verifiedAt = false, false, f.reader, now
		a.publishLocked(Event{Kind: EventUnlocked, Reader: f.reader, UID: h.sess.UID, Name: h.sess.Name, RoleID: h.roleID})
	} else {
		a.held = h
		a.lastKA = now
		a.publishLocked(Event{Kind: EventAuthenticated, Reader: f.reader, UID: h.sess.UID, Name: h.sess.Name})
		a.publishLocked(Event{Kind: EventRoleSelected, Reader: f.reader, UID: h.sess.UID, RoleID: h.roleID})
	}
	a.setLocked(PhaseAuthenticated, loggedInMessage(h))
	if !a.present[f.reader] {
		// The card left between the end of the work and now: its removal
		// was seen by the flow, not by a session watcher.
		a.spawn(func() { a.cardLeft(h) })
		return
	}
	a.watchHeldLocked(h)
}

// loggedInMessage: "Logged in as Jones Alice Dr: Consultant at RKF …".
func loggedInMessage(h *held) string {
	msg := "Logged in as " + h.sess.Name
	if r, ok := h.sess.Role(h.roleID); ok {
		msg += ": " + roleChoices([]cis.LoginRole{r})[0].Label()
	}
	return msg
}
