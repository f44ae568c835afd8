package cis

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventSink records what a NotificationHandler hands over.
type eventSink struct {
	mu       sync.Mutex
	events   []SessionEvent
	ctxErr   error
	deadline bool
	rejected []error
}

func (s *eventSink) handler(t *testing.T) *NotificationHandler {
	t.Helper()
	h, err := NewNotificationHandler(NotificationHandlerConfig{
		OnEvents: func(ctx context.Context, events []SessionEvent) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.events = append(s.events, events...)
			_, s.deadline = ctx.Deadline()
			s.ctxErr = ctx.Err()
		},
		OnRejected: func(err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.rejected = append(s.rejected, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNotificationHandler(t *testing.T) {
	body := string(readNotificationFixture(t, "logout.xml"))
	for _, c := range []struct {
		name, method, body string
		code               int
		answer             string
		events             int
		rejectedIs         error
	}{
		{"ok", http.MethodPost, body, 200, "OK\r\n", 1, nil},
		{"get", http.MethodGet, "", 405, "NOT OK\r\n", 0, ErrMalformed},
		{"put", http.MethodPut, body, 405, "NOT OK\r\n", 0, ErrMalformed},
		{"malformed", http.MethodPost, "<NotificationSet/>", 400, "NOT OK\r\n", 0, ErrMalformed},
		{"not xml", http.MethodPost, "hello", 400, "NOT OK\r\n", 0, ErrMalformed},
		{"too large", http.MethodPost, body + strings.Repeat(" ", MaxNotificationSetSize), 413, "NOT OK\r\n", 0, ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			var sink eventSink
			h := sink.handler(t)
			r := httptest.NewRequest(c.method, "/cis/notify", strings.NewReader(c.body))
			r.Header.Set("Content-Type", "text/xml;charset=UTF-8")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.code || w.Body.String() != c.answer {
				t.Fatalf("answer %d %q, want %d %q", w.Code, w.Body, c.code, c.answer)
			}
			if c.code == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
			if len(sink.events) != c.events {
				t.Fatalf("%d events handed over, want %d", len(sink.events), c.events)
			}
			if c.events > 0 && (sink.events[0].Session.Ticket != notifiedTicket || sink.events[0].Type != SessionLogout || !sink.deadline) {
				t.Errorf("event %v, deadline %v", sink.events[0], sink.deadline)
			}
			if c.rejectedIs == nil && len(sink.rejected) != 0 || c.rejectedIs != nil && (len(sink.rejected) != 1 || !errors.Is(sink.rejected[0], c.rejectedIs)) {
				t.Errorf("rejected %v, want one %v", sink.rejected, c.rejectedIs)
			}
		})
	}
}

// TestNotificationHandlerDetachedContext: the callback's work is not
// cancelled because the sender hung up.
func TestNotificationHandlerDetachedContext(t *testing.T) {
	var sink eventSink
	h := sink.handler(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(string(readNotificationFixture(t, "logout.xml"))))
	h.ServeHTTP(httptest.NewRecorder(), r)
	if len(sink.events) != 1 || sink.ctxErr != nil {
		t.Fatalf("events %d, callback ctx error %v", len(sink.events), sink.ctxErr)
	}
}

// TestNotificationHandlerOverHTTP serves the handler on a real socket, as
// CIS reaches it.
func TestNotificationHandlerOverHTTP(t *testing.T) {
	var sink eventSink
	srv := httptest.NewServer(sink.handler(t))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/cis/notify", "text/xml;charset=UTF-8", strings.NewReader(string(readNotificationFixture(t, "two-events.xml"))))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "OK\r\n" || len(sink.events) != 2 {
		t.Fatalf("%d %q, %d events", resp.StatusCode, b, len(sink.events))
	}
}

func TestNewNotificationHandlerChecksConfig(t *testing.T) {
	on := func(context.Context, []SessionEvent) {}
	for name, cfg := range map[string]NotificationHandlerConfig{
		"no callback":      {},
		"negative timeout": {OnEvents: on, CallbackTimeout: -time.Second},
		"negative read":    {OnEvents: on, ReadTimeout: -time.Second},
	} {
		if _, err := NewNotificationHandler(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
