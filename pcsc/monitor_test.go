package pcsc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"
)

var testATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// nextEvent returns the next event or fails the test after a generous bound
// (a hang guard, not a timing assumption).
func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return Event{}
	}
}

func expectEvents(t *testing.T, ch <-chan Event, want ...Event) {
	t.Helper()
	for _, w := range want {
		got := nextEvent(t, ch)
		if got.Kind != w.Kind || got.Reader != w.Reader || !slices.Equal(got.ATR, w.ATR) {
			t.Fatalf("event = %v %q % X, want %v %q % X", got.Kind, got.Reader, got.ATR, w.Kind, w.Reader, w.ATR)
		}
		if got.Time.IsZero() {
			t.Errorf("event %v has no time", got.Kind)
		}
	}
}

func startMonitor(t *testing.T, f *fakePCSC, cfg MonitorConfig) (<-chan Event, func() error) {
	t.Helper()
	m, err := newMonitor(cfg, f.establish)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, events) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
			return nil
		}
	})
	t.Cleanup(func() { _ = stop() })
	return events, stop
}

func TestMonitorReportsInitialStateAndChanges(t *testing.T) {
	f := newFakePCSC("A", "B")
	f.insert("A", testATR)
	events, stop := startMonitor(t, f, MonitorConfig{})

	expectEvents(t, events,
		Event{Kind: ReaderAdded, Reader: "A"},
		Event{Kind: ReaderAdded, Reader: "B"},
		Event{Kind: CardInserted, Reader: "A", ATR: testATR})

	f.insert("B", []byte{1, 2})
	expectEvents(t, events, Event{Kind: CardInserted, Reader: "B", ATR: []byte{1, 2}})
	f.pull("A")
	expectEvents(t, events, Event{Kind: CardRemoved, Reader: "A"})
	// A pull and re-insert that happens between two waits is seen through
	// the event counter.
	f.pullAndInsert("B", []byte{3})
	expectEvents(t, events,
		Event{Kind: CardRemoved, Reader: "B"},
		Event{Kind: CardInserted, Reader: "B", ATR: []byte{3}})

	f.addReader("C")
	expectEvents(t, events, Event{Kind: ReaderAdded, Reader: "C"})
	f.removeReader("B")
	expectEvents(t, events,
		Event{Kind: CardRemoved, Reader: "B"},
		Event{Kind: ReaderRemoved, Reader: "B"})

	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	if f.released != 1 {
		t.Errorf("context released %d times, want 1", f.released)
	}
}

func TestMonitorNamedReadersFollowHotPlug(t *testing.T) {
	f := newFakePCSC("A", "B")
	events, _ := startMonitor(t, f, MonitorConfig{Readers: []string{"B", "D"}})
	expectEvents(t, events, Event{Kind: ReaderAdded, Reader: "B"})
	f.insert("A", testATR) // not watched
	f.addReader("D")
	expectEvents(t, events, Event{Kind: ReaderAdded, Reader: "D"})
	f.insert("D", testATR)
	expectEvents(t, events, Event{Kind: CardInserted, Reader: "D", ATR: testATR})
}

func TestMonitorStartsWithoutReaders(t *testing.T) {
	f := newFakePCSC()
	events, _ := startMonitor(t, f, MonitorConfig{})
	f.addReader("A")
	expectEvents(t, events, Event{Kind: ReaderAdded, Reader: "A"})
}

func TestTrackerSeesInsertAndPullBetweenWaits(t *testing.T) {
	tr := &tracker{}
	tr.sync([]string{"A"})
	st := tr.states()
	st[0].EventState = scard.StateChanged | scard.StateEmpty | 4<<16
	if evs, _ := tr.update(st); len(evs) != 0 {
		t.Fatalf("initial empty reader gave %v", evs)
	}
	st = tr.states()
	st[0].EventState = scard.StateChanged | scard.StateEmpty | 6<<16
	evs, _ := tr.update(st)
	if len(evs) != 2 || evs[0].Kind != CardInserted || evs[1].Kind != CardRemoved {
		t.Fatalf("events = %v, want inserted then removed", evs)
	}
	// No CHANGED flag: nothing happens.
	st = tr.states()
	st[0].EventState = scard.StatePresent | 9<<16
	if evs, _ := tr.update(st); len(evs) != 0 {
		t.Fatalf("unchanged state gave %v", evs)
	}
}

func TestNewMonitorRejectsBadReaders(t *testing.T) {
	for _, rs := range [][]string{{""}, {"A", "A"}, {pnpNotification}} {
		if _, err := NewMonitor(MonitorConfig{Readers: rs}); err == nil {
			t.Errorf("NewMonitor(%q) succeeded", rs)
		}
	}
}

func TestMonitorReaders(t *testing.T) {
	f := newFakePCSC("A", "B", "C")
	m, err := newMonitor(MonitorConfig{Readers: []string{"C", "A", "X"}}, f.establish)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Readers(context.Background())
	if err != nil || !slices.Equal(got, []string{"A", "C"}) {
		t.Fatalf("Readers = %q, %v", got, err)
	}
	empty, err := newMonitor(MonitorConfig{}, newFakePCSC().establish)
	if err != nil {
		t.Fatal(err)
	}
	got, err = empty.Readers(context.Background())
	if err != nil || len(got) != 0 || got == nil {
		t.Fatalf("Readers without readers = %#v, %v; want empty list", got, err)
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{CardInserted: "card-inserted", CardRemoved: "card-removed",
		ReaderAdded: "reader-added", ReaderRemoved: "reader-removed", 42: "EventKind(42)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(k), k.String(), want)
		}
	}
}

func TestWaitCard(t *testing.T) {
	ctx := context.Background()
	f := newFakePCSC("A")
	if err := waitCard(ctx, f.establish, "A", false); err != nil {
		t.Fatalf("empty reader, wait for empty: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- waitCard(ctx, f.establish, "A", true) }()
	f.insert("A", testATR)
	if err := <-done; err != nil {
		t.Fatalf("wait for present: %v", err)
	}
	go func() { done <- waitCard(ctx, f.establish, "A", false) }()
	f.pull("A")
	if err := <-done; err != nil {
		t.Fatalf("wait for empty: %v", err)
	}
	if err := waitCard(ctx, f.establish, "nope", true); !errors.Is(err, ErrNoReader) {
		t.Fatalf("unknown reader: %v, want ErrNoReader", err)
	}
	// The reader is empty, so a wait for a card blocks until the reader goes
	// (or, if the removal comes first, sees an unknown reader at once).
	go func() { done <- waitCard(ctx, f.establish, "A", true) }()
	f.removeReader("A")
	if err := <-done; !errors.Is(err, ErrNoReader) {
		t.Fatalf("reader unplugged while waiting: %v, want ErrNoReader", err)
	}
	if f.released != 5 {
		t.Errorf("released %d contexts, want 5", f.released)
	}
}

func TestWaitCardCancelled(t *testing.T) {
	f := newFakePCSC("A")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- waitCard(ctx, f.establish, "A", true) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait = %v", err)
	}
}

// lateWaiter delays the moment a GetStatusChange call starts waiting until
// gate is closed, so a Cancel sent before then is lost, as in pcsc-lite.
type lateWaiter struct {
	*fakePCSC
	entered, gate chan struct{}
}

func (l lateWaiter) GetStatusChange(states []scard.ReaderState, timeout time.Duration) error {
	close(l.entered)
	<-l.gate
	return l.fakePCSC.GetStatusChange(states, timeout)
}

func TestGetStatusChangeRepeatsLostCancel(t *testing.T) {
	f := newFakePCSC("A")
	l := lateWaiter{f, make(chan struct{}), make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- getStatusChange(ctx, l, []scard.ReaderState{{Reader: "A", CurrentState: scard.StateEmpty}})
	}()
	<-l.entered
	cancel() // lands before the call waits: pcsc-lite would drop it
	close(l.gate)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("getStatusChange = %v, want context.Canceled", err)
	}
}
