package cissim

import (
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencis/cisauth/cis"
)

// Session listeners: AddSessionListener on the session service registers a
// URL for one session; when the session ends (logout, timeout, destroy) the
// simulator POSTs a NotificationSet there once (notify.go).

// MaxSessionListeners is how many listener URLs one session may hold;
// registering another is answered with an Exception.
const MaxSessionListeners = 8

// maxListenerURL bounds a listener URL.
const maxListenerURL = 2048

// endReason is why a session ended, as a notification tells it.
type endReason uint8

const (
	endLogout      endReason = iota + 1 // GAS logout, admin or control logout
	endDestroy                          // admin expiry: an administrator destroyed it
	endIdleTimeout                      // its idle time ran out
	endMaxTimeout                       // its maximum time ran out
)

// event is the notification type and session state that report r.
func (r endReason) event() (cis.SessionEventType, string) {
	switch r {
	case endLogout:
		return cis.SessionLogout, cis.SessionStateDestroyed
	case endIdleTimeout:
		return cis.SessionIdleTimeout, cis.SessionStateInvalid
	case endMaxTimeout:
		return cis.SessionMaxTimeout, cis.SessionStateInvalid
	}
	return cis.SessionDestroyed, cis.SessionStateDestroyed
}

// String is how logs say it.
func (r endReason) String() string {
	typ, _ := r.event()
	return typ.String()
}

// listenerRequest is an AddSessionListener element; its children may come
// in either order.
type listenerRequest struct {
	SessionID []string `xml:"SessionID"`
	URL       []string `xml:"URL"`
}

// fill makes q an AddSessionListener query: its session id and URL if
// each is given exactly once.
func (l *listenerRequest) fill(q *sessionQuery) {
	q.listen = true
	if len(l.SessionID) == 1 {
		q.sid = strings.Trim(l.SessionID[0], " \t\r\n") // XML white space only
	}
	if len(l.URL) == 1 {
		q.url = strings.Trim(l.URL[0], " \t\r\n")
	}
	q.ok = q.sid != "" && q.url != ""
}

// listenerEntry holds one session's listener URLs and the timer that
// notices its timeout.
type listenerEntry struct {
	urls  []string
	timer *time.Timer
}

// listenerStore holds the listeners of live sessions. Lock order: a
// session shard's lock, then mu; never the other way.
type listenerStore struct {
	mu    sync.Mutex
	m     map[sessionKey]*listenerEntry
	count atomic.Int64 // URLs held, for the gauge
}

// Outcomes of a registration, as the metric labels them.
const (
	listenerAdded     = "ok"
	listenerDuplicate = "duplicate"
	listenerLimit     = "limit"
	listenerBadURL    = "bad_url"
	listenerNoSession = "invalid_session"
)

// add registers u for k, starting the timeout timer with d when k had no
// listeners. The caller holds k's shard lock.
func (ls *listenerStore) add(k sessionKey, u string, d time.Duration, fire func()) string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	e := ls.m[k]
	switch {
	case e == nil:
		e = &listenerEntry{timer: time.AfterFunc(max(d, time.Millisecond), fire)}
		ls.m[k] = e
	case slices.Contains(e.urls, u):
		return listenerDuplicate
	case len(e.urls) >= MaxSessionListeners:
		return listenerLimit
	}
	e.urls = append(e.urls, u)
	ls.count.Add(1)
	return listenerAdded
}

// take removes k's listeners, stopping its timer, and returns their URLs.
func (ls *listenerStore) take(k *sessionKey) []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	e := ls.m[*k]
	if e == nil {
		return nil
	}
	delete(ls.m, *k)
	e.timer.Stop()
	ls.count.Add(-int64(len(e.urls)))
	return e.urls
}

// urls returns a copy of k's listener URLs.
func (ls *listenerStore) urls(k *sessionKey) []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if e := ls.m[*k]; e != nil {
		return slices.Clone(e.urls)
	}
	return nil
}

// reschedule sets k's timer to fire after d, if k still has listeners.
func (ls *listenerStore) reschedule(k *sessionKey, d time.Duration) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if e := ls.m[*k]; e != nil {
		e.timer.Reset(max(d, time.Millisecond))
	}
}

// validListenerURL accepts what the real server can POST to: an absolute
// http or https URL with a host, at most maxListenerURL bytes.
func validListenerURL(s string) bool {
	if len(s) > maxListenerURL || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != ""
}

// addListener registers u for the session sid names and returns the
// outcome (one of the listener* constants).
func (s *Simulator) addListener(sid, u string, now time.Time) string {
	k, ok := parseTicket(sid)
	if !ok {
		return listenerNoSession
	}
	result := listenerBadURL
	_, live := s.sessions.use(&k, now.UnixNano(), false, func(v *session) {
		if !validListenerURL(u) {
			return
		}
		// Real time until the session would end by the simulator's clock;
		// when the timer fires, the clock decides (checkTimeout).
		d := time.Duration(s.sessions.expires(v) - now.UnixNano())
		result = s.listeners.add(k, u, d, func() { s.checkTimeout(k) })
		if result == listenerAdded {
			v.listened = true
		}
	})
	if !live {
		return listenerNoSession
	}
	return result
}

// appendAddListener answers an AddSessionListener query inside a
// SessionResponse: OK, or an Exception of the form "sid message", as
// OpenSSO writes it.
func (s *Simulator) appendAddListener(b []byte, q *sessionQuery, now time.Time) []byte {
	result := listenerNoSession
	if q.ok {
		result = s.addListener(q.sid, q.url, now)
	} else if q.sid != "" {
		result = listenerBadURL
	}
	s.notifier.metrics.registrations.WithLabelValues(result).Inc()
	b = append(b, `<AddSessionListener>`...)
	msg := ""
	switch result {
	case listenerAdded, listenerDuplicate:
		b = append(b, `<OK></OK>`...)
	case listenerLimit:
		msg = " Too many session listeners."
	case listenerBadURL:
		msg = " Invalid notification URL."
	default:
		msg = " Invalid session ID."
	}
	if msg != "" {
		b = append(b, `<Exception>`...)
		b = appendAttrValue(b, q.sid) // escaped: no "]]>" ends the CDATA
		b = append(b, msg...)
		b = append(b, `</Exception>`...)
	}
	return append(b, `</AddSessionListener>`...)
}

// checkTimeout runs when a listened session's timer fires: if the session
// has run out of time by the simulator's clock, looking it up ends it (and
// notifies); if it was used meanwhile, the timer is set for its new end.
func (s *Simulator) checkTimeout(k sessionKey) {
	now := s.now().UnixNano()
	v, live := s.sessions.use(&k, now, false, nil)
	if live {
		s.listeners.reschedule(&k, time.Duration(s.sessions.expires(&v)-now))
	}
}

// sessionEnded is sessionStore.ended: it queues one notification of why to
// each of the session's listeners. It runs under the session's shard lock
// and does not block.
func (s *Simulator) sessionEnded(k *sessionKey, v *session, why endReason) {
	urls := s.listeners.take(k)
	if len(urls) == 0 {
		return
	}
	typ, state := why.event()
	s.notify(k, v, typ, state, urls)
}

// roleSelected notifies a live session's listeners of a role selection
// (type 6, property changed) when Config.NotifyRoleChange is set.
func (s *Simulator) roleSelected(k *sessionKey, v *session) {
	if !s.cfg.NotifyRoleChange || !v.listened {
		return
	}
	if urls := s.listeners.urls(k); len(urls) > 0 {
		s.notify(k, v, cis.SessionPropertyChanged, cis.SessionStateValid, urls)
	}
}
