package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ebfe/scard"
)

// EventKind says what happened in a reader.
type EventKind int

// The kinds of Event a Monitor emits.
const (
	// CardInserted: a card is in the reader (also emitted by Run for every
	// card already present when it starts).
	CardInserted EventKind = iota + 1
	// CardRemoved: the card was pulled (also emitted before ReaderRemoved
	// when a reader with a card disappears).
	CardRemoved
	// ReaderAdded: a reader appeared (also emitted by Run for every reader
	// present when it starts).
	ReaderAdded
	// ReaderRemoved: a reader was unplugged.
	ReaderRemoved
)

// String returns the kind's name, e.g. "card-inserted".
func (k EventKind) String() string {
	switch k {
	case CardInserted:
		return "card-inserted"
	case CardRemoved:
		return "card-removed"
	case ReaderAdded:
		return "reader-added"
	case ReaderRemoved:
		return "reader-removed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change seen in a reader.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Reader is the PC/SC reader name.
	Reader string
	// ATR is the card's answer to reset for CardInserted; nil otherwise
	// (and nil for an insertion that pcscd reported only through its event
	// counter, when the card was already gone again).
	ATR []byte
	// Time is when the Monitor saw the change (MonitorConfig.Now).
	Time time.Time
}

// pnpNotification is pcsc-lite's pseudo reader whose state changes when a
// reader is plugged in or unplugged.
const pnpNotification = `\\?PnP?\Notification`

// MonitorConfig configures a Monitor. The zero value watches every reader.
type MonitorConfig struct {
	// Logger receives debug lines about state changes; nil discards them.
	Logger *slog.Logger
	// Readers limits the monitor to these reader names. Nil means every
	// reader, following hot-plug. Named readers that are not there yet are
	// picked up when they appear.
	Readers []string
	// Now stamps events; nil means time.Now.
	Now func() time.Time
}

// Monitor watches PC/SC readers and reports cards being inserted and pulled
// and readers coming and going. It is safe to call Readers and Run from
// several goroutines; each Run uses its own PC/SC context.
type Monitor struct {
	logger    *slog.Logger
	readers   []string
	now       func() time.Time
	establish establishFunc
}

// NewMonitor checks cfg and returns a Monitor. It does not contact pcscd.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	return newMonitor(cfg, establishPCSC)
}

func newMonitor(cfg MonitorConfig, establish establishFunc) (*Monitor, error) {
	m := &Monitor{logger: cfg.Logger, now: cfg.Now, establish: establish}
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if cfg.Readers != nil {
		m.readers = []string{}
		for _, r := range cfg.Readers {
			if r == "" || r == pnpNotification {
				return nil, fmt.Errorf("pcsc: monitor: invalid reader name %q", r)
			}
			if slices.Contains(m.readers, r) {
				return nil, fmt.Errorf("pcsc: monitor: reader %q listed twice", r)
			}
			m.readers = append(m.readers, r)
		}
	}
	return m, nil
}

// Readers lists the readers the monitor watches that exist now, in pcscd's
// order. No readers at all is an empty list, not an error.
func (m *Monitor) Readers(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc, err := m.establish()
	if err != nil {
		return nil, err
	}
	defer sc.Release()
	names, _, err := m.list(sc)
	return names, err
}

// list returns the watched readers that exist and the number of all
// readers.
func (m *Monitor) list(sc scardContext) (names []string, total int, err error) {
	all, err := sc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return []string{}, 0, nil
	}
	if err != nil {
		return nil, 0, scardError("list readers", err)
	}
	if m.readers == nil {
		return all, len(all), nil
	}
	names = []string{}
	for _, r := range all {
		if slices.Contains(m.readers, r) {
			names = append(names, r)
		}
	}
	return names, len(all), nil
}

// Run sends events to events until ctx is done, then returns ctx.Err(). It
// first reports the current state (ReaderAdded for each reader, then
// CardInserted for each card present), then every change. It blocks in
// SCardGetStatusChange without a timeout (no polling) and interrupts that
// call with SCardCancel when ctx is done. The event counter pcscd keeps per
// reader reveals a pull and re-insert that happened between two looks: Run
// reports it as CardRemoved followed by CardInserted.
//
// pcscd looks at a reader about every 400 ms, so an event follows the
// physical change within about that time. Run does not close events. It
// returns another error if pcscd fails (ErrNoService when it stops or
// restarts); a caller that wants to go on calls Run again, which reports
// the state afresh.
//
// Hot-plug: pcsc-lite flags the PnP pseudo reader when the number of
// readers changes. Run passes the count it listed, which newer pcsc-lite
// compares; older versions (Debian 12's 1.9.9) count at the start of each
// wait, so there a reader plugged in between listing and waiting shows up
// at the next change. A swap of one reader for another within one wait is
// not seen.
func (m *Monitor) Run(ctx context.Context, events chan<- Event) error {
	sc, err := m.establish()
	if err != nil {
		return err
	}
	defer sc.Release()
	tr := &tracker{}
	emit := func(evs []Event) error {
		for _, ev := range evs {
			ev.Time = m.now()
			m.logger.Debug("pcsc event", "kind", ev.Kind.String(), "reader", ev.Reader)
			select {
			case events <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	relist := true
	for {
		if relist {
			names, total, err := m.list(sc)
			if err != nil {
				return err
			}
			// Newer pcsc-lite compares the upper word of the PnP reader's
			// current state with its reader count (older ones ignore it).
			tr.pnp = scard.StateFlag(total) << 16
			if err := emit(tr.sync(names)); err != nil {
				return err
			}
			relist = false
		}
		states := tr.states()
		states = append(states, scard.ReaderState{Reader: pnpNotification, CurrentState: tr.pnp})
		err := getStatusChange(ctx, sc, states)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, scard.ErrUnknownReader) {
			// A reader vanished between listing and waiting.
			relist = true
			continue
		}
		if err != nil {
			return scardError("wait for reader events", err)
		}
		pnp := states[len(states)-1]
		if pnp.EventState&scard.StateChanged != 0 {
			relist = true
		}
		evs, gone := tr.update(states[:len(states)-1])
		if gone {
			relist = true
		}
		if err := emit(evs); err != nil {
			return err
		}
	}
}

// readerTrack is what the monitor knows about one reader.
type readerTrack struct {
	name    string
	state   scard.StateFlag // last EventState without CHANGED; CurrentState of the next wait
	present bool
	atr     []byte
}

// tracker turns successive reader states into events. It holds no PC/SC
// resources, so it is tested on its own.
type tracker struct {
	readers []*readerTrack
	pnp     scard.StateFlag
}

// sync makes the tracked readers equal to names: new readers are added (with
// an unaware state, so the next wait reports their card at once), readers no
// longer listed are dropped, with CardRemoved first if they held a card.
func (tr *tracker) sync(names []string) []Event {
	var evs []Event
	kept := tr.readers[:0]
	for _, r := range tr.readers {
		if slices.Contains(names, r.name) {
			kept = append(kept, r)
			continue
		}
		if r.present {
			evs = append(evs, Event{Kind: CardRemoved, Reader: r.name})
		}
		evs = append(evs, Event{Kind: ReaderRemoved, Reader: r.name})
	}
	tr.readers = kept
	for _, n := range names {
		if !slices.ContainsFunc(tr.readers, func(r *readerTrack) bool { return r.name == n }) {
			tr.readers = append(tr.readers, &readerTrack{name: n, state: scard.StateUnaware})
			evs = append(evs, Event{Kind: ReaderAdded, Reader: n})
		}
	}
	return evs
}

// states returns the reader states to wait on.
func (tr *tracker) states() []scard.ReaderState {
	out := make([]scard.ReaderState, len(tr.readers))
	for i, r := range tr.readers {
		out[i] = scard.ReaderState{Reader: r.name, CurrentState: r.state}
	}
	return out
}

// update digests the result of a wait on tr.states() (same order) and
// returns the events; gone reports that a reader has disappeared, so the
// reader list must be read again.
func (tr *tracker) update(states []scard.ReaderState) (evs []Event, gone bool) {
	for i, rs := range states {
		if i >= len(tr.readers) {
			break
		}
		r := tr.readers[i]
		ev := rs.EventState
		if ev&scard.StateChanged == 0 {
			continue
		}
		if ev&(scard.StateUnknown|scard.StateIgnore) != 0 {
			gone = true
			r.state = ev &^ scard.StateChanged
			continue
		}
		first := r.state == scard.StateUnaware
		delta := uint16(ev>>16) - uint16(r.state>>16)
		now := ev&scard.StatePresent != 0
		atr := bytes.Clone(rs.Atr)
		switch {
		case first:
			if now {
				evs = append(evs, Event{Kind: CardInserted, Reader: r.name, ATR: atr})
			}
		case r.present && !now:
			evs = append(evs, Event{Kind: CardRemoved, Reader: r.name})
		case !r.present && now:
			evs = append(evs, Event{Kind: CardInserted, Reader: r.name, ATR: atr})
		case r.present && now && delta != 0:
			// Pulled and re-inserted between two looks.
			evs = append(evs, Event{Kind: CardRemoved, Reader: r.name},
				Event{Kind: CardInserted, Reader: r.name, ATR: atr})
		case !r.present && !now && delta != 0:
			// Inserted and pulled again between two looks.
			evs = append(evs, Event{Kind: CardInserted, Reader: r.name},
				Event{Kind: CardRemoved, Reader: r.name})
		}
		r.present = now
		if now {
			r.atr = atr
		} else {
			r.atr = nil
		}
		r.state = ev &^ scard.StateChanged
	}
	return evs, gone
}
