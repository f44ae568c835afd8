package e2e_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/agent"
	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc"
)

// TestCardLoginToRoleAssertion is the whole point of the project: Dr Alice
// Jones's card logs in to CIS and a supplier's server sees who she is and
// in which role; when she pulls the card, the session ends and the ticket
// stops working.
func TestCardLoginToRoleAssertion(t *testing.T) {
	s, rs := readers(t)
	r := rs[0]
	srv := cistest.NewServer(t) // the demo users
	// Jones Alice Dr and her one role.
	const uid, role = "555000000001", "555000000101"
	alice := user(t, srv, uid)

	card, in := insertCard(t, srv, uid, r)
	events := stacktest.StartMonitor(t, r.Name)
	stacktest.WaitEvent(t, events, pcsc.CardInserted, r.Name) // the card already in is reported first

	ctx := ctxFor(t)
	tok := openCard(t, s, r)
	gas := newGAS(t, cis.GASConfig{Env: srv.Env()})
	l, err := agentLogin(ctx, tok, []byte(cardPIN), pcsc.LoginOptions{}, gas, role)
	if err != nil {
		t.Fatal(err)
	}
	if l.Before.Locked || l.Before.FinalTry {
		t.Errorf("PIN state before login %+v, want neither locked nor final try", l.Before)
	}
	if l.UID != uid || l.Session.UID != uid || l.Session.Name != alice.Name {
		t.Errorf("token uid %s, GAS session %s %q; want %s %q", l.UID, l.Session.UID, l.Session.Name, uid, alice.Name)
	}
	if !l.Cert.Equal(card.Certificate()) {
		t.Error("OpenSC's certificate is not the card's")
	}
	// The challenge was signed on the card, once, over SHA-1 (the default).
	if n := card.Signatures(); n != 1 || !slices.Equal(l.Hashes, []crypto.Hash{crypto.SHA1}) {
		t.Errorf("card made %d signatures over %v, want 1 over SHA-1", n, l.Hashes)
	}

	// The supplier's server validates the ticket with the SSB.
	ssb := newSSB(t, srv)
	a, err := ssb.Validate(ctx, l.Session.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	checkAssertion(t, a, alice, role)

	// She pulls the card: the monitor sees it, the agent logs out, and the
	// supplier's next check fails.
	loggedOut := agent.LogoutOnRemoval(ctx, events, r.Name, gas, l.Session)
	stacktest.Pull(t, in)
	if err := <-loggedOut; err != nil {
		t.Fatalf("logout on card removal: %v", err)
	}
	if _, err := ssb.Validate(ctx, l.Session.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("validate after the card was pulled: %v, want ErrSessionInvalid", err)
	}
	if n := len(srv.Simulator().Sessions()); n != 0 {
		t.Errorf("%d sessions left after logout", n)
	}
	// The card's key went with the card.
	d := sha1.Sum([]byte("another challenge"))
	if _, err := l.Signer.Sign(rand.Reader, d[:], crypto.SHA1); !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Errorf("sign after the card was pulled: %v, want ErrCardRemoved", err)
	}
}

// TestPullOneOfTwoCards: two clinicians at two readers of one machine
// (two tokens over one OpenSC module), both logged in; pulling one card
// ends that session only.
func TestPullOneOfTwoCards(t *testing.T) {
	s, rs := readers(t)
	srv := cistest.NewServer(t)
	const alice, aliceRole = "555000000001", "555000000101"
	const chandra, chandraRole = "555000000003", "555000000301"
	_, aliceIn := insertCard(t, srv, alice, rs[0])
	insertCard(t, srv, chandra, rs[1])
	events := stacktest.StartMonitor(t, rs[0].Name, rs[1].Name)
	stacktest.WaitEvent(t, events, pcsc.CardInserted, rs[0].Name)

	ctx := ctxFor(t)
	gas := newGAS(t, cis.GASConfig{Env: srv.Env()})
	ssb := newSSB(t, srv)
	la, err := agentLogin(ctx, openCard(t, s, rs[0]), []byte(cardPIN), pcsc.LoginOptions{}, gas, aliceRole)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := agentLogin(ctx, openCard(t, s, rs[1]), []byte(cardPIN), pcsc.LoginOptions{}, gas, chandraRole)
	if err != nil {
		t.Fatal(err)
	}
	if la.UID != alice || lc.UID != chandra {
		t.Fatalf("readers gave uids %s and %s, want %s and %s", la.UID, lc.UID, alice, chandra)
	}

	loggedOut := agent.LogoutOnRemoval(ctx, events, rs[0].Name, gas, la.Session)
	stacktest.Pull(t, aliceIn)
	if err := <-loggedOut; err != nil {
		t.Fatalf("logout on card removal: %v", err)
	}
	if _, err := ssb.Validate(ctx, la.Session.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("pulled card's ticket: %v, want ErrSessionInvalid", err)
	}
	a, err := ssb.Validate(ctx, lc.Session.Ticket)
	if err != nil {
		t.Fatalf("the other card's ticket: %v", err)
	}
	checkAssertion(t, a, user(t, srv, chandra), chandraRole)
	// The card left in still signs: a second login needs no new PIN.
	if _, err := gas.Login(ctx, lc.Signer, lc.Cert); err != nil {
		t.Errorf("login again with the card left in: %v", err)
	}
}

// TestCardLoginSHA256: the same login with the challenge signed over
// SHA-256, which the simulator accepts (sha256WithRSAEncryption CMS), by a
// user with two roles selecting the second, from the package's other reader.
func TestCardLoginSHA256(t *testing.T) {
	s, rs := readers(t)
	r := rs[1]
	srv := cistest.NewServer(t)
	// Patel Chandra Ms: an admin role, then the clinical one she selects.
	const uid, role = "555000000003", "555000000302"
	chandra := user(t, srv, uid)
	if len(chandra.Roles) < 2 || chandra.Roles[0].ID == role {
		t.Fatalf("test bug: %s should hold several roles, %s not the first", uid, role)
	}

	card, _ := insertCard(t, srv, uid, r)
	ctx := ctxFor(t)
	tok := openCard(t, s, r)
	gas := newGAS(t, cis.GASConfig{Env: srv.Env(), Hash: crypto.SHA256})
	l, err := agentLogin(ctx, tok, []byte(cardPIN), pcsc.LoginOptions{}, gas, role)
	if err != nil {
		t.Fatal(err)
	}
	if n := card.Signatures(); n != 1 || !slices.Equal(l.Hashes, []crypto.Hash{crypto.SHA256}) {
		t.Errorf("card made %d signatures over %v, want 1 over SHA-256", n, l.Hashes)
	}
	if len(l.Session.Roles) != len(chandra.Roles) {
		t.Errorf("GAS offered %d roles, user has %d", len(l.Session.Roles), len(chandra.Roles))
	}
	validateThenLogout(t, srv, gas, l.Session, chandra, role)
}

// TestWrongPINNeverReachesGAS: wrong PINs are the card's business. Two of
// them bring the card to its final try, the agent then refuses to spend it
// without the person's say-so, and the simulator hears nothing until a
// login with the right PIN.
func TestWrongPINNeverReachesGAS(t *testing.T) {
	s, rs := readers(t)
	r := rs[0]
	reg := prometheus.NewRegistry()
	srv := cistest.NewServerWithConfig(t, cissim.Config{Registerer: reg})
	const uid, role = "555000000001", "555000000101"

	card, _ := insertCard(t, srv, uid, r)
	ctx := ctxFor(t)
	tok := openCard(t, s, r)
	gas := newGAS(t, cis.GASConfig{Env: srv.Env()})

	for try := 1; try <= 2; try++ {
		pin := []byte(wrongPIN)
		_, err := agentLogin(ctx, tok, pin, pcsc.LoginOptions{}, gas, role)
		var pe *pcsc.PINError
		if !errors.As(err, &pe) || !errors.Is(err, pcsc.ErrPINIncorrect) {
			t.Fatalf("wrong PIN #%d: %v, want a *PINError matching ErrPINIncorrect", try, err)
		}
		if finalTry := try == cardRetries-1; pe.FinalTry != finalTry || pe.Locked {
			t.Errorf("wrong PIN #%d: %+v, want FinalTry %v and not locked", try, pe, finalTry)
		}
		if !slices.Equal(pin, make([]byte, len(pin))) {
			t.Errorf("wrong PIN #%d: the PIN buffer was not cleared", try)
		}
		if left := card.RetriesLeft(); left != cardRetries-try {
			t.Errorf("wrong PIN #%d: card has %d tries left, want %d", try, left, cardRetries-try)
		}
	}
	if st, err := tok.PINStatus(ctx); err != nil || !st.FinalTry || st.Locked || st.Retries != 1 {
		t.Errorf("PIN state after two wrong PINs: %+v (%v), want the final try", st, err)
	}

	// Even the right PIN is not sent on the final try unless the person
	// confirmed it: no try spent.
	_, err := agentLogin(ctx, tok, []byte(cardPIN), pcsc.LoginOptions{}, gas, role)
	if !errors.Is(err, pcsc.ErrFinalTry) || errors.Is(err, pcsc.ErrPINIncorrect) {
		t.Fatalf("login on the final try: %v, want ErrFinalTry (refused, not sent)", err)
	}
	if left := card.RetriesLeft(); left != 1 || card.Verified() {
		t.Errorf("after the refusal: %d tries left, verified %v; want 1, false", left, card.Verified())
	}
	if n := requests(t, reg); n != 0 || len(srv.Simulator().Sessions()) != 0 {
		t.Fatalf("the simulator answered %d requests before a good PIN", n)
	}

	// The person confirms: the right PIN resets the counter and logs in.
	if _, err := agentLogin(ctx, tok, []byte(cardPIN), pcsc.LoginOptions{AllowFinalTry: true}, gas, role); err != nil {
		t.Fatalf("login with the final try allowed: %v", err)
	}
	if left := card.RetriesLeft(); left != cardRetries {
		t.Errorf("after the good PIN: %d tries left, want %d", left, cardRetries)
	}
	if a, v := requests(t, reg, "authactivate"), requests(t, reg, "authvalidate"); a != 1 || v != 1 {
		t.Errorf("GAS saw %d activate and %d validate requests, want 1 each", a, v)
	}
}

// TestSoftHSMLogin: the stack's SoftHSM2 token (an HSM-held key, CN
// 555000000099, issued by the stack's own CA) logs in to a simulator that
// trusts that CA, and a simulator that does not refuses it.
func TestSoftHSMLogin(t *testing.T) {
	s := stacktest.Require(t)
	cas, err := cissim.LoadCertificates(s.SoftHSMCA)
	if err != nil {
		t.Fatal(err)
	}
	wantCert, err := cissim.LoadCertificates(s.SoftHSMCert)
	if err != nil {
		t.Fatal(err)
	}
	tess := cis.User{UID: "555000000099", Name: "Token Tess Dr", Roles: []cis.RoleProfile{
		{ID: "555000009901", OrgCode: "RCJ", OrgName: "SOUTH TEES HOSPITALS NHS TRUST", StaffGroup: "Admin & Clerical",
			SubGroup: "Admin", JobRole: "Medical Secretary", JobRoleCode: "S8001:G8001:R8000", Activities: []string{"B0020"}},
		{ID: "555000009902", OrgCode: "RKF", OrgName: "THE PRINCESS ROYAL HOSPITAL NHS TRUST", StaffGroup: "Clinical",
			SubGroup: "Clinical Provision", JobRole: "Consultant", JobRoleCode: "S8000:G8000:R8003",
			Activities: []string{"B0264", "B0360"}},
	}}
	users := append(cissim.DemoUsers(), tess)
	srv := cistest.NewServerWithConfig(t, cissim.Config{Users: users, CardCAs: cas})
	role := tess.Roles[1].ID

	ctx := ctxFor(t)
	tok := openToken(t, pcsc.TokenConfig{Module: s.SoftHSMModule, Label: s.SoftHSMLabel})
	gas := newGAS(t, cis.GASConfig{Env: srv.Env()})
	l, err := agentLogin(ctx, tok, []byte(s.SoftHSMPIN), pcsc.LoginOptions{}, gas, role)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Logout(ctxFor(t)) })
	if l.UID != tess.UID || !l.Cert.Equal(wantCert[0]) {
		t.Errorf("token uid %s, certificate %s; want %s and the stack's ID 01 certificate", l.UID, l.Cert.Subject, tess.UID)
	}
	validateThenLogout(t, srv, gas, l.Session, tess, role)

	// A CIS that does not trust the token's CA turns the same login away.
	other := cistest.NewServerWithConfig(t, cissim.Config{Users: users})
	_, err = newGAS(t, cis.GASConfig{Env: other.Env()}).Login(ctx, l.Signer, l.Cert)
	if !errors.Is(err, cis.ErrValidationFailed) {
		t.Errorf("login against a CIS without the token's CA: %v, want ErrValidationFailed", err)
	}
}
