package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/pcsc"
)

// oneShot logs card in once, with pin, against srv.
func oneShot(t *testing.T, srv *cistest.Server, card *fakeCard, pin string, mod func(*OneShotConfig)) (*LoginResult, error) {
	t.Helper()
	readers := newFakeReaders()
	readers.cards[readerA] = card
	cfg := OneShotConfig{
		Agent:  Config{Env: srv.Env(), OpenToken: readers.open, PINRetries: readers.retries, CardLogout: readers.logout},
		Reader: readerA,
		PIN:    func(Question) ([]byte, error) { return []byte(pin), nil },
	}
	if mod != nil {
		mod(&cfg)
	}
	return LoginOnce(context.Background(), cfg)
}

func TestLoginOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := cistest.NewServerWithConfig(t, cissim.Config{Registerer: reg})
	var asked Question
	res, err := oneShot(t, srv, newFakeCard(t, srv, uidChan, 0), testPIN, func(c *OneShotConfig) {
		c.Agent.Role = "555000000302"
		c.PIN = func(q Question) ([]byte, error) { asked = q; return []byte(testPIN), nil }
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.UID != uidChan || res.Name != "Patel Chandra Ms" || res.SelectedRoleID != "555000000302" || len(res.Roles) != 2 || res.Ticket == "" {
		t.Fatalf("result %+v", res)
	}
	if asked.TriesLeft != 3 {
		t.Errorf("PIN question %+v", asked)
	}
	// The session outlives the one-shot login, until LogoutOnce.
	ssb, _ := cis.NewSSBClient(cis.SSBConfig{Env: srv.Env()})
	if a, err := ssb.Validate(context.Background(), cis.Ticket(res.Ticket)); err != nil || a.SelectedRoleID != "555000000302" {
		t.Fatalf("the ticket after the one-shot login: %v", err)
	}
	if err := LogoutOnce(context.Background(), srv.Env(), cis.Ticket(res.Ticket)); err != nil {
		t.Fatal(err)
	}
	if _, err := ssb.Validate(context.Background(), cis.Ticket(res.Ticket)); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("after LogoutOnce: %v", err)
	}
	if err := LogoutOnce(context.Background(), srv.Env(), cis.Ticket(res.Ticket)); !errors.Is(err, cis.ErrSessionInvalid) {
		t.Errorf("second LogoutOnce: %v", err)
	}
}

func TestLoginOnceRefusals(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv := cistest.NewServerWithConfig(t, cissim.Config{Registerer: reg})
	validates := func() int { n, _ := cistest.Requests(reg, "authactivate"); return n }

	card := newFakeCard(t, srv, uidAlice, 0)
	_, err := oneShot(t, srv, card, wrongPIN, nil)
	var oe *OneShotError
	if !errors.As(err, &oe) || oe.Message != "PIN incorrect: 2 tries left" || !errors.Is(err, pcsc.ErrPINIncorrect) {
		t.Fatalf("wrong PIN: %v", err)
	}
	_, err = oneShot(t, srv, card, wrongPIN, nil)
	if !errors.As(err, &oe) || oe.Message != "PIN incorrect: 1 try left. A wrong PIN now locks the card" {
		t.Fatalf("second wrong PIN: %v", err)
	}
	// The final try: not sent without --confirm-final-try, not even asked.
	asked := false
	_, err = oneShot(t, srv, card, testPIN, func(c *OneShotConfig) {
		c.PIN = func(Question) ([]byte, error) { asked = true; return []byte(testPIN), nil }
	})
	if !errors.Is(err, pcsc.ErrFinalTry) || asked || card.triesLeft() != 1 || !strings.Contains(err.Error(), "--confirm-final-try") {
		t.Fatalf("final try unconfirmed: %v (PIN asked %v, %d tries left)", err, asked, card.triesLeft())
	}
	if n := validates(); n != 0 {
		t.Fatalf("GAS heard %d activations", n)
	}
	// Confirmed, the wrong PIN locks it.
	_, err = oneShot(t, srv, card, wrongPIN, func(c *OneShotConfig) { c.ConfirmFinalTry = true })
	if !errors.As(err, &oe) || !strings.HasPrefix(oe.Message, "PIN incorrect: the card is now locked") {
		t.Fatalf("wrong PIN on the final try: %v", err)
	}
	_, err = oneShot(t, srv, card, testPIN, func(c *OneShotConfig) { c.ConfirmFinalTry = true })
	if !errors.As(err, &oe) || !strings.HasPrefix(oe.Message, "This card's PIN is locked") {
		t.Fatalf("locked card: %v", err)
	}
	// Several roles and no --role: the roles are listed, no session stays.
	_, err = oneShot(t, srv, newFakeCard(t, srv, uidChan, 1), testPIN, nil)
	if err == nil || !strings.Contains(err.Error(), "give --role ID") || !strings.Contains(err.Error(), "555000000302") {
		t.Fatalf("several roles: %v", err)
	}
	if n := len(srv.Simulator().Sessions()); n != 0 {
		t.Errorf("%d sessions left open after a failed one-shot login", n)
	}
	// CIS in maintenance.
	srv.SetMaintenance(true)
	_, err = oneShot(t, srv, newFakeCard(t, srv, uidAlice, 2), testPIN, nil)
	if !errors.As(err, &oe) || !strings.Contains(oe.Message, "down for maintenance") {
		t.Fatalf("maintenance: %v", err)
	}
}
