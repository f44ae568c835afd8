package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/pcsc"
)

// logoutTimeout bounds a logout that must not be stopped by the caller's
// context ending (the card was pulled, the agent is stopping).
const logoutTimeout = 10 * time.Second

// logoutQuietly ends sess at GAS on a context of its own, for clean-up
// paths where the error has nowhere to go but the session's own timeout.
func logoutQuietly(gas *cis.GASClient, sess *cis.Session) error {
	ctx, cancel := context.WithTimeout(context.Background(), logoutTimeout)
	defer cancel()
	return gas.Logout(ctx, sess)
}

// WaitRemoval returns when events reports the card in reader pulled
// (pcsc.CardRemoved), or with ctx's error. Other events are skipped.
func WaitRemoval(ctx context.Context, events <-chan pcsc.Event, reader string) error {
	for {
		select {
		case ev := <-events:
			if ev.Kind == pcsc.CardRemoved && ev.Reader == reader {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("card never removed from %q: %w", reader, ctx.Err())
		}
	}
}

// LogoutOnRemoval is what the agent does in normal mode, for one session:
// when the card leaves reader (WaitRemoval on events) it logs sess out of
// GAS. The returned channel gets the logout's result once (or ctx's error
// if the card is never pulled).
func LogoutOnRemoval(ctx context.Context, events <-chan pcsc.Event, reader string, gas *cis.GASClient, sess *cis.Session) <-chan error {
	out := make(chan error, 1)
	go func() {
		if err := WaitRemoval(ctx, events, reader); err != nil {
			out <- err
			return
		}
		out <- logoutQuietly(gas, sess)
	}()
	return out
}
