package middleware

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rechecker turns notifications (hints) into checks of a ticket's
// sessions (recheckTicket): one check at a time per ticket, and at most
// one per interval. A hint while a check is queued or waiting for its
// interval is merged into it; a hint while one is running (which may have
// asked the SSB before the event happened) makes one more check follow at
// the end of the interval. So a flood of notifications for one ticket
// costs at most one SSB request per interval, and the last hint always
// gets a check that started after it.
type rechecker struct {
	run      func(ctx context.Context, th ticketHash) (recheckResult, error)
	q        *workQueue
	interval time.Duration
	timeout  time.Duration
	now      func() time.Time
	log      *slog.Logger
	metrics  *notifyMetrics

	mu        sync.Mutex
	tickets   map[ticketHash]*recheckState
	max       int
	nextSweep time.Time
}

// recheckPhase is where a ticket's next check stands.
type recheckPhase uint8

const (
	phaseIdle    recheckPhase = iota
	phaseQueued               // in the work queue
	phaseWaiting              // a timer queues it at the end of the interval
	phaseRunning
)

// recheckState is one ticket's checks.
type recheckState struct {
	last  time.Time // when the last check started
	phase recheckPhase
	again bool // a hint came while running: check once more
}

// tracking reports whether th has had a check lately, or has one due.
func (r *rechecker) tracking(th ticketHash) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tickets[th] != nil
}

// hint asks for a check of th and says what it caused: "queued",
// "delayed", "merged" or "dropped".
func (r *rechecker) hint(th ticketHash) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	st := r.tickets[th]
	if st == nil {
		if len(r.tickets) >= r.max || !now.Before(r.nextSweep) {
			r.sweepLocked(now)
		}
		if len(r.tickets) >= r.max {
			return "dropped"
		}
		st = &recheckState{}
		r.tickets[th] = st
	}
	switch st.phase {
	case phaseQueued, phaseWaiting:
		return "merged"
	case phaseRunning:
		st.again = true
		return "merged"
	}
	return r.scheduleLocked(th, st, now)
}

// scheduleLocked queues a check of an idle ticket now, or at the end of
// its interval.
func (r *rechecker) scheduleLocked(th ticketHash, st *recheckState, now time.Time) string {
	if wait := st.last.Add(r.interval).Sub(now); !st.last.IsZero() && wait > 0 {
		st.phase = phaseWaiting
		time.AfterFunc(wait, func() { r.due(th) })
		return "delayed"
	}
	if !r.q.push(func() { r.check(th) }) {
		return "dropped"
	}
	st.phase = phaseQueued
	return "queued"
}

// due queues a delayed check.
func (r *rechecker) due(th ticketHash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.tickets[th]
	if st == nil || st.phase != phaseWaiting {
		return
	}
	st.phase = phaseIdle
	if r.q.push(func() { r.check(th) }) {
		st.phase = phaseQueued
		return
	}
	r.metrics.notifications.WithLabelValues("dropped").Inc()
}

// check runs one check of th's sessions.
func (r *rechecker) check(th ticketHash) {
	r.mu.Lock()
	st := r.tickets[th]
	st.phase, st.last, st.again = phaseRunning, r.now(), false
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	res, err := r.run(ctx, th)
	cancel()
	result := [...]string{recheckNone: "unknown", recheckLive: "live", recheckEnded: "ended"}[res]
	if err != nil {
		result = "error"
		r.log.LogAttrs(ctx, slog.LevelWarn, "session check after a notification failed; the session is kept until it can be checked",
			slog.String("ticket", th.short()), slog.String("error", err.Error()))
	} else if res == recheckEnded {
		r.log.LogAttrs(ctx, slog.LevelInfo, "sessions ended after a notification: the SSO session is gone", slog.String("ticket", th.short()))
	}
	r.metrics.rechecks.WithLabelValues(result).Inc()

	r.mu.Lock()
	defer r.mu.Unlock()
	st.phase = phaseIdle
	if st.again {
		st.again = false
		if r.scheduleLocked(th, st, r.now()) == "dropped" {
			r.metrics.notifications.WithLabelValues("dropped").Inc()
		}
	}
}

// sweepLocked forgets idle tickets whose interval has passed (they limit
// nothing any more), at most once a minute unless the map is full.
func (r *rechecker) sweepLocked(now time.Time) {
	r.nextSweep = now.Add(time.Minute)
	for th, st := range r.tickets {
		if st.phase == phaseIdle && !now.Before(st.last.Add(r.interval)) {
			delete(r.tickets, th)
		}
	}
}
