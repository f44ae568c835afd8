package pcsc

import (
	"context"
	"fmt"

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
	states := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	for {
		if err := getStatusChange(ctx, sc, states); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return scardError(fmt.Sprintf("wait for reader %q", reader), err)
		}
		ev := states[0].EventState
		switch {
		case ev&(scard.StateUnknown|scard.StateIgnore) != 0:
			return fmt.Errorf("pcsc: wait for reader %q: %w", reader, ErrNoReader)
		case present && ev&scard.StatePresent != 0:
			return nil
		case !present && ev&scard.StateEmpty != 0:
			return nil
		}
		states[0].CurrentState = ev &^ scard.StateChanged
	}
}
