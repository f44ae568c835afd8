package pcsc

import (
	"slices"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// fakePCSC behaves like pcscd for GetStatusChange: it blocks until a reader
// differs from the caller's CurrentState, keeps a per-reader event counter in
// the upper 16 bits, reports unknown readers as UNKNOWN|CHANGED, and, like
// pcsc-lite, its Cancel only interrupts a call that is already waiting.
type fakePCSC struct {
	mu       sync.Mutex
	readers  []string
	slots    map[string]*fakeSlot
	changed  chan struct{}
	cancel   chan struct{} // non-nil while a call waits
	calls    int
	released int
	// card is returned by Connect.
	card scardCard
}

type fakeSlot struct {
	present bool
	counter uint16
	atr     []byte
}

func newFakePCSC(readers ...string) *fakePCSC {
	f := &fakePCSC{slots: map[string]*fakeSlot{}, changed: make(chan struct{})}
	for _, r := range readers {
		f.readers = append(f.readers, r)
		f.slots[r] = &fakeSlot{}
	}
	return f
}

func (f *fakePCSC) establish() (scardContext, error) { return f, nil }

func (f *fakePCSC) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakePCSC) insert(reader string, atr []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.slots[reader]
	s.present, s.atr = true, atr
	s.counter++
	f.notify()
}

func (f *fakePCSC) pull(reader string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.slots[reader]
	s.present = false
	s.counter++
	f.notify()
}

// pullAndInsert changes the card twice without letting a waiter see the middle.
func (f *fakePCSC) pullAndInsert(reader string, atr []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.slots[reader]
	s.present, s.atr = true, atr
	s.counter += 2
	f.notify()
}

func (f *fakePCSC) addReader(r string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers = append(f.readers, r)
	f.slots[r] = &fakeSlot{}
	f.notify()
}

func (f *fakePCSC) removeReader(r string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers = slices.DeleteFunc(f.readers, func(x string) bool { return x == r })
	delete(f.slots, r)
	f.notify()
}

func (f *fakePCSC) ListReaders() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.readers) == 0 {
		return nil, scard.ErrNoReadersAvailable
	}
	return slices.Clone(f.readers), nil
}

// compute fills EventState and reports whether anything differs.
func (f *fakePCSC) compute(states []scard.ReaderState) bool {
	changed := false
	for i := range states {
		rs := &states[i]
		if rs.Reader == pnpNotification {
			ev := scard.StateFlag(len(f.readers)) << 16
			rs.EventState = ev
			if rs.CurrentState>>16 != ev>>16 {
				rs.EventState |= scard.StateChanged
				changed = true
			}
			continue
		}
		s, ok := f.slots[rs.Reader]
		if !ok {
			rs.EventState = scard.StateUnknown
			if rs.CurrentState&scard.StateUnknown == 0 {
				rs.EventState |= scard.StateChanged
				changed = true
			}
			continue
		}
		ev := scard.StateFlag(s.counter) << 16
		if s.present {
			ev |= scard.StatePresent
			rs.Atr = s.atr
		} else {
			ev |= scard.StateEmpty
		}
		rs.EventState = ev
		if rs.CurrentState == scard.StateUnaware || rs.CurrentState != ev {
			rs.EventState |= scard.StateChanged
			changed = true
		}
	}
	return changed
}

func (f *fakePCSC) GetStatusChange(states []scard.ReaderState, timeout time.Duration) error {
	f.mu.Lock()
	f.calls++
	for {
		if f.compute(states) {
			f.mu.Unlock()
			return nil
		}
		ch := f.changed
		cancel := make(chan struct{})
		f.cancel = cancel
		f.mu.Unlock()
		select {
		case <-ch:
			f.mu.Lock()
			f.cancel = nil
		case <-cancel:
			return scard.ErrCancelled
		}
	}
}

func (f *fakePCSC) Cancel() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cancel != nil {
		close(f.cancel)
		f.cancel = nil
	}
	return nil
}

func (f *fakePCSC) Release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released++
	return nil
}

func (f *fakePCSC) Connect(reader string) (scardCard, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.slots[reader]
	switch {
	case !ok:
		return nil, scard.ErrUnknownReader
	case !s.present:
		return nil, scard.ErrNoSmartcard
	}
	return f.card, nil
}
