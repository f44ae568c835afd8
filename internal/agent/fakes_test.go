package agent

// Fakes for the agent's unit tests: cards in readers (a CardSource the test
// drives, and tokens over in-memory RSA keys with a PIN counter that
// behaves like OpenSC with a PIV card), and helpers that wait for the
// agent's events and questions. GAS, the SSB and the session service are
// the real simulator (cis/cistest) over TLS.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/testclock"
	"github.com/opencis/cisauth/pcsc"
)

const (
	testPIN   = "246810"
	wrongPIN  = "135790"
	readerA   = "Reader A 00 00"
	readerB   = "Reader B 00 00"
	uidAlice  = "555000000001" // one role
	roleAlice = "555000000101"
	uidBob    = "555000000002" // eight roles
	uidChan   = "555000000003" // two roles
	waitFor   = 10 * time.Second
)

// testKeys are RSA keys made once per test binary (generation is slow).
var testKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	var keys []*rsa.PrivateKey
	for range 3 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
})

// fakeCard is a smartcard: a key, its certificate, a PIN with a try
// counter (3 tries; the last one flagged FINAL_TRY, then locked, as OpenSC
// shows a PIV card).
type fakeCard struct {
	mu       sync.Mutex
	uid      string
	key      *rsa.PrivateKey
	cert     *x509.Certificate
	pin      string
	tries    int
	verified bool
	pinsSent int
	signs    int
	// signHook, when set, runs inside SignContext before the signature
	// (a slow card; a test pulls it there).
	signHook func(ctx context.Context) error
}

// newFakeCard issues a card for uid from srv's card CA with key number k.
func newFakeCard(t testing.TB, srv *cistest.Server, uid string, k int) *fakeCard {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	ca, caKey := srv.CardCA()
	cert, err := cissim.IssueCardCert(ca, caKey, uid, keys[k].Public(), time.Time{}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeCard{uid: uid, key: keys[k], cert: cert, pin: testPIN, tries: 3}
}

func (c *fakeCard) status() pcsc.PINStatus {
	st := pcsc.PINStatus{Retries: -1, FinalTry: c.tries == 1, Locked: c.tries == 0}
	switch {
	case st.Locked:
		st.Retries = 0
	case st.FinalTry:
		st.Retries = 1
	}
	return st
}

func (c *fakeCard) triesLeft() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tries
}

func (c *fakeCard) counts() (pins, signs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pinsSent, c.signs
}

// fakeReaders is the CardSource and the token opener: cards go in and out
// of readers as the test says.
type fakeReaders struct {
	mu     sync.Mutex
	cards  map[string]*fakeCard
	events chan pcsc.Event
	fail   chan error
}

func newFakeReaders() *fakeReaders {
	return &fakeReaders{cards: map[string]*fakeCard{}, events: make(chan pcsc.Event, 16), fail: make(chan error, 1)}
}

// Run forwards the test's events, as a pcsc.Monitor would (the cards in at
// the start first).
func (f *fakeReaders) Run(ctx context.Context, out chan<- pcsc.Event) error {
	f.mu.Lock()
	var initial []pcsc.Event
	for r := range f.cards {
		initial = append(initial, pcsc.Event{Kind: pcsc.CardInserted, Reader: r})
	}
	f.mu.Unlock()
	for _, ev := range initial {
		select {
		case out <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		select {
		case ev := <-f.events:
			select {
			case out <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		case err := <-f.fail:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *fakeReaders) insert(reader string, c *fakeCard) {
	f.mu.Lock()
	f.cards[reader] = c
	f.mu.Unlock()
	f.events <- pcsc.Event{Kind: pcsc.CardInserted, Reader: reader}
}

func (f *fakeReaders) pull(reader string) {
	f.mu.Lock()
	delete(f.cards, reader)
	f.mu.Unlock()
	f.events <- pcsc.Event{Kind: pcsc.CardRemoved, Reader: reader}
}

func (f *fakeReaders) card(reader string) (*fakeCard, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cards[reader]
	return c, ok
}

func (f *fakeReaders) open(_ context.Context, reader string) (Token, error) {
	c, ok := f.card(reader)
	if !ok {
		return nil, pcsc.ErrNoToken
	}
	return &fakeToken{f: f, c: c, reader: reader}, nil
}

// logout ends the PIN-verified state of the card in reader.
func (f *fakeReaders) logout(_ context.Context, reader string) error {
	c, ok := f.card(reader)
	if !ok {
		return pcsc.ErrCardRemoved
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verified = false
	return nil
}

func (f *fakeReaders) retries(_ context.Context, reader string) (int, error) {
	c, ok := f.card(reader)
	if !ok {
		return 0, pcsc.ErrCardRemoved
	}
	return c.triesLeft(), nil
}

// fakeToken is an opened card; every call fails with ErrCardRemoved once
// the card has left its reader.
type fakeToken struct {
	f      *fakeReaders
	c      *fakeCard
	reader string
}

func (t *fakeToken) gone() error {
	if c, ok := t.f.card(t.reader); !ok || c != t.c {
		return pcsc.ErrCardRemoved
	}
	return nil
}

func (t *fakeToken) Reader() string { return t.reader }

func (t *fakeToken) PINStatus(context.Context) (pcsc.PINStatus, error) {
	if err := t.gone(); err != nil {
		return pcsc.PINStatus{}, err
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.status(), nil
}

func (t *fakeToken) Login(_ context.Context, pin []byte, opts pcsc.LoginOptions) error {
	defer clear(pin)
	if err := t.gone(); err != nil {
		return err
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status()
	switch {
	case st.Locked:
		return &pcsc.PINError{Retries: 0, Locked: true, Err: pcsc.ErrPINLocked}
	case st.FinalTry && !opts.AllowFinalTry:
		return &pcsc.PINError{Retries: 1, FinalTry: true, Err: pcsc.ErrFinalTry}
	}
	c.pinsSent++
	if string(pin) == c.pin {
		c.tries, c.verified = 3, true
		return nil
	}
	c.tries--
	if c.tries == 0 {
		return &pcsc.PINError{Retries: 0, Locked: true, Err: pcsc.ErrPINLocked}
	}
	st = c.status()
	return &pcsc.PINError{Retries: st.Retries, FinalTry: st.FinalTry, Err: pcsc.ErrPINIncorrect}
}

// Logout leaves the card verified, as OpenSC's does for a PIV card.
func (t *fakeToken) Logout(context.Context) error { return nil }

func (t *fakeToken) UID(context.Context) (string, error) { return t.c.uid, t.gone() }

func (t *fakeToken) Certificate(context.Context) (*x509.Certificate, error) {
	return t.c.cert, t.gone()
}

func (t *fakeToken) Signer(context.Context) (crypto.Signer, error) {
	if err := t.gone(); err != nil {
		return nil, err
	}
	return &fakeSigner{t: t}, nil
}

func (t *fakeToken) Close() error { return nil }

// fakeSigner signs with the card's key, like pcsc's: context-aware, and
// failing once the card is out.
type fakeSigner struct{ t *fakeToken }

func (s *fakeSigner) Public() crypto.PublicKey { return s.t.c.key.Public() }

func (s *fakeSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

func (s *fakeSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c := s.t.c
	c.mu.Lock()
	hook := c.signHook
	c.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.t.gone(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.verified {
		return nil, pcsc.ErrNotLoggedIn
	}
	c.signs++
	return rsa.SignPKCS1v15(nil, c.key, opts.HashFunc(), digest)
}

// harness is a running agent with fake readers, the simulator, a clock the
// test moves and the agent's events.
type harness struct {
	t       *testing.T
	a       *Agent
	srv     *cistest.Server
	readers *fakeReaders
	clk     *testclock.Clock
	ticks   chan time.Time
	events  <-chan Event
	reg     *prometheus.Registry
	stop    func()
}

// harnessConfig is what options change: the agent's config, the
// simulator's, and the environment the agent gets.
type harnessConfig struct {
	agent Config
	sim   cissim.Config
	env   func(*cis.Environment)
	// real: the agent uses the real card stack (Cards, OpenToken and
	// PINRetries as set, or pcsc's), not the fake readers.
	real bool
	// shared is a simulator to use instead of a new one.
	shared *cistest.Server
}

// withServer makes the harness use srv (another harness's simulator).
func withServer(srv *cistest.Server) harnessOption { return func(c *harnessConfig) { c.shared = srv } }

type harnessOption func(*harnessConfig)

func withMode(m Mode) harnessOption { return func(c *harnessConfig) { c.agent.Mode = m } }

func withRole(id string) harnessOption { return func(c *harnessConfig) { c.agent.Role = id } }

// withEnv changes the environment the agent is given.
func withEnv(f func(*cis.Environment)) harnessOption { return func(c *harnessConfig) { c.env = f } }

func withAgent(f func(*Config)) harnessOption { return func(c *harnessConfig) { f(&c.agent) } }

func withSim(f func(*cissim.Config)) harnessOption { return func(c *harnessConfig) { f(&c.sim) } }

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	clk := testclock.New(time.Now())
	hc := harnessConfig{sim: cissim.Config{Now: clk.Now}}
	for _, o := range opts {
		o(&hc)
	}
	simCfg, cfg := hc.sim, hc.agent
	reg := prometheus.NewRegistry()
	simCfg.Registerer = reg
	srv := hc.shared
	if srv == nil {
		srv = cistest.NewServerWithConfig(t, simCfg)
	}
	h := &harness{t: t, srv: srv, readers: newFakeReaders(), clk: clk, ticks: make(chan time.Time), reg: reg}
	cfg.Env = srv.Env()
	if hc.env != nil {
		hc.env(&cfg.Env)
	}
	if !hc.real {
		cfg.Cards, cfg.OpenToken, cfg.PINRetries, cfg.CardLogout = h.readers, h.readers.open, h.readers.retries, h.readers.logout
	}
	cfg.Now = clk.Now
	cfg.Ticks = h.ticks
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	var cancel func()
	h.events, cancel = a.Subscribe()
	t.Cleanup(cancel)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	h.stop = func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			h.stop()
		}
	})
	return h
}

// event waits for the next event of kind, skipping others.
func (h *harness) event(kind EventKind) Event {
	h.t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case ev, ok := <-h.events:
			if !ok {
				h.t.Fatalf("event stream closed while waiting for %s", kind)
			}
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			h.t.Fatalf("no %s event within %v (status %+v)", kind, waitFor, h.a.Status())
			return Event{}
		}
	}
}

// message waits for a message event that satisfies ok.
func (h *harness) message(ok func(string) bool) string {
	h.t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case ev := <-h.events:
			if ev.Kind == EventMessage && ok(ev.Message) {
				return ev.Message
			}
		case <-timeout:
			h.t.Fatalf("no such message within %v (status %+v)", waitFor, h.a.Status())
			return ""
		}
	}
}

// question waits until the agent asks a question of kind.
func (h *harness) question(kind QuestionKind) Question {
	h.t.Helper()
	return waitQuestion(h.t, h.a.Prompts(), kind, h.a.Status)
}

func waitQuestion(t testing.TB, p *Prompts, kind QuestionKind, status func() Status) Question {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		ch := p.Changed()
		if i := slices.IndexFunc(p.Pending(), func(q Question) bool { return q.Kind == kind }); i >= 0 {
			return p.Pending()[i]
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no %s question within %v (status %+v)", kind, waitFor, status())
			return Question{}
		}
	}
}

// enterPIN answers the next PIN question.
func (h *harness) enterPIN(pin string, confirmFinal bool) Question {
	h.t.Helper()
	q := h.question(AskPIN)
	if err := h.a.Prompts().Answer(q.ID, Answer{PIN: []byte(pin), ConfirmFinalTry: confirmFinal}); err != nil {
		h.t.Fatal(err)
	}
	return q
}

// waitStatus waits until the agent's status satisfies ok.
func (h *harness) waitStatus(ok func(Status) bool) Status {
	h.t.Helper()
	timeout := time.After(waitFor)
	for {
		ch := h.a.Changed()
		if st := h.a.Status(); ok(st) {
			return st
		}
		select {
		case <-ch:
		case <-timeout:
			h.t.Fatalf("status not reached within %v: %+v", waitFor, h.a.Status())
			return Status{}
		}
	}
}

// resume enters the PIN of a locked session's card and checks that the
// same session (ti's) is given out again.
func (h *harness) resume(ti TicketInfo) {
	h.t.Helper()
	q := h.enterPIN(testPIN, false)
	if !strings.Contains(q.Text, "Session locked") {
		h.t.Errorf("resume question %q", q.Text)
	}
	h.event(EventUnlocked)
	if got := h.ticket(); got.Ticket != ti.Ticket {
		h.t.Error("resume gave another session")
	}
}

// answerRole answers the next role question with the i-th role.
func (h *harness) answerRole(i int) {
	h.t.Helper()
	q := h.question(AskRole)
	if err := h.a.Prompts().Answer(q.ID, Answer{RoleID: q.Roles[i].ID}); err != nil {
		h.t.Fatal(err)
	}
}

// tick moves the clock by d and runs the agent's timers.
func (h *harness) tick(d time.Duration) {
	h.t.Helper()
	now := h.clk.Add(d)
	select {
	case h.ticks <- now:
	case <-time.After(waitFor):
		h.t.Fatal("the agent does not take ticks")
	}
}

// validate is what a supplier's server does with a ticket.
func (h *harness) validate(tk cis.Ticket) (*cis.Assertion, error) {
	h.t.Helper()
	ssb, err := cis.NewSSBClient(cis.SSBConfig{Env: h.srv.Env(), Now: h.clk.Now})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return ssb.Validate(ctx, tk)
}

// ticket returns the held ticket, failing the test without one.
func (h *harness) ticket() TicketInfo {
	h.t.Helper()
	ti, err := h.a.Ticket(context.Background(), false)
	if err != nil {
		h.t.Fatalf("no ticket: %v (status %+v)", err, h.a.Status())
	}
	return ti
}

// requests counts the simulator's answered requests to endpoint.
func (h *harness) requests(endpoint string) int {
	h.t.Helper()
	n, err := cistest.Requests(h.reg, endpoint)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// loginAlice inserts Alice's card into readerA and logs her in.
func (h *harness) loginAlice() (*fakeCard, TicketInfo) {
	h.t.Helper()
	card := newFakeCard(h.t, h.srv, uidAlice, 0)
	h.readers.insert(readerA, card)
	h.enterPIN(testPIN, false)
	h.event(EventAuthenticated)
	return card, h.ticket()
}
