package e2e_test

// Set-up shared by the end-to-end tests: the package's readers, cards
// provisioned by a simulator's card CA, the agent's login sequence and
// its logout on card removal, and a count of the requests the simulator
// answered.

import (
	"context"
	"crypto"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/agent"
	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc"
	"github.com/opencis/cisauth/pcsc/vcard"
)

const (
	// cardPIN is every virtual card's PIN; wrongPIN is not it.
	cardPIN  = "246810"
	wrongPIN = "135790"
	// cardRetries is the cards' PIN retry limit: two wrong PINs leave the
	// final try.
	cardRetries = 3
)

// readers returns the stack and the readers this package owns (see the
// table in internal/stacktest).
func readers(t testing.TB) (*stacktest.Stack, []stacktest.Reader) {
	t.Helper()
	s := stacktest.Require(t)
	return s, s.Readers(t, "e2e", 2)
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// insertCard provisions a virtual card for uid with a certificate from
// srv's card CA (what the registration authority does), inserts it into r
// and waits until pcscd shows it. The card is pulled when the test ends.
func insertCard(t testing.TB, srv *cistest.Server, uid string, r stacktest.Reader) (*vcard.Card, *vcard.Inserted) {
	t.Helper()
	ca, caKey := srv.CardCA()
	cf, err := vcard.Provision(vcard.ProvisionConfig{
		UID: uid, CACert: ca, CAKey: caKey, PIN: []byte(cardPIN), Retries: cardRetries,
	})
	if err != nil {
		t.Fatal(err)
	}
	card, err := vcard.New(cf.Config())
	if err != nil {
		t.Fatal(err)
	}
	return card, stacktest.InsertCard(t, card, r.Index)
}

// openToken opens a PKCS#11 token and closes it when the test ends.
func openToken(t testing.TB, cfg pcsc.TokenConfig) *pcsc.Token {
	t.Helper()
	tok, err := pcsc.OpenToken(ctxFor(t), cfg)
	if err != nil {
		t.Fatalf("open token %+v: %v", cfg, err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

// openCard opens the card in reader r through OpenSC's PKCS#11 module.
func openCard(t testing.TB, s *stacktest.Stack, r stacktest.Reader) *pcsc.Token {
	t.Helper()
	return openToken(t, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: r.Name})
}

// cardLogin is what a login leaves behind on the workstation side, and the
// digest of each signature the GAS login asked the card for.
type cardLogin struct {
	*agent.UnlockedCard
	Session *cis.Session
	Hashes  []crypto.Hash
}

// hashRecorder passes signatures through to the card and notes the digest
// algorithm each one was asked over.
type hashRecorder struct {
	crypto.Signer
	hashes *[]crypto.Hash
}

// Sign records opts.HashFunc() and signs with the wrapped signer.
func (h *hashRecorder) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	*h.hashes = append(*h.hashes, opts.HashFunc())
	return h.Signer.Sign(rand, digest, opts)
}

// recordingToken is a token whose signer records digest algorithms.
type recordingToken struct {
	*pcsc.Token
	hashes *[]crypto.Hash
}

// Signer wraps the token's signer in a hashRecorder.
func (r recordingToken) Signer(ctx context.Context) (crypto.Signer, error) {
	s, err := r.Token.Signer(ctx)
	if err != nil {
		return nil, err
	}
	return &hashRecorder{Signer: s, hashes: r.hashes}, nil
}

// agentLogin is the agent's card login (agent.LogInWithCard: PIN, token
// login, GAS login with the card, roleID selected live), recording the
// digest of each signature.
func agentLogin(ctx context.Context, tok *pcsc.Token, pin []byte, opts pcsc.LoginOptions, gas *cis.GASClient, roleID string) (*cardLogin, error) {
	l := &cardLogin{}
	cl, err := agent.LogInWithCard(ctx, recordingToken{tok, &l.Hashes}, pin, opts, gas, roleID, cis.ModeLive)
	if err != nil {
		return nil, err
	}
	l.UnlockedCard, l.Session = cl.Card, cl.Session
	return l, nil
}

func newGAS(t testing.TB, cfg cis.GASConfig) *cis.GASClient {
	t.Helper()
	gas, err := cis.NewGASClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return gas
}

func newSSB(t testing.TB, srv *cistest.Server) *cis.SSBClient {
	t.Helper()
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
	if err != nil {
		t.Fatal(err)
	}
	return ssb
}

// checkAssertion checks that a supplier's server, validating the ticket,
// sees user u working in role roleID, live.
func checkAssertion(t testing.TB, a *cis.Assertion, u cis.User, roleID string) {
	t.Helper()
	want := u.Role(roleID)
	if want == nil {
		t.Fatalf("test bug: user %s has no role %s", u.UID, roleID)
	}
	got := a.SelectedRole()
	switch {
	case a.User.UID != u.UID || a.User.Name != u.Name:
		t.Errorf("assertion names %s %q, want %s %q", a.User.UID, a.User.Name, u.UID, u.Name)
	case a.SelectedRoleID != roleID || got.ID != roleID:
		t.Errorf("selected role %s, want %s", a.SelectedRoleID, roleID)
	case got.OrgCode != want.OrgCode || got.OrgName != want.OrgName || got.JobRoleCode != want.JobRoleCode:
		t.Errorf("selected role at %s %q as %s, want %s %q as %s",
			got.OrgCode, got.OrgName, got.JobRoleCode, want.OrgCode, want.OrgName, want.JobRoleCode)
	case !slices.Equal(got.Activities, want.Activities):
		t.Errorf("activities %v, want %v", got.Activities, want.Activities)
	case a.Mode != cis.ModeLive:
		t.Errorf("mode %v, want live", a.Mode)
	case len(a.User.Roles) != len(u.Roles):
		t.Errorf("assertion lists %d roles, user has %d", len(a.User.Roles), len(u.Roles))
	}
}

// validateThenLogout checks that a supplier's server validating sess's
// ticket sees u working in roleID, logs the session out, and checks that
// the next validation fails.
func validateThenLogout(t testing.TB, srv *cistest.Server, gas *cis.GASClient, sess *cis.Session, u cis.User, roleID string) {
	t.Helper()
	ctx := ctxFor(t)
	ssb := newSSB(t, srv)
	a, err := ssb.Validate(ctx, sess.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	checkAssertion(t, a, u, roleID)
	if err := gas.Logout(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(ctx, sess.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("validate after logout: %v, want ErrSessionInvalid", err)
	}
}

// user returns the simulator's user uid.
func user(t testing.TB, srv *cistest.Server, uid string) cis.User {
	t.Helper()
	for _, u := range srv.Simulator().Users() {
		if u.UID == uid {
			return u
		}
	}
	t.Fatalf("test bug: the simulator has no user %s", uid)
	return cis.User{}
}

// requests counts the protocol requests the simulator answered on
// endpoints (all if none).
func requests(t testing.TB, reg prometheus.Gatherer, endpoints ...string) int {
	t.Helper()
	n, err := cistest.Requests(reg, endpoints...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
