package cistest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis"
)

// Session notifications in tests: register a listener URL for a ticket
// (AddSessionListener), end the session any way CIS ends one (Logout,
// ExpireSession, IdleTimeout, MaxTimeout, or a GAS logout), and wait for
// what the simulator POSTs (WaitNotifications, or a Listener's Next).

// maxListenerAnswer bounds the session service's answer read by
// AddSessionListener.
const maxListenerAnswer = 64 << 10

// AddSessionListener registers url for the ticket's session at the
// server's session service, as an application does (OpenSSO
// AddSessionListener, built and read with the cis package's
// AddSessionListenerRequest and ParseAddSessionListenerResponse): when the
// session ends, the simulator POSTs a NotificationSet to url. A dead ticket
// is an error wrapping cis.ErrSessionInvalid; a ninth listener on one
// session cis.ErrListenerRefused.
func (s *Server) AddSessionListener(ctx context.Context, t cis.Ticket, url string) error {
	body, err := cis.AddSessionListenerRequest(t, url)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/amserver/sessionservice", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cistest: AddSessionListener: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml;charset=UTF-8")
	resp, err := s.Client().Do(req)
	if err != nil {
		return fmt.Errorf("cistest: AddSessionListener: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxListenerAnswer+1))
	if err != nil {
		return fmt.Errorf("cistest: AddSessionListener: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cistest: AddSessionListener: HTTP %d", resp.StatusCode)
	}
	return cis.ParseAddSessionListenerResponse(answer)
}

// IdleTimeout ends the ticket's session as its idle timeout would, at once:
// its listeners get type 1 (idle timeout) with state invalid.
func (s *Server) IdleTimeout(t cis.Ticket) error { return s.sim.IdleTimeoutTicket(t) }

// MaxTimeout ends the ticket's session as its maximum session time would,
// at once: its listeners get type 2 (max timeout) with state invalid.
func (s *Server) MaxTimeout(t cis.Ticket) error { return s.sim.MaxTimeoutTicket(t) }

// WaitNotifications waits until every session notification queued so far
// has been answered by its listener, has failed or was dropped. A session
// ending queues its notifications before the call that ended it returns.
func (s *Server) WaitNotifications(ctx context.Context) error { return s.sim.WaitNotifications(ctx) }

// listenerBuffer is how many events a Listener holds unread.
const listenerBuffer = 1024

// Listener is a session listener for tests: a plain-HTTP server on
// loopback serving cis.NotificationHandler at every path, whose events a
// test reads with Next. Register URL (or any path under it) with
// Server.AddSessionListener.
type Listener struct {
	// URL is the listener's URL, http://127.0.0.1:port/notify.
	URL string

	t        testing.TB
	srv      *httptest.Server
	events   chan cis.SessionEvent
	mu       sync.Mutex
	rejected int
}

// NewListener starts a Listener, closed when the test ends.
func NewListener(t testing.TB) *Listener {
	t.Helper()
	l := &Listener{t: t, events: make(chan cis.SessionEvent, listenerBuffer)}
	h, err := cis.NewNotificationHandler(cis.NotificationHandlerConfig{
		OnEvents: func(_ context.Context, events []cis.SessionEvent) {
			for _, e := range events {
				select {
				case l.events <- e:
				default:
					l.t.Errorf("cistest: Listener: more than %d events unread", listenerBuffer)
				}
			}
		},
		OnRejected: func(error) {
			l.mu.Lock()
			l.rejected++
			l.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("cistest: %v", err)
	}
	l.srv = httptest.NewServer(h)
	l.URL = l.srv.URL + "/notify"
	t.Cleanup(l.srv.Close)
	return l
}

// Next returns the next event received, waiting until one comes or ctx
// ends.
func (l *Listener) Next(ctx context.Context) (cis.SessionEvent, error) {
	select {
	case e := <-l.events:
		return e, nil
	case <-ctx.Done():
		return cis.SessionEvent{}, fmt.Errorf("cistest: no session notification: %w", ctx.Err())
	}
}

// MustNext is Next that waits at most 30 seconds and fails the test if no
// event came.
func (l *Listener) MustNext(t testing.TB) cis.SessionEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Pending returns how many events were received and not read yet. After
// Server.WaitNotifications every notification sent so far is counted.
func (l *Listener) Pending() int { return len(l.events) }

// Rejected returns how many requests the listener refused as malformed.
func (l *Listener) Rejected() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rejected
}
