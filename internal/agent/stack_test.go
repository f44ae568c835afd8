package agent

// End-to-end tests on the real card stack: pcscd with vpcd readers, virtual
// PIV cards (pcsc/vcard) provisioned by the simulator's card CA, OpenSC's
// PKCS#11 module, the agent's real reader monitor, and the simulator over
// HTTPS. They use the agent's readers of internal/stacktest's table: 6 and
// 7 (long names that share OpenSC's 64-byte slot description) and 3.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc/vcard"
)

// stackRetries is the virtual cards' PIN retry limit.
const stackRetries = 3

// withStack makes the harness's agent use the real card stack: a reader
// monitor over readers, OpenSC's module.
func withStack(s *stacktest.Stack, readers ...stacktest.Reader) harnessOption {
	return func(c *harnessConfig) {
		c.real = true
		c.agent.Module = s.OpenSCModule
		for _, r := range readers {
			c.agent.Readers = append(c.agent.Readers, r.Name)
		}
	}
}

// stackReaders returns the stack and the agent's readers: the long-named
// pair, then the short one.
func stackReaders(t *testing.T) (*stacktest.Stack, []stacktest.Reader) {
	t.Helper()
	s := stacktest.Require(t)
	return s, s.Readers(t, "agent", 3)
}

// cardKeys caches provisioned card files per user (RSA generation is slow).
var cardKeys sync.Map // "CA serial/uid" → *vcard.CardFile

// newVCard provisions a virtual card for uid from srv's card CA.
func newVCard(t testing.TB, srv *cistest.Server, uid string) *vcard.Card {
	t.Helper()
	ca, caKey := srv.CardCA()
	key := ca.SerialNumber.String() + "/" + uid
	cf, ok := cardKeys.Load(key)
	if !ok {
		f, err := vcard.Provision(vcard.ProvisionConfig{UID: uid, CACert: ca, CAKey: caKey, PIN: []byte(testPIN), Retries: stackRetries})
		if err != nil {
			t.Fatal(err)
		}
		cf, _ = cardKeys.LoadOrStore(key, f)
	}
	card, err := vcard.New(cf.(*vcard.CardFile).Config())
	if err != nil {
		t.Fatal(err)
	}
	return card
}

// TestStackInsertPINTicketPull is the agent's whole point on the real
// stack: a card in a long-named reader, the PIN, a ticket from the Ticket
// API whose RoleAssertion shows the selected role; the card pulled, and
// the simulator refuses the ticket within a second.
func TestStackInsertPINTicketPull(t *testing.T) {
	s, rs := stackReaders(t)
	h := newAPIHarness(t, nil, withStack(s, rs[0], rs[1]))
	card := newVCard(t, h.srv, uidAlice)
	in := stacktest.InsertCard(t, card, rs[0].Index)
	q := h.enterPIN(testPIN, false)
	if q.Reader != rs[0].Name || q.TriesLeft != stackRetries || !strings.Contains(q.Text, uidAlice) {
		t.Errorf("PIN question %+v", q)
	}
	h.event(EventAuthenticated)
	resp, v := h.call("GET", "/ticket", h.bearer(), "")
	if resp.StatusCode != http.StatusOK || v["uid"] != uidAlice {
		t.Fatalf("GET /ticket: %d %v", resp.StatusCode, v)
	}
	tk := cis.Ticket(v["ticket"].(string))
	a, err := h.validate(tk)
	if err != nil || a.SelectedRoleID != roleAlice || a.SelectedRole().OrgCode != "RCJ" {
		t.Fatalf("RoleAssertion: %+v, %v", a, err)
	}
	if card.Signatures() != 1 || card.Verified() {
		t.Errorf("card: %d signatures, verified %v; want 1, and its PIN state left cleared", card.Signatures(), card.Verified())
	}

	pulled := time.Now()
	if err := in.Pull(); err != nil {
		t.Logf("pull: %v", err)
	}
	within := time.NewTimer(time.Second)
	defer within.Stop()
	for done := false; !done; {
		select {
		case ev := <-h.events:
			done = ev.Kind == EventLoggedOut
		case <-within.C:
			t.Fatalf("no logout within a second of the pull (status %+v)", h.a.Status())
		}
	}
	if _, err := h.validate(tk); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Fatalf("the ticket %v after the pull: %v", time.Since(pulled), err)
	}
	t.Logf("pull to logout: %v", time.Since(pulled))
	if resp, _ := h.call("GET", "/ticket?noauth=1", h.bearer(), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ticket?noauth=1 after the pull: %d", resp.StatusCode)
	}
}

// TestStackWrongPIN: the card counts the tries: "2 tries left", the final
// try (FINAL_TRY) only with confirmation, and a wrong PIN on it locks the
// card (LOCKED); GAS hears nothing.
func TestStackWrongPIN(t *testing.T) {
	s, rs := stackReaders(t)
	h := newHarness(t, withStack(s, rs[1]))
	card := newVCard(t, h.srv, uidAlice)
	stacktest.InsertCard(t, card, rs[1].Index)
	h.enterPIN(wrongPIN, false)
	q := h.question(AskPIN)
	if q.Note != "PIN incorrect: 2 tries left" || q.TriesLeft != 2 {
		t.Fatalf("after one wrong PIN: %+v", q)
	}
	h.enterPIN(wrongPIN, false)
	q = h.question(AskPIN)
	if q.Note != "PIN incorrect: 1 try left. A wrong PIN now locks the card" || !q.FinalTry {
		t.Fatalf("after two wrong PINs: %+v", q)
	}
	h.enterPIN(testPIN, false) // not confirmed: not sent
	q = h.question(AskPIN)
	if !strings.HasPrefix(q.Note, "PIN not sent") || card.RetriesLeft() != 1 {
		t.Fatalf("unconfirmed final try: %+v, card has %d tries", q, card.RetriesLeft())
	}
	h.enterPIN(wrongPIN, true)
	h.message(func(m string) bool { return strings.HasPrefix(m, "PIN incorrect: the card is now locked") })
	if card.RetriesLeft() != 0 || h.requests("authactivate") != 0 {
		t.Errorf("card tries %d, GAS activations %d", card.RetriesLeft(), h.requests("authactivate"))
	}
}

// TestStackMaintenance: a login during the simulator's maintenance, or
// with the simulator gone, says so in plain words.
func TestStackMaintenance(t *testing.T) {
	s, rs := stackReaders(t)
	h := newHarness(t, withStack(s, rs[0]), withEnv(func(e *cis.Environment) { e.Name = "dev" }))
	h.srv.SetMaintenance(true)
	stacktest.InsertCard(t, newVCard(t, h.srv, uidAlice), rs[0].Index)
	h.enterPIN(testPIN, false)
	h.message(func(m string) bool { return m == "CIS dev is down for maintenance" })
	// Back up: GET /ticket logs in with the card still in.
	h.srv.SetMaintenance(false)
	done := make(chan error, 1)
	go func() { _, err := h.a.Ticket(context.Background(), true); done <- err }()
	h.enterPIN(testPIN, false)
	if err := <-done; err != nil {
		t.Fatalf("login after maintenance: %v", err)
	}
	// The simulator goes away: a fresh login says CIS cannot be reached.
	h.srv.Close()
	go func() { _, err := h.a.NewTicket(context.Background()); done <- err }()
	h.enterPIN(testPIN, false)
	if err := <-done; !errors.Is(err, cis.ErrUnavailable) {
		t.Fatalf("login with the simulator down: %v", err)
	}
	if st := h.a.Status(); st.Message != "CIS dev cannot be reached. Check the network and try again" {
		t.Errorf("message %q", st.Message)
	}
}

// TestStackRoleSwitch: a user with two roles chooses one, then switches
// through the API; the RoleAssertion follows.
func TestStackRoleSwitch(t *testing.T) {
	s, rs := stackReaders(t)
	h := newAPIHarness(t, nil, withStack(s, rs[2]))
	stacktest.InsertCard(t, newVCard(t, h.srv, uidChan), rs[2].Index)
	h.enterPIN(testPIN, false)
	q := h.question(AskRole)
	h.a.Prompts().Answer(q.ID, Answer{RoleID: "555000000301"})
	h.event(EventRoleSelected)
	tk := h.ticket().Ticket
	if a, err := h.validate(tk); err != nil || a.SelectedRoleID != "555000000301" {
		t.Fatalf("first role: %v", err)
	}
	resp, _ := h.call("POST", "/role", map[string]string{"Authorization": "Bearer " + h.secret, "Content-Type": "application/json"},
		`{"role_id":"555000000302"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /role: %d", resp.StatusCode)
	}
	if a, err := h.validate(tk); err != nil || a.SelectedRoleID != "555000000302" || a.SelectedRole().JobRoleCode != "S8000:G8000:R8003" {
		t.Fatalf("after the switch: %+v, %v", a, err)
	}
}

// TestStackTwoCards: two cards in the two long-named readers, whose slot
// descriptions are the same 64 bytes. Two agents, one per reader, each log
// their own card in, and pulling one card ends that session only; one
// agent over both readers keeps the first card's session, leaves the
// second card alone, and asks for it once the first is pulled.
func TestStackTwoCards(t *testing.T) {
	s, rs := stackReaders(t)
	t.Run("an agent per reader", func(t *testing.T) {
		ha := newHarness(t, withStack(s, rs[0]))
		hc := newHarness(t, withStack(s, rs[1]), withServer(ha.srv))
		inA := stacktest.InsertCard(t, newVCard(t, ha.srv, uidAlice), rs[0].Index)
		stacktest.InsertCard(t, newVCard(t, ha.srv, uidChan), rs[1].Index)
		ha.enterPIN(testPIN, false)
		q := hc.enterPIN(testPIN, false)
		if !strings.Contains(q.Text, uidChan) {
			t.Errorf("the agent of the second twin asks for %q", q.Text)
		}
		hc.answerRole(0)
		ha.event(EventAuthenticated)
		hc.event(EventAuthenticated)
		a, c := ha.ticket(), hc.ticket()
		if a.UID != uidAlice || c.UID != uidChan {
			t.Fatalf("the twins' agents logged in %s and %s", a.UID, c.UID)
		}
		stacktest.Pull(t, inA)
		ha.event(EventLoggedOut)
		if _, err := ha.validate(a.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
			t.Errorf("the pulled card's ticket: %v", err)
		}
		if _, err := hc.validate(c.Ticket); err != nil {
			t.Errorf("the other card's ticket: %v", err)
		}
	})
	t.Run("one agent, two readers", func(t *testing.T) {
		h := newHarness(t, withStack(s, rs[0], rs[1]))
		inA := stacktest.InsertCard(t, newVCard(t, h.srv, uidAlice), rs[0].Index)
		h.enterPIN(testPIN, false)
		h.event(EventAuthenticated)
		stacktest.InsertCard(t, newVCard(t, h.srv, uidChan), rs[1].Index)
		h.event(EventInserted)
		if qs := h.a.Prompts().Pending(); len(qs) != 0 {
			t.Fatalf("the second card was asked for: %+v", qs)
		}
		stacktest.Pull(t, inA)
		h.event(EventLoggedOut)
		q := h.enterPIN(testPIN, false)
		if q.Reader != rs[1].Name || !strings.Contains(q.Text, uidChan) {
			t.Fatalf("after the pull: %+v", q)
		}
		h.answerRole(1)
		if ev := h.event(EventAuthenticated); ev.UID != uidChan {
			t.Fatalf("authenticated %+v", ev)
		}
	})
}

// TestStackSessionLock: in session-lock mode pulling the card locks the
// session; the same card in another reader with its PIN resumes it.
func TestStackSessionLock(t *testing.T) {
	s, rs := stackReaders(t)
	h := newHarness(t, withStack(s, rs[0], rs[2]), withMode(ModeSessionLock))
	card := newVCard(t, h.srv, uidAlice)
	in := stacktest.InsertCard(t, card, rs[0].Index)
	h.enterPIN(testPIN, false)
	h.event(EventAuthenticated)
	ti := h.ticket()
	stacktest.Pull(t, in)
	h.event(EventLocked)
	if _, err := h.validate(ti.Ticket); err != nil {
		t.Fatalf("the session died with the lock: %v", err)
	}
	stacktest.InsertCard(t, card, rs[2].Index)
	h.resume(ti)
	if n := h.requests("authactivate"); n != 1 {
		t.Errorf("%d GAS logins, want 1 (resume does not log in again)", n)
	}
	if card.Signatures() != 2 {
		t.Errorf("card signatures %d, want 2 (login, and the proof on resume)", card.Signatures())
	}
}
