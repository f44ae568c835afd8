package pcsc

import (
	"context"
	"fmt"
	"time"

	"github.com/ebfe/scard"
)

// WaitCard blocks until pcscd shows a card in reader (present true) or the
// reader empty (present false), and returns at once if it already does. It
// waits on SCardGetStatusChange without polling; cancelling ctx ends the wait
// with ctx.Err(). A reader that does not exist (or disappears) gives
// ErrNoReader.
//
// pcscd looks at each reader about every 400 ms, so after a card was pulled
// it may still show PRESENT for that long: wait for EMPTY before inserting
// the next card, and for PRESENT before using it.
func WaitCard(ctx context.Context, reader string, present bool) error {
	return waitCard(ctx, establishPCSC, reader, present)
}

func waitCard(ctx context.Context, establish establishFunc, reader string, present bool) error {
	sc, err := establish()
	if err != nil {
		return err
	}
	defer sc.Release()
	want := scard.StateEmpty
	if present {
		want = scard.StatePresent
	}
	_, err = watchReader(ctx, sc, reader, func(ev scard.StateFlag) bool { return ev&want != 0 })
	return err
}

// watchReader waits on reader's state until done returns true for a state
// pcscd reports (the current one included) and returns that state. A reader
// that is unknown or disappears gives ErrNoReader; a done ctx gives
// ctx.Err().
func watchReader(ctx context.Context, sc scardContext, reader string, done func(scard.StateFlag) bool) (scard.StateFlag, error) {
	states := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	for {
		if err := getStatusChange(ctx, sc, states); err != nil {
			if ctx.Err() != nil {
				return 0, err
			}
			return 0, scardError(fmt.Sprintf("wait for reader %q", reader), err)
		}
		ev := states[0].EventState
		if ev&(scard.StateUnknown|scard.StateIgnore) != 0 {
			return ev, fmt.Errorf("pcsc: wait for reader %q: %w", reader, ErrNoReader)
		}
		if done(ev) {
			return ev, nil
		}
		states[0].CurrentState = ev &^ scard.StateChanged
	}
}

// removalGrace bounds how long a failed token operation waits for pcscd to
// confirm that the card is gone: pcscd looks at a reader every 400 ms, and a
// command that hit the dead card usually makes it notice sooner.
const removalGrace = time.Second

// readerShowsRemoval reports whether pcscd shows reader empty, or shows it
// emptied (or the card swapped) within removalGrace. A name that is not a
// PC/SC reader (a SoftHSM2 slot) or a missing pcscd gives false.
func readerShowsRemoval(ctx context.Context, reader string) bool {
	return cardGone(ctx, establishPCSC, reader, removalGrace)
}

func cardGone(ctx context.Context, establish establishFunc, reader string, grace time.Duration) bool {
	if reader == "" {
		return false
	}
	sc, err := establish()
	if err != nil {
		return false
	}
	defer sc.Release()
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	first := true
	var counter scard.StateFlag
	_, err = watchReader(ctx, sc, reader, func(ev scard.StateFlag) bool {
		if first {
			first, counter = false, ev>>16
		}
		return ev&scard.StateEmpty != 0 || ev>>16 != counter
	})
	return err == nil
}
