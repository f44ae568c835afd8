package stacktest

import (
	"context"
	"testing"
	"time"

	"github.com/opencis/cisauth/pcsc"
	"github.com/opencis/cisauth/pcsc/vcard"
)

// stateTimeout bounds each wait for pcscd to show a reader PRESENT or
// EMPTY; pcscd polls every 400 ms, so this is generous.
const stateTimeout = 10 * time.Second

// InsertCard puts card into reader readerIndex (an index into Stack.All):
// it waits until pcscd shows the reader EMPTY (a card pulled just before
// may still show PRESENT for up to one poll), inserts, and waits until
// pcscd shows PRESENT. A cleanup pulls the card and waits for EMPTY, even if
// the test fails.
func InsertCard(t testing.TB, card *vcard.Card, readerIndex int) *vcard.Inserted {
	t.Helper()
	s := Require(t)
	if readerIndex < 0 || readerIndex >= len(s.All) {
		t.Fatalf("stacktest: no reader %d (the stack has %d)", readerIndex, len(s.All))
	}
	r := s.All[readerIndex]
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	if err := pcsc.WaitCard(ctx, r.Name, false); err != nil {
		t.Fatalf("stacktest: reader %q not empty before insert: %v", r.Name, err)
	}
	in, err := card.Insert(ctx, r.Addr)
	if err != nil {
		t.Fatalf("stacktest: insert into %q: %v", r.Name, err)
	}
	t.Cleanup(func() {
		if err := pull(in, r); err != nil {
			t.Errorf("stacktest: cleanup: %v", err)
		}
	})
	if err := pcsc.WaitCard(ctx, r.Name, true); err != nil {
		t.Fatalf("stacktest: card inserted into %q but pcscd does not show it: %v", r.Name, err)
	}
	return in
}

// Pull takes the card out and waits until pcscd shows its reader EMPTY.
// Pulling again (or in InsertCard's cleanup) is harmless.
func Pull(t testing.TB, in *vcard.Inserted) {
	t.Helper()
	s := Require(t)
	for _, r := range s.All {
		if r.Addr == in.Addr() {
			if err := pull(in, r); err != nil {
				t.Fatalf("stacktest: %v", err)
			}
			return
		}
	}
	t.Fatalf("stacktest: card is in %s, which is none of the stack's readers", in.Addr())
}

func pull(in *vcard.Inserted, r Reader) error {
	// The error that ended the link (vpcd gone) does not matter here: the
	// card is out either way, and the wait below checks pcscd.
	_ = in.Pull()
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	if err := pcsc.WaitCard(ctx, r.Name, false); err != nil {
		return err
	}
	return nil
}
