package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencis/cisauth/cis"
)

// Session notifications ("instant logout"): at login the middleware asks
// CIS to POST a notification to the application when the SSO session ends
// or changes (OpenSSO AddSessionListener), and on such a notification it
// checks the session with the SSB at once instead of at the next
// revalidation. A notification carries no authentication: it is only ever
// a reason to ask the SSB, never a reason to end or change a session.

// Defaults of NotifyConfig.
const (
	DefaultNotifyPath            = "/cis/notify"
	DefaultNotifyRegisterTimeout = 10 * time.Second
	DefaultNotifyMinInterval     = time.Second
	DefaultNotifyWorkers         = 4
	DefaultNotifyQueue           = 1024
)

// maxNotifiedTickets bounds the tickets whose recheck times are kept.
const maxNotifiedTickets = 100_000

// ListenerRegistrar registers a session listener with CIS: the URL to POST
// session notifications to when the SSO session of a ticket ends or
// changes. *cis.SessionListenerClient satisfies it. A session CIS does not
// know should be an error wrapping cis.ErrSessionInvalid.
type ListenerRegistrar interface {
	AddSessionListener(ctx context.Context, t cis.Ticket, listenerURL string) error
}

// NotifyConfig turns on session notifications from CIS (OpenSSO session
// listeners): a logout at GAS (a pulled card), an SSO timeout or an
// administrator ending the session then ends the web session within about
// a second, on every instance, instead of at the next revalidation. The
// periodic revalidation (Config.Revalidate) stays: it still ends sessions
// if notifications are lost, blocked or never sent.
//
// Notifications are off unless ExternalURL is set. With it, every login
// registers ExternalURL + Path as a listener for its ticket (in the
// background: a login never waits for it, and a failure is logged and
// counted, never refused), and the middleware answers POST Path itself.
type NotifyConfig struct {
	// ExternalURL is the application's address as CIS reaches it: scheme,
	// host, the port when it is not the scheme's default, and the path
	// prefix a proxy in front adds, if any, e.g.
	// "https://app.example.nhs.uk:8443". A notification carries the SSO
	// ticket, so it must be https, except to a loopback host (tests, a
	// proxy on the same machine). Empty: notifications off.
	ExternalURL string
	// Path is where the middleware answers notifications
	// (DefaultNotifyPath, "/cis/notify", if empty). The listener URL is
	// ExternalURL + Path.
	Path string
	// Registrar registers the listener at each login. Nil means a
	// cis.SessionListenerClient for Config.Env: the session service found
	// through the environment's naming service (the answer cached for an
	// hour, the environment's own URL when it cannot be used), over
	// Env.NewHTTPClient.
	Registrar ListenerRegistrar
	// RegisterTimeout bounds each registration (DefaultNotifyRegisterTimeout if
	// zero).
	RegisterTimeout time.Duration
	// MinInterval is the shortest time between two notification-driven
	// checks of one ticket (DefaultNotifyMinInterval, a second, if zero):
	// notifications arriving sooner are merged into one check at the end of
	// the interval, so a flood costs one SSB request per ticket per
	// interval, and none is lost.
	MinInterval time.Duration
	// Workers bounds the checks (and, separately, the registrations) in
	// progress at once (DefaultNotifyWorkers if zero); Queue bounds those
	// waiting (DefaultNotifyQueue if zero). Past it they are dropped and
	// counted: the periodic revalidation remains.
	Workers, Queue int
}

// enabled reports whether notifications are on.
func (c *NotifyConfig) enabled() bool { return c.ExternalURL != "" }

// checkNotify checks the notification settings of s and fills in their
// defaults.
func checkNotify(s *settings) error {
	n := &s.Notify
	if !n.enabled() {
		return nil
	}
	if n.RegisterTimeout < 0 || n.MinInterval < 0 || n.Workers < 0 || n.Queue < 0 {
		return errors.New("middleware: negative value in Config.Notify")
	}
	setDefault(&n.Path, DefaultNotifyPath)
	if !strings.HasPrefix(n.Path, "/") {
		return fmt.Errorf("middleware: Notify.Path %q does not start with /", n.Path)
	}
	for _, p := range []string{s.LoginPath, s.RefreshPath, s.LogoutPath, s.SessionPath} {
		if n.Path == p {
			return fmt.Errorf("middleware: Notify.Path %q is also another endpoint's path", n.Path)
		}
	}
	u, err := url.Parse(n.ExternalURL)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(n.ExternalURL, "#") {
		return fmt.Errorf("middleware: Notify.ExternalURL %q: want the application's absolute URL without user information, query or fragment", n.ExternalURL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && cis.IsLoopbackHost(u.Hostname())) {
		return fmt.Errorf("middleware: Notify.ExternalURL %q: notifications carry the SSO ticket, so they need https (plain http only to a loopback host)", n.ExternalURL)
	}
	if err := cis.CheckListenerURL(n.listenerURL()); err != nil {
		return fmt.Errorf("middleware: Notify: %w", err)
	}
	if n.Registrar == nil && (s.Env.GASURL == "" || s.Env.SSBURL == "") {
		return errors.New("middleware: Notify needs a Registrar or an Env with GAS and SSB URLs")
	}
	if n.RegisterTimeout == 0 {
		n.RegisterTimeout = DefaultNotifyRegisterTimeout
	}
	if n.MinInterval == 0 {
		n.MinInterval = DefaultNotifyMinInterval
	}
	if n.Workers == 0 {
		n.Workers = DefaultNotifyWorkers
	}
	if n.Queue == 0 {
		n.Queue = DefaultNotifyQueue
	}
	return nil
}

// listenerURL is the URL registered with CIS.
func (c *NotifyConfig) listenerURL() string { return strings.TrimRight(c.ExternalURL, "/") + c.Path }

// notifier is the middleware's side of session notifications: the
// registrations at login and the endpoint CIS posts to.
type notifier struct {
	m         *Middleware
	url       string
	registrar ListenerRegistrar
	timeout   time.Duration
	registers *workQueue
	rechecks  *rechecker
	handler   *cis.NotificationHandler
	metrics   *notifyMetrics
	log       *slog.Logger
}

// newNotifier sets up notifications for m, or returns nil if they are off.
func (m *Middleware) newNotifier() (*notifier, error) {
	c := &m.s.Notify
	if !c.enabled() {
		return nil, nil
	}
	met, err := newNotifyMetrics(m.s.Registerer)
	if err != nil {
		return nil, fmt.Errorf("middleware: metrics: %w", err)
	}
	n := &notifier{
		m: m, url: c.listenerURL(), registrar: c.Registrar, timeout: c.RegisterTimeout,
		registers: &workQueue{workers: c.Workers, capacity: c.Queue}, metrics: met, log: m.log,
	}
	if n.registrar == nil {
		naming, err := cis.NewNamingClient(cis.NamingConfig{Env: m.s.Env, Timeout: c.RegisterTimeout, Now: m.s.Now, Logger: m.log})
		if err != nil {
			return nil, fmt.Errorf("middleware: Notify: %w", err)
		}
		if n.registrar, err = cis.NewSessionListenerClient(naming); err != nil {
			return nil, fmt.Errorf("middleware: Notify: %w", err)
		}
	}
	n.rechecks = &rechecker{
		run: m.recheckTicket, interval: c.MinInterval, timeout: 2 * m.s.ValidationTimeout,
		q: &workQueue{workers: c.Workers, capacity: c.Queue}, now: m.now, log: m.log, metrics: met,
		tickets: make(map[ticketHash]*recheckState), max: maxNotifiedTickets,
	}
	n.handler, err = cis.NewNotificationHandler(cis.NotificationHandlerConfig{
		OnEvents:   n.onEvents,
		OnRejected: func(error) { met.notifications.WithLabelValues("malformed").Inc() },
		Logger:     m.log,
	})
	if err != nil {
		return nil, fmt.Errorf("middleware: Notify: %w", err)
	}
	return n, nil
}

// listen registers the listener for a ticket that just logged in, in the
// background.
func (m *Middleware) listen(t cis.Ticket, th ticketHash) {
	n := m.notify
	if n == nil {
		return
	}
	if !n.registers.push(func() { n.register(t, th) }) {
		n.metrics.registrations.WithLabelValues("dropped").Inc()
		n.log.Warn("session listener not registered: too many waiting", "ticket", th.short())
	}
}

// register registers the listener for t. A ticket CIS already calls
// invalid (the card was pulled during the login) is checked at once.
func (n *notifier) register(t cis.Ticket, th ticketHash) {
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	err := n.registrar.AddSessionListener(ctx, t, n.url)
	outcome := registrationOutcome(err)
	n.metrics.registrations.WithLabelValues(outcome).Inc()
	switch {
	case err == nil:
		n.log.LogAttrs(ctx, slog.LevelDebug, "session listener registered", slog.String("ticket", th.short()))
	case outcome == "session_invalid":
		n.log.LogAttrs(ctx, slog.LevelInfo, "session listener refused: the SSO session has ended; checking it now", slog.String("ticket", th.short()))
		n.rechecks.hint(th)
	default:
		n.log.LogAttrs(ctx, slog.LevelWarn, "session listener not registered; the session is still revalidated periodically",
			slog.String("ticket", th.short()), slog.String("error", err.Error()))
	}
}

// registrationOutcome names a registration's result for the metric.
func registrationOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, cis.ErrSessionInvalid):
		return "session_invalid"
	case errors.Is(err, cis.ErrListenerRefused):
		return "refused"
	}
	return outcome(err) // the validation outcomes: timeout, unavailable, trust, …
}

// onEvents takes the events of one NotificationSet: each is a reason to
// check its ticket's sessions, whatever it claims happened. A ticket with
// no session here (in a fleet: anywhere) is dropped after one look-up in
// the store's ticket index, on the sender's time: tickets nobody has never
// take a place in the queue, so a flood of them cannot crowd out real
// notifications.
func (n *notifier) onEvents(ctx context.Context, events []cis.SessionEvent) {
	seen := make([]ticketHash, 0, len(events))
	for i := range events {
		e := &events[i]
		t, err := cis.ParseTicket(e.Session.Ticket.Reveal())
		if err != nil {
			n.metrics.notifications.WithLabelValues("not_a_ticket").Inc()
			continue
		}
		th := hashTicket(t)
		if containsHash(seen, th) {
			n.metrics.notifications.WithLabelValues("merged").Inc()
			continue
		}
		seen = append(seen, th)
		if !n.rechecks.tracking(th) {
			// A store that cannot answer does not make the ticket unknown:
			// the check will say what is wrong.
			if ids, err := n.m.be.sessionsOf(ctx, th); err == nil && len(ids) == 0 {
				n.metrics.notifications.WithLabelValues("unknown").Inc()
				continue
			}
		}
		outcome := n.rechecks.hint(th)
		n.metrics.notifications.WithLabelValues(outcome).Inc()
		n.log.LogAttrs(ctx, slog.LevelDebug, "session notification", slog.String("type", e.Type.String()),
			slog.String("ticket", th.short()), slog.String("recheck", outcome))
	}
}

func containsHash(hs []ticketHash, h ticketHash) bool {
	for i := range hs {
		if hs[i] == h {
			return true
		}
	}
	return false
}

// notifyMetrics count registrations, notifications and the checks they
// cause.
type notifyMetrics struct {
	registrations *prometheus.CounterVec
	notifications *prometheus.CounterVec
	rechecks      *prometheus.CounterVec
}

func newNotifyMetrics(reg prometheus.Registerer) (*notifyMetrics, error) {
	m := &notifyMetrics{
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_listener_registrations_total",
			Help: "Session listener registrations at login by outcome: ok, session_invalid, refused, timeout, unavailable, trust, maintenance, malformed, error, dropped (queue full).",
		}, []string{"outcome"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_session_notifications_total",
			Help: "Session notification events by what they caused: queued (a check now), delayed (a check at the end of the ticket's interval), merged (into a check already due), dropped (queue full), unknown (no session of the ticket), not_a_ticket; and malformed requests.",
		}, []string{"outcome"}),
		rechecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_notification_rechecks_total",
			Help: "Checks of a ticket's sessions caused by notifications, by result: ended (the SSO session was gone), live, unknown (no session of the ticket), error.",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.registrations, m.notifications, m.rechecks} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
