package cis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestHTTPStatus(t *testing.T) {
	ends := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		err   error
		code  int
		retry time.Time
	}{
		{"nil", nil, http.StatusOK, time.Time{}},
		{"canceled", fmt.Errorf("cis: x: %w", context.Canceled), 0, time.Time{}},
		{"canceled beats session invalid", fmt.Errorf("%w: %w", context.Canceled, ErrSessionInvalid), 0, time.Time{}},
		{"session invalid", fmt.Errorf("cis: x: %w", ErrSessionInvalid), http.StatusUnauthorized, time.Time{}},
		{"maintenance with an end", fmt.Errorf("wrapped: %w", &MaintenanceError{Slot: "Spine CIS", Ends: ends, Err: ErrUnavailable}), http.StatusServiceUnavailable, ends},
		{"maintenance without an end", &MaintenanceError{}, http.StatusServiceUnavailable, time.Time{}},
		{"bare maintenance sentinel", ErrMaintenance, http.StatusServiceUnavailable, time.Time{}},
		{"trust", fmt.Errorf("cis: x: %w: bad cert", ErrTrust), http.StatusServiceUnavailable, time.Time{}},
		{"timeout", ErrTimeout, http.StatusServiceUnavailable, time.Time{}},
		{"deadline", context.DeadlineExceeded, http.StatusServiceUnavailable, time.Time{}},
		{"unavailable", ErrUnavailable, http.StatusServiceUnavailable, time.Time{}},
		{"expired (clock skew, not a dead session)", ErrExpired, http.StatusServiceUnavailable, time.Time{}},
		{"malformed", &ParseError{What: "RoleAssertion", Offset: 3, Msg: "x"}, http.StatusBadGateway, time.Time{}},
		{"too large", ErrTooLarge, http.StatusBadGateway, time.Time{}},
		{"unknown role inside a malformed assertion", fmt.Errorf("%w: %w", ErrMalformed, ErrUnknownRole), http.StatusBadGateway, time.Time{}},
		{"anything else", errors.New("boom"), http.StatusInternalServerError, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, retry := HTTPStatus(tt.err)
			if code != tt.code || !retry.Equal(tt.retry) {
				t.Errorf("HTTPStatus(%v) = %d, %v; want %d, %v", tt.err, code, retry, tt.code, tt.retry)
			}
		})
	}
}
