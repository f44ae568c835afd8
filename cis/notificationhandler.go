package cis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of NotificationHandlerConfig.
const (
	DefaultNotificationCallbackTimeout = 5 * time.Second
	DefaultNotificationReadTimeout     = 10 * time.Second
)

// NotificationHandlerConfig configures a NotificationHandler.
type NotificationHandlerConfig struct {
	// OnEvents receives the events of every well-formed NotificationSet
	// (required). It runs synchronously on the request's goroutine, before
	// the answer is written: the sender waits for it, so it must return
	// quickly. Hand slow work (asking CIS about the session) to a worker
	// with a bounded queue, or bound it by ctx. ctx carries the request's
	// values but not its cancellation (the work should not stop because the
	// sender hung up) and ends after CallbackTimeout. The events are the
	// callback's to keep.
	OnEvents func(ctx context.Context, events []SessionEvent)
	// CallbackTimeout bounds ctx given to OnEvents (default
	// DefaultNotificationCallbackTimeout).
	CallbackTimeout time.Duration
	// ReadTimeout bounds reading the request body, where the server allows
	// setting a read deadline (default DefaultNotificationReadTimeout).
	ReadTimeout time.Duration
	// OnRejected, if not nil, is called with the reason for every request
	// refused (wrong method, body too large or malformed), for example to
	// count them. The error wraps ErrMalformed or ErrTooLarge and never
	// quotes a ticket.
	OnRejected func(err error)
	// Logger receives one line per refused request (default: discard).
	Logger *slog.Logger
}

// NotificationHandler is an http.Handler for the listener URL registered
// with AddSessionListener: it accepts POSTed NotificationSets (at most
// MaxNotificationSetSize bytes), hands the parsed events to OnEvents and
// answers 200 "OK\r\n", as OpenSSO's own agents do. Anything else gets a
// 4xx and "NOT OK\r\n": 405 for a method other than POST, 413 for a body
// that is too large, 400 for one that does not parse. Content-Type is not
// checked (OpenSSO sends text/xml;charset=UTF-8).
//
// Notifications carry no authentication: the handler cannot tell one from
// CIS from one anybody else sent, and OnEvents must treat every event as a
// hint to ask CIS again, never as proof. Rate-limit that work per session
// and make sessions you do not know cheap to ignore.
//
// It is safe for concurrent use.
type NotificationHandler struct {
	cfg NotificationHandlerConfig
}

// NewNotificationHandler checks cfg and returns a handler.
func NewNotificationHandler(cfg NotificationHandlerConfig) (*NotificationHandler, error) {
	if cfg.OnEvents == nil {
		return nil, errors.New("cis: NotificationHandlerConfig.OnEvents is required")
	}
	if cfg.CallbackTimeout < 0 || cfg.ReadTimeout < 0 {
		return nil, errors.New("cis: negative notification handler timeout")
	}
	if cfg.CallbackTimeout == 0 {
		cfg.CallbackTimeout = DefaultNotificationCallbackTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultNotificationReadTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &NotificationHandler{cfg: cfg}, nil
}

var (
	notificationOK    = []byte("OK\r\n")
	notificationNotOK = []byte("NOT OK\r\n")
)

// ServeHTTP reads one NotificationSet and answers OK or NOT OK.
func (h *NotificationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, http.StatusMethodNotAllowed, fmt.Errorf("%w: session notification sent with method %.10s, want POST", ErrMalformed, r.Method))
		return
	}
	// A deadline for the body; a server that cannot set one (a recorder in
	// tests) relies on its own timeouts.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.ReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxNotificationSetSize))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			h.reject(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: session notification over %d bytes", ErrTooLarge, mbe.Limit))
			return
		}
		h.reject(w, http.StatusBadRequest, fmt.Errorf("%w: session notification body unreadable", ErrMalformed))
		return
	}
	set, err := ParseNotificationSet(body)
	if err != nil {
		h.reject(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.CallbackTimeout)
	h.cfg.OnEvents(ctx, set.Events)
	cancel()
	writeNotificationAnswer(w, http.StatusOK, notificationOK)
}

func (h *NotificationHandler) reject(w http.ResponseWriter, code int, err error) {
	h.cfg.Logger.Info("session notification refused", "status", code, "error", err.Error())
	if h.cfg.OnRejected != nil {
		h.cfg.OnRejected(err)
	}
	writeNotificationAnswer(w, code, notificationNotOK)
}

func writeNotificationAnswer(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write(body)
}
