package cissim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
)

// Delivery of session notifications: each goes once, with no retry, to one
// listener URL, from a bounded queue served by a bounded number of
// goroutines started on demand. A protocol request only queues (never
// blocks); a full queue drops and counts.

// Defaults for the notification fields of Config.
const (
	DefaultNotifyTimeout = 5 * time.Second
	DefaultNotifyWorkers = 4
	DefaultNotifyQueue   = 1000
)

// notifyJob is one notification for one listener.
type notifyJob struct {
	url     string
	body    []byte // shared by a session's listeners; never written after queuing
	typ     cis.SessionEventType
	session string // the session's opaque id, for logs
}

// notifyMetrics count registrations and deliveries.
type notifyMetrics struct {
	registrations *prometheus.CounterVec
	sent          *prometheus.CounterVec
	failed        *prometheus.CounterVec
}

func newNotifyMetrics(reg prometheus.Registerer, listeners *listenerStore) (*notifyMetrics, error) {
	m := &notifyMetrics{
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cissim_session_listener_registrations_total",
			Help: "AddSessionListener requests by result: ok, duplicate, limit, bad_url, invalid_session.",
		}, []string{"result"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cissim_notifications_sent_total", Help: "Session notifications a listener answered with 2xx, by type.",
		}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cissim_notifications_failed_total",
			Help: "Session notifications not delivered, by type and reason: error (refused, unreachable, timeout, not 2xx) or dropped (queue full).",
		}, []string{"type", "reason"}),
	}
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cissim_session_listeners", Help: "Listener URLs registered on live sessions.",
	}, func() float64 { return float64(listeners.count.Load()) })
	for _, c := range []prometheus.Collector{m.registrations, m.sent, m.failed, held} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// typeLabel is the metric label of a notification type: "logout",
// "idle_timeout", …
func typeLabel(t cis.SessionEventType) string { return strings.ReplaceAll(t.String(), " ", "_") }

// notifier queues and delivers notifications.
type notifier struct {
	client   *http.Client
	timeout  time.Duration
	workers  int
	capacity int
	log      *slog.Logger
	metrics  *notifyMetrics

	mu      sync.Mutex
	queue   []notifyJob
	running int           // delivery goroutines
	pending int           // queued or being delivered
	idle    chan struct{} // closed while pending is 0
}

// enqueue queues j without blocking; a full queue drops it.
func (n *notifier) enqueue(j notifyJob) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) >= n.capacity {
		n.metrics.failed.WithLabelValues(typeLabel(j.typ), "dropped").Inc()
		n.log.Warn("session notification dropped: queue full", "session", j.session, "type", j.typ.String())
		return
	}
	n.queue = append(n.queue, j)
	if n.pending++; n.pending == 1 {
		n.idle = make(chan struct{})
	}
	if n.running < n.workers {
		n.running++
		go n.work()
	}
}

// work delivers queued notifications until the queue is empty.
func (n *notifier) work() {
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running--
			n.mu.Unlock()
			return
		}
		j := n.queue[0]
		n.queue[0] = notifyJob{}
		n.queue = n.queue[1:]
		n.mu.Unlock()

		n.deliver(j)

		n.mu.Lock()
		if n.pending--; n.pending == 0 {
			close(n.idle)
		}
		n.mu.Unlock()
	}
}

// deliver POSTs j once, within the timeout, and counts the outcome.
func (n *notifier) deliver(j notifyJob) {
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	err := n.post(ctx, j)
	if err == nil {
		n.metrics.sent.WithLabelValues(typeLabel(j.typ)).Inc()
		return
	}
	n.metrics.failed.WithLabelValues(typeLabel(j.typ), "error").Inc()
	n.log.Info("session notification failed", "session", j.session, "type", j.typ.String(), "listener", listenerHost(j.url), "error", err.Error())
}

func (n *notifier) post(ctx context.Context, j notifyJob) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/xml;charset=UTF-8")
	resp, err := n.client.Do(req)
	if err != nil {
		// The url.Error repeats the URL; the log names the host already.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("listener answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// wait blocks until no notification is queued or being delivered.
func (n *notifier) wait(ctx context.Context) error {
	n.mu.Lock()
	idle := n.idle
	n.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func listenerHost(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Host
	}
	return ""
}

// newNotifier makes the notifier from cfg's (checked) notification fields.
func newNotifier(cfg *Config, listeners *listenerStore) (*notifier, error) {
	m, err := newNotifyMetrics(cfg.Registerer, listeners)
	if err != nil {
		return nil, err
	}
	client := cfg.NotifyClient
	if client == nil {
		client = &http.Client{
			Transport: &http.Transport{
				DialContext:           (&net.Dialer{Timeout: cfg.NotifyTimeout}).DialContext,
				TLSHandshakeTimeout:   cfg.NotifyTimeout,
				ResponseHeaderTimeout: cfg.NotifyTimeout,
				DisableKeepAlives:     true, // notifications are rare; leave no idle connections behind
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	idle := make(chan struct{})
	close(idle)
	return &notifier{
		client: client, timeout: cfg.NotifyTimeout, workers: cfg.NotifyWorkers, capacity: cfg.NotifyQueue,
		log: cfg.Logger, metrics: m, idle: idle,
	}, nil
}

// initNotify sets up session listeners and the delivery of their
// notifications, from the notification fields of s.cfg.
func (s *Simulator) initNotify() error {
	if err := checkNotifyConfig(&s.cfg); err != nil {
		return err
	}
	s.listeners = &listenerStore{m: make(map[sessionKey]*listenerEntry)}
	n, err := newNotifier(&s.cfg, s.listeners)
	if err != nil {
		return err
	}
	s.notifier = n
	s.sessions.ended = s.sessionEnded
	return nil
}

// checkNotifyConfig checks the notification fields of cfg and fills in
// their defaults.
func checkNotifyConfig(cfg *Config) error {
	if cfg.NotifyTimeout < 0 || cfg.NotifyWorkers < 0 || cfg.NotifyQueue < 0 {
		return errors.New("cissim: negative NotifyTimeout, NotifyWorkers or NotifyQueue")
	}
	setDefault(&cfg.NotifyTimeout, DefaultNotifyTimeout)
	if cfg.NotifyWorkers == 0 {
		cfg.NotifyWorkers = DefaultNotifyWorkers
	}
	if cfg.NotifyQueue == 0 {
		cfg.NotifyQueue = DefaultNotifyQueue
	}
	return nil
}

// notify queues one NotificationSet of typ (the session in state) for each
// of urls. It does not block.
func (s *Simulator) notify(k *sessionKey, v *session, typ cis.SessionEventType, state string, urls []string) {
	body := s.appendNotification(nil, k, v, typ, state, s.now())
	id := sessionID(k)
	for _, u := range urls {
		s.notifier.enqueue(notifyJob{url: u, body: body, typ: typ, session: id})
	}
	s.log.Info("session notifications queued", "session", id, "type", typ.String(), "listeners", len(urls))
}

// appendNotification writes a NotificationSet of one SessionNotification
// as OpenSSO does: the inner document in CDATA, a line break after each
// element, the Session element as GetSession writes it.
func (s *Simulator) appendNotification(b []byte, k *sessionKey, v *session, typ cis.SessionEventType, state string, now time.Time) []byte {
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<NotificationSet vers=\"1.0\" svcid=\"session\" notid=\""...)
	b = strconv.AppendUint(b, s.notids.Add(1), 10)
	b = append(b, "\">\n<Notification><![CDATA[<SessionNotification vers=\"1.0\" notid=\""...)
	b = strconv.AppendUint(b, s.notids.Add(1), 10)
	b = append(b, "\">\n"...)
	b = s.appendSessionElem(b, k, v, now.UnixNano(), state)
	b = append(b, "\n<Type>"...)
	b = strconv.AppendInt(b, int64(typ), 10)
	b = append(b, "</Type>\n<Time>"...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	return append(b, "</Time>\n</SessionNotification>]]></Notification>\n</NotificationSet>"...)
}

// WaitNotifications waits until no session notification is queued or being
// sent (each has been answered, has failed or was dropped), or ctx ends.
// Notifications are queued before the request that caused them is
// answered, so after a logout returns, WaitNotifications covers its
// notifications.
func (s *Simulator) WaitNotifications(ctx context.Context) error { return s.notifier.wait(ctx) }
