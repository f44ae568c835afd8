package agent

import (
	"context"
	"errors"
	"time"

	"github.com/opencis/cisauth/cis"
)

// onTick runs the timers: the keep-alive of the held session, and the
// mode's: a locked session's timeout; in mobility mode, the lock after the
// card has been out too long or the PIN was last entered too long ago.
func (a *Agent) onTick(ctx context.Context, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := a.held
	if h == nil {
		return
	}
	switch {
	case h.locked && a.cfg.LockTimeout > 0 && now.Sub(h.lockedAt) >= a.cfg.LockTimeout:
		a.takeHeldLocked()
		a.spawn(func() { a.endSession(h, "The locked session timed out: logged out") })
		return
	case !h.locked && a.cfg.Mode == ModeMobility && h.cardOut && now.Sub(h.removedAt) >= a.cfg.AwayLock:
		a.lockLocked(h, "The smartcard has been out too long: session locked. Insert it and enter its PIN to carry on")
	case !h.locked && a.cfg.Mode == ModeMobility && now.Sub(h.verifiedAt) >= a.cfg.ReauthAfter:
		a.lockLocked(h, "Time to enter your PIN again: session locked")
		if a.present[h.reader] && a.flow == nil {
			a.startFlowLocked(a.runCtx, h.reader, true)
		}
	}
	if !a.kaBusy && now.Sub(a.lastKA) >= a.keepAliveEvery(h) {
		a.kaBusy = true
		a.spawn(func() { a.keepAlive(ctx, h) })
	}
}

// keepAliveEvery is the keep-alive period for h: the configured one, at
// most half the session's idle time.
func (a *Agent) keepAliveEvery(h *held) time.Duration {
	d := a.cfg.KeepAlive
	if idle := h.sess.SessionTime; idle > 0 && idle/2 < d {
		d = idle / 2
	}
	return d
}

// keepAlive resets h's idle timer at the session service. A session CIS no
// longer knows is dropped (its ticket is useless); other failures are
// logged and tried again at the next tick.
func (a *Agent) keepAlive(ctx context.Context, h *held) {
	info, err := a.sessions.GetSession(ctx, h.sess.Ticket, true)
	a.mu.Lock()
	a.kaBusy = false
	if err == nil {
		a.lastKA = a.cfg.Now()
		a.notifyLocked()
		a.mu.Unlock()
		a.log.Debug("session kept alive", "uid", info.UID, "time_left", info.TimeLeft)
		return
	}
	if !errors.Is(err, cis.ErrSessionInvalid) || a.held != h {
		a.mu.Unlock()
		a.log.Warn("keep-alive failed; trying again at the next tick", "error", err)
		return
	}
	a.takeHeldLocked()
	a.publishLocked(Event{Kind: EventLoggedOut, Reader: h.reader, UID: h.sess.UID, Message: msgEnded})
	a.setLocked(a.idlePhaseLocked(), msgEnded)
	a.mu.Unlock()
	a.log.Info("the SSO session ended at CIS", "uid", h.sess.UID)
}
