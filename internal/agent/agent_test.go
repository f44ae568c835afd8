package agent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/pcsc"
)

// TestInsertPINTicketPull: the whole normal-mode cycle with a fake card:
// insert, PIN (with the tries left shown), login with the only role,
// a ticket the SSB accepts with that role; pull, and the session is gone
// at CIS and at the agent.
func TestInsertPINTicketPull(t *testing.T) {
	h := newHarness(t)
	if st := h.a.Status(); st.State != PhaseNoCard || st.Message != msgInsertCard {
		t.Errorf("before any card: %+v", st)
	}
	card := newFakeCard(t, h.srv, uidAlice, 0)
	h.readers.insert(readerA, card)
	if ev := h.event(EventInserted); ev.Reader != readerA {
		t.Errorf("inserted event %+v", ev)
	}
	q := h.enterPIN(testPIN, false)
	if q.TriesLeft != 3 || q.FinalTry || q.Reader != readerA || !strings.Contains(q.Text, "3 tries left") ||
		!strings.Contains(q.Text, uidAlice) {
		t.Errorf("PIN question %+v", q)
	}
	auth := h.event(EventAuthenticated)
	role := h.event(EventRoleSelected)
	if auth.UID != uidAlice || auth.Name != "Jones Alice Dr" || role.RoleID != roleAlice {
		t.Errorf("events %+v %+v", auth, role)
	}
	ti := h.ticket()
	if ti.UID != uidAlice || ti.SelectedRoleID != roleAlice || ti.Ticket.IsZero() {
		t.Fatalf("ticket info %+v", ti)
	}
	a, err := h.validate(ti.Ticket)
	if err != nil || a.SelectedRoleID != roleAlice || a.User.UID != uidAlice {
		t.Fatalf("the SSB on the agent's ticket: %+v, %v", a, err)
	}
	st := h.a.Status()
	if st.State != PhaseAuthenticated || !st.CardPresent || st.Reader != readerA || st.SelectedRoleID != roleAlice ||
		len(st.Roles) != 1 || st.Mode != "normal" || !strings.HasPrefix(st.Message, "Logged in as Jones Alice Dr") {
		t.Errorf("status %+v", st)
	}
	if pins, signs := card.counts(); pins != 1 || signs != 1 {
		t.Errorf("card saw %d PINs and %d signatures, want 1 and 1", pins, signs)
	}
	if card.verified {
		t.Error("the card was left with its PIN verified")
	}

	h.readers.pull(readerA)
	h.event(EventRemoved)
	out := h.event(EventLoggedOut)
	if out.UID != uidAlice || out.Message != msgCardPulled {
		t.Errorf("logged-out event %+v", out)
	}
	if _, err := h.validate(ti.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("the ticket after the pull: %v, want ErrSessionInvalid", err)
	}
	if _, err := h.a.Ticket(context.Background(), false); !errors.Is(err, ErrNoSession) {
		t.Errorf("Ticket after the pull: %v", err)
	}
	if st := h.a.Status(); st.State != PhaseNoCard || st.UID != "" {
		t.Errorf("status after the pull %+v", st)
	}
}

// TestWrongPINs: plain-words messages with the tries left; the final try
// is not spent without the person's confirmation; nothing reaches GAS
// before the right PIN.
func TestWrongPINs(t *testing.T) {
	h := newHarness(t)
	card := newFakeCard(t, h.srv, uidAlice, 0)
	h.readers.insert(readerA, card)
	h.enterPIN(wrongPIN, false)
	q := h.question(AskPIN)
	if !strings.HasPrefix(q.Text, "PIN incorrect: 2 tries left. ") || q.TriesLeft != 2 || q.FinalTry {
		t.Fatalf("after one wrong PIN: %+v", q)
	}
	h.enterPIN(wrongPIN, false)
	q = h.question(AskPIN)
	if !strings.HasPrefix(q.Text, "PIN incorrect: 1 try left. A wrong PIN now locks the card") || !q.FinalTry || q.TriesLeft != 1 {
		t.Fatalf("after two wrong PINs: %+v", q)
	}
	// The right PIN without confirming the final try: not sent.
	h.enterPIN(testPIN, false)
	q = h.question(AskPIN)
	if !strings.HasPrefix(q.Text, "PIN not sent: this is the card's final try") || !q.FinalTry {
		t.Fatalf("after an unconfirmed final try: %+v", q)
	}
	if pins, _ := card.counts(); pins != 2 || card.triesLeft() != 1 {
		t.Fatalf("card saw %d PINs with %d tries left, want 2 and 1", pins, card.triesLeft())
	}
	if n := h.requests("authactivate"); n != 0 {
		t.Fatalf("GAS heard %d activations before a good PIN", n)
	}
	h.enterPIN(testPIN, true)
	h.event(EventAuthenticated)
	if card.triesLeft() != 3 {
		t.Errorf("tries not reset by the good PIN: %d", card.triesLeft())
	}
}

// TestLockedCard: a wrong PIN on the confirmed final try locks the card;
// the agent says so and asks no more.
func TestLockedCard(t *testing.T) {
	h := newHarness(t)
	card := newFakeCard(t, h.srv, uidAlice, 0)
	card.tries = 1
	h.readers.insert(readerA, card)
	h.enterPIN(wrongPIN, true)
	msg := h.message(func(m string) bool { return strings.HasPrefix(m, "PIN incorrect: the card is now locked") })
	if !strings.Contains(msg, "registration authority") {
		t.Errorf("message %q", msg)
	}
	st := h.a.Status()
	if st.State != PhaseCardIn || len(st.Questions) != 0 {
		t.Errorf("status after locking %+v", st)
	}
	// A locked card asked again (GET /ticket): refused at once, no PIN sent.
	_, err := h.a.Ticket(context.Background(), true)
	var pe *pcsc.PINError
	if !errors.As(err, &pe) || !pe.Locked {
		t.Errorf("Ticket with a locked card: %v", err)
	}
	if pins, _ := card.counts(); pins != 1 {
		t.Errorf("PINs sent %d, want 1", pins)
	}
}

// TestRoleChoice: several roles are asked for; a preselected role is used
// when the user holds it and asked for otherwise.
func TestRoleChoice(t *testing.T) {
	t.Run("asked", func(t *testing.T) {
		h := newHarness(t)
		h.readers.insert(readerA, newFakeCard(t, h.srv, uidBob, 0))
		h.enterPIN(testPIN, false)
		q := h.question(AskRole)
		if len(q.Roles) != 8 || q.Roles[3].ID != "555000000204" || q.Roles[3].OrgCode != "RKF" {
			t.Fatalf("role question %+v", q)
		}
		if st := h.a.Status(); st.State != PhaseChoosingRole {
			t.Errorf("state %s", st.State)
		}
		if err := h.a.Prompts().Answer(q.ID, Answer{RoleID: "999999999999"}); err != nil {
			t.Fatal(err)
		}
		q = h.question(AskRole)
		if !strings.HasPrefix(q.Text, "That role is not one of yours") {
			t.Errorf("after an unknown role: %q", q.Text)
		}
		h.a.Prompts().Answer(q.ID, Answer{RoleID: "555000000204"})
		if ev := h.event(EventRoleSelected); ev.RoleID != "555000000204" {
			t.Errorf("role-selected %+v", ev)
		}
		a, err := h.validate(h.ticket().Ticket)
		if err != nil || a.SelectedRoleID != "555000000204" {
			t.Fatalf("assertion %v, %v", a, err)
		}
		// Switch role (POST /role).
		if err := h.a.SelectRole(context.Background(), "555000000207"); err != nil {
			t.Fatal(err)
		}
		h.event(EventRoleSelected)
		if a, err := h.validate(h.ticket().Ticket); err != nil || a.SelectedRoleID != "555000000207" {
			t.Errorf("after the switch: %v, %v", a, err)
		}
		if err := h.a.SelectRole(context.Background(), "555000000101"); !errors.Is(err, cis.ErrUnknownRole) {
			t.Errorf("switch to someone else's role: %v", err)
		}
	})
	t.Run("preselected", func(t *testing.T) {
		h := newHarness(t, withRole("555000000302"))
		h.readers.insert(readerA, newFakeCard(t, h.srv, uidChan, 0))
		h.enterPIN(testPIN, false)
		if ev := h.event(EventRoleSelected); ev.RoleID != "555000000302" {
			t.Errorf("preselected role: %+v", ev)
		}
	})
	t.Run("preselected but not held", func(t *testing.T) {
		h := newHarness(t, withRole("555000000101"))
		h.readers.insert(readerA, newFakeCard(t, h.srv, uidChan, 0))
		h.enterPIN(testPIN, false)
		q := h.question(AskRole)
		if !strings.HasPrefix(q.Text, "Role 555000000101 is not one of yours") {
			t.Errorf("question %q", q.Text)
		}
	})
}

// TestPullStopsSignature: pulling the card while it signs the challenge
// stops the login there: GAS never hears the validate.
func TestPullStopsSignature(t *testing.T) {
	h := newHarness(t)
	card := newFakeCard(t, h.srv, uidAlice, 0)
	signing := make(chan struct{})
	card.signHook = func(ctx context.Context) error {
		close(signing)
		<-ctx.Done() // the card takes its time
		return ctx.Err()
	}
	h.readers.insert(readerA, card)
	h.enterPIN(testPIN, false)
	<-signing
	h.readers.pull(readerA)
	h.message(func(m string) bool { return m == msgInsertCard })
	if n := h.requests("authvalidate"); n != 0 {
		t.Errorf("GAS heard %d validate requests after the card left mid-signature", n)
	}
	if n := h.requests("authactivate"); n != 1 {
		t.Errorf("activations %d, want 1", n)
	}
	if st := h.a.Status(); st.State != PhaseNoCard {
		t.Errorf("status %+v", st)
	}
}

// TestSessionLockMode: pulling locks (ticket withheld, SSO session kept);
// the same card and PIN resume the same session; another card ends it.
func TestSessionLockMode(t *testing.T) {
	h := newHarness(t, withMode(ModeSessionLock))
	card, ti := h.loginAlice()
	h.readers.pull(readerA)
	if ev := h.event(EventLocked); ev.UID != uidAlice {
		t.Errorf("locked event %+v", ev)
	}
	if _, err := h.a.Ticket(context.Background(), false); !errors.Is(err, ErrNoSession) {
		t.Errorf("ticket while locked: %v", err)
	}
	if st := h.a.Status(); st.State != PhaseLocked || !st.Locked || st.UID != uidAlice {
		t.Errorf("status while locked %+v", st)
	}
	if _, err := h.validate(ti.Ticket); err != nil {
		t.Errorf("the SSO session died with the lock: %v", err)
	}
	// Back in another reader: the PIN of the same card resumes it.
	h.readers.insert(readerB, card)
	h.resume(ti)
	if n := h.requests("authactivate"); n != 1 {
		t.Errorf("resume logged in to GAS again (%d activations)", n)
	}
	// Locked again, and Bob's card comes: Alice's session ends, Bob logs in.
	h.readers.pull(readerB)
	h.event(EventLocked)
	h.readers.insert(readerA, newFakeCard(t, h.srv, uidBob, 1))
	h.enterPIN(testPIN, false)
	if ev := h.event(EventLoggedOut); ev.UID != uidAlice {
		t.Errorf("logged-out %+v", ev)
	}
	q := h.question(AskRole)
	h.a.Prompts().Answer(q.ID, Answer{RoleID: q.Roles[0].ID})
	if ev := h.event(EventAuthenticated); ev.UID != uidBob {
		t.Errorf("authenticated %+v", ev)
	}
	if _, err := h.validate(ti.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("Alice's ticket after Bob's login: %v", err)
	}
}

// TestSessionLockTimeout: a locked session ends after the lock timeout.
func TestSessionLockTimeout(t *testing.T) {
	h := newHarness(t, withMode(ModeSessionLock), withAgent(func(c *Config) { c.LockTimeout = 15 * time.Minute }))
	_, ti := h.loginAlice()
	h.readers.pull(readerA)
	h.event(EventLocked)
	h.tick(14 * time.Minute)
	h.tick(2 * time.Minute)
	h.event(EventLoggedOut)
	if _, err := h.validate(ti.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("after the lock timeout: %v", err)
	}
}

// TestMobilityMode: the card may leave; the session goes on until the
// away timer locks it; the reauthentication timer asks for the PIN again.
func TestMobilityMode(t *testing.T) {
	h := newHarness(t, withMode(ModeMobility), withAgent(func(c *Config) {
		c.AwayLock, c.ReauthAfter, c.KeepAlive = 20*time.Minute, 2*time.Hour, time.Hour
	}))
	card, ti := h.loginAlice()
	h.readers.pull(readerA)
	h.message(func(m string) bool { return m == msgCardOut })
	if got := h.ticket(); got.Ticket != ti.Ticket {
		t.Fatal("ticket changed with the card out")
	}
	h.tick(19 * time.Minute)
	if _, err := h.a.Ticket(context.Background(), false); err != nil {
		t.Fatalf("locked before the away timer: %v", err)
	}
	h.tick(2 * time.Minute)
	h.event(EventLocked)
	h.readers.insert(readerA, card)
	h.enterPIN(testPIN, false)
	h.event(EventUnlocked)
	// Two hours after that PIN, with the card in: locked and asked again.
	h.tick(2*time.Hour + time.Minute)
	h.event(EventLocked)
	h.resume(ti)
}

// TestKeepAlive: the agent resets the session's idle timer at the session
// service, which keeps it alive past its idle timeout; a session ended at
// CIS is dropped with a message.
func TestKeepAlive(t *testing.T) {
	h := newHarness(t, withSim(func(s *cissim.Config) { s.SessionTime, s.MaxSessionTime = 10*time.Minute, 10*time.Hour }),
		withAgent(func(c *Config) { c.KeepAlive = time.Hour })) // capped at half the idle time: 5 minutes
	_, ti := h.loginAlice()
	for range 4 {
		now := h.clk.Add(0)
		h.tick(6 * time.Minute)
		h.waitStatus(func(st Status) bool { return st.KeptAlive.After(now) })
	}
	if _, err := h.validate(ti.Ticket); err != nil {
		t.Fatalf("after 24 minutes kept alive (idle timeout 10): %v", err)
	}
	if err := h.srv.ExpireSession(ti.Ticket); err != nil {
		t.Fatal(err)
	}
	h.tick(6 * time.Minute)
	if ev := h.event(EventLoggedOut); ev.Message != msgEnded {
		t.Errorf("logged-out %+v", ev)
	}
	if _, err := h.a.Ticket(context.Background(), false); !errors.Is(err, ErrNoSession) {
		t.Errorf("ticket after the session ended: %v", err)
	}
}

// TestCISDownAndMaintenance: plain words for a simulator in its weekly
// slot and for one that is gone; the person can try again.
func TestCISDownAndMaintenance(t *testing.T) {
	slot, err := cis.ParseMaintenanceSlot("Spine CIS", "Mon 20:00-Tue 06:00")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("maintenance", func(t *testing.T) {
		h := newHarness(t, withSim(func(s *cissim.Config) { s.Maintenance = []cis.MaintenanceSlot{slot} }),
			withEnv(func(e *cis.Environment) { e.Name, e.Maintenance = "dev", []cis.MaintenanceSlot{slot} }))
		// Monday 21:30 in London: in the Spine CIS slot, which ends 06:00.
		h.clk.Add(time.Date(2026, 11, 23, 21, 30, 0, 0, time.UTC).Sub(h.clk.Now()))
		h.readers.insert(readerA, newFakeCard(t, h.srv, uidAlice, 0))
		h.enterPIN(testPIN, false)
		h.message(func(m string) bool { return m == "CIS dev is in its weekly maintenance slot until 06:00" })
		if st := h.a.Status(); st.State != PhaseCardIn {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("down", func(t *testing.T) {
		h := newHarness(t, withEnv(func(e *cis.Environment) { e.Name = "dev" }))
		h.readers.insert(readerA, newFakeCard(t, h.srv, uidAlice, 0))
		h.srv.Close()
		h.enterPIN(testPIN, false)
		h.message(func(m string) bool { return m == "CIS dev cannot be reached. Check the network and try again" })
		// GET /ticket starts another login, which fails the same way.
		errc := make(chan error, 1)
		go func() {
			_, err := h.a.Ticket(context.Background(), true)
			errc <- err
		}()
		h.enterPIN(testPIN, false)
		if err := <-errc; !errors.Is(err, ErrNoSession) || !errors.Is(err, cis.ErrUnavailable) {
			t.Errorf("Ticket with CIS down: %v", err)
		}
	})
}

// TestTicketWaitsForCard: GET /ticket with no card waits for one, asks
// for the PIN and returns the new ticket.
func TestTicketWaitsForCard(t *testing.T) {
	h := newHarness(t)
	type result struct {
		ti  TicketInfo
		err error
	}
	done := make(chan result, 1)
	go func() {
		ti, err := h.a.Ticket(context.Background(), true)
		done <- result{ti, err}
	}()
	h.readers.insert(readerA, newFakeCard(t, h.srv, uidAlice, 0))
	h.enterPIN(testPIN, false)
	r := <-done
	if r.err != nil || r.ti.UID != uidAlice {
		t.Fatalf("Ticket = %+v, %v", r.ti, r.err)
	}
	// POST /ticket/new: a fresh session, the old one logged out.
	go func() {
		ti, err := h.a.NewTicket(context.Background())
		done <- result{ti, err}
	}()
	h.enterPIN(testPIN, false)
	r2 := <-done
	if r2.err != nil || r2.ti.Ticket == r.ti.Ticket {
		t.Fatalf("NewTicket = %v (same ticket: %v)", r2.err, r2.ti.Ticket == r.ti.Ticket)
	}
	if _, err := h.validate(r.ti.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("the old ticket after NewTicket: %v", err)
	}
	// A caller who gives up waiting gets its context's error.
	h.a.Logout("bye")
	h.readers.pull(readerA)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.a.Ticket(ctx, true); !errors.Is(err, context.Canceled) {
		t.Errorf("Ticket with a cancelled context and no card: %v", err)
	}
}

// TestTwoCards: with a session held, a second card in another reader is
// left alone; pulling it changes nothing; pulling the session's card ends
// the session, and the other card then gets its turn.
func TestTwoCards(t *testing.T) {
	h := newHarness(t)
	_, ti := h.loginAlice()
	h.readers.insert(readerB, newFakeCard(t, h.srv, uidChan, 1))
	h.event(EventInserted)
	if qs := h.a.Prompts().Pending(); len(qs) != 0 {
		t.Fatalf("the second card was asked for: %+v", qs)
	}
	h.readers.pull(readerB)
	h.event(EventRemoved)
	if _, err := h.validate(ti.Ticket); err != nil {
		t.Fatalf("pulling the other card ended the session: %v", err)
	}
	h.readers.insert(readerB, newFakeCard(t, h.srv, uidChan, 1))
	h.readers.pull(readerA)
	h.event(EventLoggedOut)
	q := h.question(AskPIN)
	if q.Reader != readerB || !strings.Contains(q.Text, uidChan) {
		t.Errorf("the waiting card's question %+v", q)
	}
}

// TestReadersLost: when pcscd goes away, cards count as pulled: the
// session ends in normal mode.
func TestReadersLost(t *testing.T) {
	h := newHarness(t)
	_, ti := h.loginAlice()
	h.readers.fail <- pcsc.ErrNoService
	h.event(EventLoggedOut)
	if _, err := h.validate(ti.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("ticket after pcscd went away: %v", err)
	}
	if st := h.a.Status(); !slices.ContainsFunc(st.Readers, func(r ReaderInfo) bool { return r.Name == readerA && !r.CardPresent }) {
		t.Errorf("status %+v", st)
	}
}

// TestStopEndsSession: stopping the agent logs the session out.
func TestStopEndsSession(t *testing.T) {
	h := newHarness(t)
	_, ti := h.loginAlice()
	h.stop()
	if _, err := h.validate(ti.Ticket); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("ticket after the agent stopped: %v", err)
	}
}
