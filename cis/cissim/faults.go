package cissim

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// protocol wraps an endpoint with metrics and the injected faults, in this
// order: latency, maintenance (503), fail rate (500).
func (s *Simulator) protocol(name string, h http.HandlerFunc) http.Handler {
	rm := s.metrics.route(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() { rm.observe(sw.code, time.Since(start)) }()
		if d := s.cfg.Latency; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if s.answerMaintenance(sw) {
			return
		}
		if s.cfg.FailRate > 0 && rand.Float64() < s.cfg.FailRate {
			writeBody(sw, http.StatusInternalServerError, "text/html; charset=utf-8",
				[]byte("<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1><p>cis-sim: injected failure</p></body></html>\n"))
			return
		}
		h(sw, r)
	})
}

// SetMaintenance switches maintenance on or off by hand, on top of the
// configured slots: while on, protocol requests get 503 and the
// maintenance page (with no Retry-After, the end being unknown).
func (s *Simulator) SetMaintenance(on bool) { s.forced.Store(on) }

// InMaintenance reports whether the simulator is answering 503 now, and
// until when (zero if switched on by hand).
func (s *Simulator) InMaintenance() (until time.Time, in bool) {
	if s.forced.Load() {
		return time.Time{}, true
	}
	now := s.now()
	for _, slot := range s.cfg.Maintenance {
		if end, ok := slot.Contains(now); ok {
			return end, true
		}
	}
	return time.Time{}, false
}

func (s *Simulator) answerMaintenance(w http.ResponseWriter) bool {
	until, in := s.InMaintenance()
	if !in {
		return false
	}
	msg := "The Spine CIS service is in its planned maintenance slot."
	if !until.IsZero() {
		w.Header().Set("Retry-After", until.UTC().Format(http.TimeFormat))
		msg = "The Spine CIS service is in its planned maintenance slot until " + until.UTC().Format(http.TimeFormat) + "."
	}
	var b strings.Builder
	b.WriteString("<html><head><title>Service maintenance</title></head><body><h1>Planned maintenance</h1><p>")
	b.WriteString(msg)
	b.WriteString(" Please try again later.</p></body></html>\n")
	writeBody(w, http.StatusServiceUnavailable, "text/html; charset=utf-8", []byte(b.String()))
	return true
}
