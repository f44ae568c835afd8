package cis

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// HTTPStatus sorts an error from this package for a server's HTTP answer,
// in this order:
//
//   - context.Canceled: 0, meaning "write no answer" (the client went away);
//   - ErrSessionInvalid: 401 (the SSO session is gone: log in again);
//   - ErrMaintenance (a *MaintenanceError): 503, with retryAfter set to the
//     slot's end when it is known (for a Retry-After header);
//   - ErrTrust, ErrTimeout, context.DeadlineExceeded, ErrUnavailable and
//     ErrExpired: 503 (CIS cannot vouch for anyone now; ErrExpired is an
//     assertion outside its window, a clock problem rather than a dead
//     session, so it is not a reason to end a session);
//   - ErrMalformed, ErrTooLarge: 502 (CIS answered, but not usefully);
//   - nil: 200; anything else: 500.
//
// A 503 never means "logged out": callers keep the session and retry later.
func HTTPStatus(err error) (status int, retryAfter time.Time) {
	var me *MaintenanceError
	switch {
	case err == nil:
		return http.StatusOK, time.Time{}
	case errors.Is(err, context.Canceled):
		return 0, time.Time{}
	case errors.Is(err, ErrSessionInvalid):
		return http.StatusUnauthorized, time.Time{}
	case errors.As(err, &me):
		return http.StatusServiceUnavailable, me.Ends
	case errors.Is(err, ErrMaintenance), errors.Is(err, ErrTrust), errors.Is(err, ErrTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrUnavailable), errors.Is(err, ErrExpired):
		return http.StatusServiceUnavailable, time.Time{}
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrTooLarge):
		return http.StatusBadGateway, time.Time{}
	}
	return http.StatusInternalServerError, time.Time{}
}
