package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc"
)

// The time a login spends, split by where: the card (every PKCS#11 and
// PC/SC call: open, PIN state, tries left, login, key and certificate,
// signature, logouts), the network (every HTTP round trip to GAS, seen
// from the client: the simulator's work and loopback TLS included), and
// the rest, which is the agent's own code.
type stopwatch struct {
	mu        sync.Mutex
	card, net time.Duration
}

func (s *stopwatch) addCard(since time.Time) {
	s.mu.Lock()
	s.card += time.Since(since)
	s.mu.Unlock()
}

func (s *stopwatch) reset() {
	s.mu.Lock()
	s.card, s.net = 0, 0
	s.mu.Unlock()
}

// timedTransport times HTTP round trips, bodies read included.
type timedTransport struct {
	rt http.RoundTripper
	sw *stopwatch
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		t.sw.mu.Lock()
		t.sw.net += time.Since(start)
		t.sw.mu.Unlock()
		return nil, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, sw: t.sw, start: start}
	return resp, nil
}

// timedBody ends its round trip's time when the body is closed.
type timedBody struct {
	io.ReadCloser
	sw    *stopwatch
	start time.Time
	once  sync.Once
}

func (b *timedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.sw.mu.Lock()
		b.sw.net += time.Since(b.start)
		b.sw.mu.Unlock()
	})
	return err
}

// timedToken times every call into the card.
type timedToken struct {
	Token
	sw *stopwatch
}

func (t timedToken) PINStatus(ctx context.Context) (pcsc.PINStatus, error) {
	defer t.sw.addCard(time.Now())
	return t.Token.PINStatus(ctx)
}

func (t timedToken) Login(ctx context.Context, pin []byte, o pcsc.LoginOptions) error {
	defer t.sw.addCard(time.Now())
	return t.Token.Login(ctx, pin, o)
}

func (t timedToken) Logout(ctx context.Context) error {
	defer t.sw.addCard(time.Now())
	return t.Token.Logout(ctx)
}

func (t timedToken) UID(ctx context.Context) (string, error) {
	defer t.sw.addCard(time.Now())
	return t.Token.UID(ctx)
}

func (t timedToken) Certificate(ctx context.Context) (*x509.Certificate, error) {
	defer t.sw.addCard(time.Now())
	return t.Token.Certificate(ctx)
}

func (t timedToken) Close() error {
	defer t.sw.addCard(time.Now())
	return t.Token.Close()
}

func (t timedToken) Signer(ctx context.Context) (crypto.Signer, error) {
	defer t.sw.addCard(time.Now())
	s, err := t.Token.Signer(ctx)
	if err != nil {
		return nil, err
	}
	return timedSigner{s.(cis.ContextSigner), t.sw}, nil
}

// timedSigner times the card's signatures.
type timedSigner struct {
	cis.ContextSigner
	sw *stopwatch
}

func (s timedSigner) SignContext(ctx context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	defer s.sw.addCard(time.Now())
	return s.ContextSigner.SignContext(ctx, d, o)
}

// BenchmarkCardInsertToTicket measures what the agent does from a card
// insertion event to a held ticket with a role: the PIN question answered
// at once (the PIN is supplied), the PIV tries-left probe, the card login
// through OpenSC, the GAS login with the challenge signed on the virtual
// card, role selection over TLS to the simulator, and the card left
// logged out. pcscd's poll is left out: the insertion event is handed to
// the agent for a card already in the reader. Each run splits the time
// into card, network and the agent's own code (the rest), measured in the
// same run; the goal is own code at most 10 % of the whole.
func BenchmarkCardInsertToTicket(b *testing.B) {
	s := stacktest.Require(b)
	r := s.Readers(b, "agent", 3)[2]
	srv := cistest.NewServer(b)
	card := newVCard(b, srv, uidAlice)
	stacktest.InsertCard(b, card, r.Index)

	sw := &stopwatch{}
	env := srv.Env()
	gas, err := cis.NewGASClient(cis.GASConfig{Env: env,
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return timedTransport{rt: rt, sw: sw} }})
	if err != nil {
		b.Fatal(err)
	}
	readers := newFakeReaders() // the events only: the card is real
	a, err := New(Config{
		Env: env, GAS: gas, Cards: readers, Module: s.OpenSCModule,
		OpenToken: func(ctx context.Context, reader string) (Token, error) {
			defer sw.addCard(time.Now())
			tok, err := pcsc.OpenToken(ctx, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: reader})
			if err != nil {
				return nil, err
			}
			return timedToken{tok, sw}, nil
		},
		PINRetries: func(ctx context.Context, reader string) (int, error) {
			defer sw.addCard(time.Now())
			return pcsc.PIVPINRetries(ctx, reader)
		},
		CardLogout: func(ctx context.Context, reader string) error {
			defer sw.addCard(time.Now())
			return pcsc.PIVLogout(ctx, reader)
		},
		KeepAlive: time.Hour, Ticks: make(chan time.Time),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	go func() { // the person, who knows the PIN
		p := a.Prompts()
		for ctx.Err() == nil {
			ch := p.Changed()
			for _, q := range p.Pending() {
				if q.Kind == AskPIN {
					p.Answer(q.ID, Answer{PIN: []byte(testPIN)})
				}
			}
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
	}()
	events, stop := a.Subscribe()
	defer stop()
	wait := func(kind EventKind) {
		for ev := range events {
			if ev.Kind == kind {
				return
			}
		}
		b.Fatalf("event stream closed before %s", kind)
	}

	var total, cardT, net time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		sw.reset()
		b.StartTimer()
		start := time.Now()
		readers.events <- pcsc.Event{Kind: pcsc.CardInserted, Reader: r.Name}
		wait(EventAuthenticated)
		total += time.Since(start)
		b.StopTimer()
		sw.mu.Lock()
		cardT, net = cardT+sw.card, net+sw.net
		sw.mu.Unlock()
		// Out of the clock: the logout and the pull event.
		readers.events <- pcsc.Event{Kind: pcsc.CardRemoved, Reader: r.Name}
		wait(EventLoggedOut)
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	own := total - cardT - net
	b.ReportMetric(float64(cardT.Microseconds())/n/1000, "card-ms/op")
	b.ReportMetric(float64(net.Microseconds())/n/1000, "net-ms/op")
	b.ReportMetric(float64(own.Microseconds())/n/1000, "own-ms/op")
	b.ReportMetric(100*float64(own)/float64(total), "own-%")
	if card.Signatures() < b.N {
		b.Fatalf("the card made %d signatures for %d logins", card.Signatures(), b.N)
	}
}
