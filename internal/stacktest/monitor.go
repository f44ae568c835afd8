package stacktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencis/cisauth/pcsc"
)

// EventWait bounds WaitEvent: pcscd looks at each reader every 400 ms, so
// an event normally follows within that; this is generous for loaded
// machines.
const EventWait = 10 * time.Second

// StartMonitor runs a pcsc.Monitor on readers (every reader if none) until
// the test ends, and fails the test if Run ends other than by that.
func StartMonitor(t testing.TB, readers ...string) <-chan pcsc.Event {
	t.Helper()
	m, err := pcsc.NewMonitor(pcsc.MonitorConfig{Readers: readers})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan pcsc.Event, 64)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, events) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Monitor.Run = %v, want context.Canceled", err)
		}
	})
	return events
}

// WaitEvent returns the next event of kind in reader, skipping others, and
// fails the test when none comes within EventWait.
func WaitEvent(t testing.TB, events <-chan pcsc.Event, kind pcsc.EventKind, reader string) pcsc.Event {
	t.Helper()
	timeout := time.After(EventWait)
	for {
		select {
		case ev := <-events:
			if ev.Kind == kind && ev.Reader == reader {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %v event for %q within %v", kind, reader, EventWait)
			return pcsc.Event{}
		}
	}
}
