package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/pcsc"
)

// CardSource reports cards going in and out of readers; *pcsc.Monitor is
// one.
type CardSource interface {
	Run(ctx context.Context, events chan<- pcsc.Event) error
}

// Config configures an Agent. Env, and Module unless OpenToken is given,
// are required.
type Config struct {
	// Env is the CIS environment to log in to.
	Env cis.Environment
	// GAS logs in, selects roles and logs out; nil means a client for Env
	// with DeviceID and Hash.
	GAS *cis.GASClient
	// Sessions keeps sessions alive; nil means a client for Env.
	Sessions *cis.SessionServiceClient
	// DeviceID is GAS's device id (8 characters; random if empty). Used
	// only when GAS is nil.
	DeviceID string
	// Hash is the challenge signature's digest (SHA-1 if zero). Used only
	// when GAS is nil.
	Hash crypto.Hash
	// Module is the PKCS#11 module that drives the cards, e.g.
	// /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so.
	Module string
	// Readers limits the agent to these PC/SC readers; nil means all.
	Readers []string
	// Role is the role to select at login when the user holds it; empty
	// means select the only role, or ask.
	Role string
	// SSBMode selects roles live (default) or for training.
	SSBMode cis.Mode
	// Mode is what pulling the card does.
	Mode Mode
	// KeepAlive is how often the SSO session is kept alive (GetSession with
	// reset); default 5 minutes, and at most half the session's idle time.
	KeepAlive time.Duration
	// LockTimeout ends a locked session (session-lock and mobility modes)
	// after this long; 0 keeps it as long as CIS does.
	LockTimeout time.Duration
	// AwayLock locks a mobility session when the card has been out this
	// long (DefaultAwayLock if zero).
	AwayLock time.Duration
	// ReauthAfter locks a mobility session this long after the PIN was
	// last entered (DefaultReauthAfter if zero).
	ReauthAfter time.Duration
	// Tick is how often timers are checked (default 10 s); Ticks, if set,
	// replaces the ticker (tests drive the timers with it).
	Tick  time.Duration
	Ticks <-chan time.Time
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// Cards reports insertions and removals; nil means a pcsc.Monitor over
	// Readers.
	Cards CardSource
	// OpenToken opens the card in a reader; nil means pcsc.OpenToken with
	// Module.
	OpenToken func(ctx context.Context, reader string) (Token, error)
	// PINRetries asks a card how many PIN tries it has left, when its
	// PKCS#11 flags do not say; nil means pcsc.PIVPINRetries. An error
	// just means "unknown".
	PINRetries func(ctx context.Context, reader string) (int, error)
	// CardLogout ends the card's PIN-verified state after a login (the
	// PKCS#11 logout may leave a PIV card verified); nil means
	// pcsc.PIVLogout. An error is only logged.
	CardLogout func(ctx context.Context, reader string) error
	// Logger gets the agent's log (never a ticket or PIN); nil discards.
	Logger *slog.Logger
	// KeepSessionOnStop leaves the session at CIS when Run ends (the
	// one-shot login hands its ticket on); by default stopping logs out.
	KeepSessionOnStop bool
}

// Defaults.
const (
	// DefaultKeepAlive is how often a held session is kept alive.
	DefaultKeepAlive = 5 * time.Minute
	// DefaultTick is how often timers are checked.
	DefaultTick = 10 * time.Second
	// monitorRetryMax bounds the wait before the reader monitor is started
	// again after pcscd went away.
	monitorRetryMax = 30 * time.Second
)

// Errors of the agent's API.
var (
	// ErrNoSession means no SSO session is held (or it is locked).
	ErrNoSession = errors.New("agent: no session")
	// ErrNoCard means no card is in a watched reader.
	ErrNoCard = errors.New("agent: no smartcard")
)

// Phase is where the agent stands.
type Phase string

// The phases, as GET /status reports them.
const (
	PhaseNoCard        Phase = "no-card"       // no card in any watched reader
	PhaseCardIn        Phase = "card-inserted" // a card is in, no session (after a failure or logout)
	PhaseAwaitingPIN   Phase = "awaiting-pin"  // asking for the PIN
	PhaseLoggingIn     Phase = "logging-in"    // the card and GAS at work
	PhaseChoosingRole  Phase = "choosing-role" // asking which role
	PhaseAuthenticated Phase = "authenticated" // a ticket is held
	PhaseLocked        Phase = "locked"        // a session is held, its ticket withheld
)

// held is the SSO session the agent holds.
type held struct {
	sess       *cis.Session
	cert       *x509.Certificate // the card's, to recognise it on resume
	reader     string            // where the card was when last unlocked
	roleID     string
	locked     bool
	lockedAt   time.Time
	cardOut    bool // mobility: the card is out, the session goes on
	removedAt  time.Time
	verifiedAt time.Time // the last PIN
	stop       context.CancelFunc
}

// info is what callers get of h. Called with a.mu held.
func (h *held) info() TicketInfo {
	return TicketInfo{Ticket: h.sess.Ticket, UID: h.sess.UID, Name: h.sess.Name, SelectedRoleID: h.roleID}
}

// Agent is the daemon: see the package doc. Create it with New, start it
// with Run; its methods are safe for concurrent use.
type Agent struct {
	cfg      Config
	gas      *cis.GASClient
	sessions *cis.SessionServiceClient
	log      *slog.Logger
	prompts  *Prompts
	events   broker
	runCtx   context.Context // Run's context, for flows started from API calls
	work     sync.WaitGroup  // flows, logouts, keep-alives: Run waits for them

	// wmu guards watchers; it is taken after mu, never before.
	wmu      sync.Mutex
	watchers map[string][]chan pcsc.Event

	mu      sync.Mutex
	present map[string]bool // card present, per reader seen
	readers []string        // readers seen, in order
	phase   Phase
	message string
	flow    *flow
	held    *held
	flowSeq uint64 // flows ended so far
	flowErr error  // how the last flow ended
	lastKA  time.Time
	kaBusy  bool
	changed chan struct{}
	version uint64 // changes so far
}

// New checks cfg and returns an agent.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Env.Check(); err != nil {
		return nil, err
	}
	if cfg.OpenToken == nil && cfg.Module == "" {
		return nil, errors.New("agent: no PKCS#11 module configured")
	}
	if cfg.Mode < ModeNormal || cfg.Mode > ModeMobility {
		return nil, fmt.Errorf("agent: unknown mode %d", int(cfg.Mode))
	}
	for name, d := range map[string]time.Duration{"keep_alive": cfg.KeepAlive, "lock_timeout": cfg.LockTimeout,
		"away_lock": cfg.AwayLock, "reauth_after": cfg.ReauthAfter, "tick": cfg.Tick} {
		if d < 0 {
			return nil, fmt.Errorf("agent: negative %s %s", name, d)
		}
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.AwayLock == 0 {
		cfg.AwayLock = DefaultAwayLock
	}
	if cfg.ReauthAfter == 0 {
		cfg.ReauthAfter = DefaultReauthAfter
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SSBMode != cis.ModeTraining {
		cfg.SSBMode = cis.ModeLive
	}
	a := &Agent{cfg: cfg, gas: cfg.GAS, sessions: cfg.Sessions, log: cfg.Logger, prompts: NewPrompts(),
		present: map[string]bool{}, watchers: map[string][]chan pcsc.Event{}, phase: PhaseNoCard,
		message: msgInsertCard, changed: make(chan struct{}), runCtx: context.Background()}
	var err error
	if a.gas == nil {
		if a.gas, err = cis.NewGASClient(cis.GASConfig{Env: cfg.Env, DeviceID: cfg.DeviceID, Hash: cfg.Hash, Logger: cfg.Logger, Now: cfg.Now}); err != nil {
			return nil, err
		}
	}
	if a.sessions == nil {
		if a.sessions, err = cis.NewSessionServiceClient(cis.SessionServiceConfig{Env: cfg.Env, Logger: cfg.Logger, Now: cfg.Now}); err != nil {
			return nil, err
		}
	}
	if a.cfg.OpenToken == nil {
		module := cfg.Module
		a.cfg.OpenToken = func(ctx context.Context, reader string) (Token, error) {
			return pcsc.OpenToken(ctx, pcsc.TokenConfig{Module: module, Reader: reader, Logger: cfg.Logger})
		}
	}
	if a.cfg.PINRetries == nil {
		a.cfg.PINRetries = pcsc.PIVPINRetries
	}
	if a.cfg.CardLogout == nil {
		a.cfg.CardLogout = pcsc.PIVLogout
	}
	if a.cfg.Cards == nil {
		m, err := pcsc.NewMonitor(pcsc.MonitorConfig{Readers: cfg.Readers, Logger: cfg.Logger, Now: cfg.Now})
		if err != nil {
			return nil, err
		}
		a.cfg.Cards = m
	}
	return a, nil
}

// Prompts returns the questions the agent waits on, for its faces.
func (a *Agent) Prompts() *Prompts { return a.prompts }

// Subscribe returns the agent's events from now on, and a function that
// ends the subscription (see broker.subscribe).
func (a *Agent) Subscribe() (<-chan Event, func()) { return a.events.subscribe() }

// setLocked changes the phase and message and wakes waiters; called with
// a.mu held. A message that changed is also sent to listeners.
func (a *Agent) setLocked(p Phase, msg string) {
	a.phase = p
	if msg != "" && msg != a.message {
		a.message = msg
		a.publishLocked(Event{Kind: EventMessage, Message: msg})
		a.log.Info(msg)
	}
	a.notifyLocked()
}

// askingLocked changes the phase to one that waits on a question and
// shows its text as the message, without sending it to listeners as a
// message event: the agent's faces show the question itself. Called with
// a.mu held.
func (a *Agent) askingLocked(p Phase, text string) {
	a.phase, a.message = p, text
	a.notifyLocked()
}

// notifyLocked wakes everyone waiting for a change of the agent's state.
// Called with a.mu held.
func (a *Agent) notifyLocked() {
	a.version++
	close(a.changed)
	a.changed = make(chan struct{})
}

// publishLocked stamps and sends an event; called with a.mu held (the
// broker never blocks).
func (a *Agent) publishLocked(ev Event) {
	ev.Time = a.cfg.Now()
	a.events.publish(ev)
}

// idlePhaseLocked is the phase when nothing is going on: a session, a card,
// or neither. Called with a.mu held.
func (a *Agent) idlePhaseLocked() Phase {
	switch {
	case a.held != nil && a.held.locked:
		return PhaseLocked
	case a.held != nil:
		return PhaseAuthenticated
	case a.anyCardLocked() != "":
		return PhaseCardIn
	}
	return PhaseNoCard
}

// anyCardLocked returns the first reader with a card, or "".
func (a *Agent) anyCardLocked() string {
	for _, r := range a.readers {
		if a.present[r] {
			return r
		}
	}
	return ""
}

// Run follows the readers and keeps the session until ctx ends; then it
// stops every login under way and ends the session it holds (the person
// left the desktop). It returns ctx's error. If pcscd goes away it keeps
// trying to reach it again; cards it can no longer see count as pulled.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	ticks := a.cfg.Ticks
	if ticks == nil {
		t := time.NewTicker(a.cfg.Tick)
		defer t.Stop()
		ticks = t.C
	}
	if a.cfg.Module != "" {
		// One C_Initialize for the agent's life, not one per login.
		release, err := pcsc.KeepModule(a.cfg.Module)
		if err != nil {
			a.log.Warn("PKCS#11 module not loaded; each login will try again", "module", a.cfg.Module, "error", err)
		} else {
			defer release()
		}
	}
	events := make(chan pcsc.Event, 16)
	monitorDone := make(chan error, 1)
	go func() { monitorDone <- a.cfg.Cards.Run(ctx, events) }()
	var retry <-chan time.Time
	backoff := time.Second
	defer a.shutdown()
	for {
		select {
		case ev := <-events:
			a.onCardEvent(ctx, ev)
		case now := <-ticks:
			a.onTick(ctx, now)
		case err := <-monitorDone:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.log.Warn("reader monitor stopped; cards count as pulled until it is back", "error", err, "retry_in", backoff)
			a.readersLost(a.describe(err))
			retry = time.After(backoff)
			backoff = min(2*backoff, monitorRetryMax)
		case <-retry:
			retry = nil
			go func() { monitorDone <- a.cfg.Cards.Run(ctx, events) }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// spawn runs f in a goroutine that Run waits for before it returns.
func (a *Agent) spawn(f func()) {
	a.work.Add(1)
	go func() {
		defer a.work.Done()
		f()
	}()
}

// shutdown stops flows, waits for the work under way, and ends the held
// session when Run returns.
func (a *Agent) shutdown() {
	a.mu.Lock()
	if a.flow != nil {
		a.flow.cancel(errAgentStopping)
	}
	if h := a.held; h != nil && h.stop != nil {
		h.stop() // its removal watcher
		h.stop = nil
	}
	a.mu.Unlock()
	a.work.Wait()
	a.mu.Lock()
	h := a.takeHeldLocked()
	a.mu.Unlock()
	if h != nil && !a.cfg.KeepSessionOnStop {
		if err := logoutQuietly(a.gas, h.sess); err != nil {
			a.log.Warn("logout at shutdown failed; the session ends at its timeout", "error", err)
		}
	}
}

var errAgentStopping = errors.New("agent: stopping")

// readersLost treats every card as pulled (pcscd is gone: nothing tells
// the agent whether they still are in).
func (a *Agent) readersLost(msg string) {
	a.mu.Lock()
	var gone []string
	for _, r := range a.readers {
		if a.present[r] {
			gone = append(gone, r)
		}
	}
	a.mu.Unlock()
	for _, r := range gone {
		a.onCardEvent(a.runCtx, pcsc.Event{Kind: pcsc.CardRemoved, Reader: r})
	}
	a.mu.Lock()
	a.setLocked(a.idlePhaseLocked(), msg)
	a.mu.Unlock()
}

// watch returns the card events of reader from now on, until stop. Both
// may be called with or without a.mu held.
func (a *Agent) watch(reader string) (<-chan pcsc.Event, func()) {
	ch := make(chan pcsc.Event, 8)
	a.wmu.Lock()
	a.watchers[reader] = append(a.watchers[reader], ch)
	a.wmu.Unlock()
	return ch, func() {
		a.wmu.Lock()
		defer a.wmu.Unlock()
		a.watchers[reader] = slices.DeleteFunc(a.watchers[reader], func(c chan pcsc.Event) bool { return c == ch })
	}
}

// onCardEvent follows one reader change.
func (a *Agent) onCardEvent(ctx context.Context, ev pcsc.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wmu.Lock()
	for _, w := range a.watchers[ev.Reader] {
		select {
		case w <- ev:
		default: // the watcher has what it waits for already
		}
	}
	a.wmu.Unlock()
	if !slices.Contains(a.readers, ev.Reader) && ev.Kind != pcsc.ReaderRemoved {
		a.readers = append(a.readers, ev.Reader)
	}
	switch ev.Kind {
	case pcsc.ReaderRemoved:
		a.readers = slices.DeleteFunc(a.readers, func(r string) bool { return r == ev.Reader })
		delete(a.present, ev.Reader)
	case pcsc.CardInserted:
		a.present[ev.Reader] = true
		a.publishLocked(Event{Kind: EventInserted, Reader: ev.Reader})
		a.cardInLocked(ctx, ev.Reader)
	case pcsc.CardRemoved:
		if !a.present[ev.Reader] {
			return
		}
		a.present[ev.Reader] = false
		a.publishLocked(Event{Kind: EventRemoved, Reader: ev.Reader})
		if a.flow == nil && a.held == nil {
			a.setLocked(a.idlePhaseLocked(), a.idleMessageLocked())
		}
	}
}

// idleMessageLocked is what to tell the person when nothing goes on.
func (a *Agent) idleMessageLocked() string {
	switch a.idlePhaseLocked() {
	case PhaseNoCard:
		return msgInsertCard
	case PhaseLocked:
		return msgLocked
	}
	return ""
}

// cardInLocked starts what a card going into reader calls for: a login
// when no session is held, an unlock when it is locked, nothing while a
// login is under way or a session is held (a second card does not take
// over). Called with a.mu held.
func (a *Agent) cardInLocked(ctx context.Context, reader string) {
	switch {
	case a.flow != nil:
		return
	case a.held == nil:
		a.startFlowLocked(ctx, reader, false)
	case a.held.locked:
		a.startFlowLocked(ctx, reader, true)
	case a.held.cardOut && reader == a.held.reader:
		a.held.cardOut = false
		a.watchHeldLocked(a.held)
		a.setLocked(PhaseAuthenticated, "Smartcard back in")
	}
}

// watchHeldLocked arranges for h's card leaving its reader to apply the
// mode. Called with a.mu held.
func (a *Agent) watchHeldLocked(h *held) {
	events, stop := a.watch(h.reader)
	ctx, cancel := context.WithCancel(context.Background())
	prev := h.stop
	h.stop = func() { cancel(); stop() }
	if prev != nil {
		prev()
	}
	reader := h.reader
	a.spawn(func() {
		defer stop()
		if WaitRemoval(ctx, events, reader) == nil {
			a.cardLeft(h)
		}
	})
}

// cardLeft applies the mode to the card of session h being pulled.
func (a *Agent) cardLeft(h *held) {
	a.mu.Lock()
	if a.held != h || h.locked {
		a.mu.Unlock()
		return
	}
	switch a.cfg.Mode {
	case ModeNormal:
		a.takeHeldLocked()
		a.setLocked(a.idlePhaseLocked(), "")
		a.mu.Unlock()
		a.endSession(h, msgCardPulled)
		// Another card waiting in another reader gets its turn.
		a.mu.Lock()
		if r := a.anyCardLocked(); r != "" {
			a.cardInLocked(a.runCtx, r)
		}
		a.mu.Unlock()
		return
	case ModeSessionLock:
		a.lockLocked(h, msgLocked)
	case ModeMobility:
		h.cardOut, h.removedAt = true, a.cfg.Now()
		a.setLocked(PhaseAuthenticated, msgCardOut)
	}
	// The card may already be in another reader.
	if r := a.anyCardLocked(); r != "" && h.locked {
		a.cardInLocked(a.runCtx, r)
	}
	a.mu.Unlock()
}

// lockLocked withholds h's ticket until the card and PIN come back.
// Called with a.mu held.
func (a *Agent) lockLocked(h *held, msg string) {
	h.locked, h.lockedAt = true, a.cfg.Now()
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
	a.publishLocked(Event{Kind: EventLocked, Reader: h.reader, UID: h.sess.UID, Message: msg})
	a.setLocked(PhaseLocked, msg)
}

// takeHeldLocked removes the held session from the agent at once (its
// ticket is no longer given out) and returns it. Called with a.mu held.
func (a *Agent) takeHeldLocked() *held {
	h := a.held
	if h == nil {
		return nil
	}
	a.held = nil
	if h.stop != nil {
		h.stop()
		h.stop = nil
	}
	return h
}

// endSession logs h out of GAS (taken from the agent already) and tells
// listeners.
func (a *Agent) endSession(h *held, msg string) {
	err := logoutQuietly(a.gas, h.sess)
	ev := Event{Kind: EventLoggedOut, Reader: h.reader, UID: h.sess.UID, Message: msg}
	if err != nil {
		a.log.Warn("GAS logout failed; the session ends at its timeout", "uid", h.sess.UID, "error", err)
		ev.Message = msg + " (CIS did not confirm the logout: " + a.describe(err) + ")"
	}
	a.mu.Lock()
	a.publishLocked(ev)
	a.setLocked(a.idlePhaseLocked(), msg)
	a.mu.Unlock()
}
