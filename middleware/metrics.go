package middleware

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the middleware's Prometheus series. Labels hold only fixed
// outcome names, never a ticket, cookie, user or role.
type metrics struct {
	logins        *prometheus.CounterVec
	validations   *prometheus.CounterVec
	cacheHits     prometheus.Counter
	cacheMisses   prometheus.Counter
	revalFailures *prometheus.CounterVec
	ended         *prometheus.CounterVec
	roleChanges   prometheus.Counter

	validateDuration prometheus.Histogram
	ssbRequests      *prometheus.CounterVec
	ssbDuration      prometheus.Histogram
}

// latencyBuckets suit a RoleAssertion fetch: milliseconds on a LAN to the
// seconds of a timeout.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(reg prometheus.Registerer, storeName string, sessions func() float64) (*metrics, error) {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_logins_total",
			Help: "Logins by outcome: ok, bad_request, cross_origin, refused (401), unavailable (503), bad_gateway (502), error.",
		}, []string{"outcome"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_validations_total",
			Help: "RoleAssertion fetches by outcome (ok, session_invalid, maintenance, timeout, trust, unavailable, expired, malformed, too_large, error), and those refused without a fetch (backoff, session_invalid_cached).",
		}, []string{"outcome"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cisauth_validation_cache_hits_total",
			Help: "Validations answered from the store's cache (shared by the fleet with a Redis store).",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cisauth_validation_cache_misses_total",
			Help: "Validations that had to ask the SSB (or were refused by the backoff).",
		}),
		revalFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_revalidation_failures_total",
			Help: "Revalidations that failed: sso_ended (the session was ended), unavailable (503, session kept), error (session kept).",
		}, []string{"reason"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_sessions_ended_total",
			Help: "Sessions ended on this instance by reason: logout, sso_ended, expired, replaced (a new login in the same browser).",
		}, []string{"reason"}),
		roleChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cisauth_role_changes_total",
			Help: "Sessions whose selected role changed at a refresh or revalidation (the session id is rotated).",
		}),
		validateDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cisauth_validation_duration_seconds",
			Help:    "Time of each RoleAssertion validation by the Validator (fetch and parse).",
			Buckets: latencyBuckets,
		}),
		ssbRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_ssb_requests_total",
			Help: "HTTP requests to the SSB by status code (\"error\" when no answer came), when the middleware built the SSB client.",
		}, []string{"code"}),
		ssbDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cisauth_ssb_request_duration_seconds",
			Help:    "SSB HTTP round-trip latency up to the response headers, when the middleware built the SSB client.",
			Buckets: latencyBuckets,
		}),
	}
	count := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "cisauth_sessions",
		Help:        "Sessions this instance holds (memory store) or has cached (Redis store).",
		ConstLabels: prometheus.Labels{"store": storeName},
	}, sessions)
	for _, c := range []prometheus.Collector{m.logins, m.validations, m.cacheHits, m.cacheMisses, m.revalFailures,
		m.ended, m.roleChanges, m.validateDuration, m.ssbRequests, m.ssbDuration, count} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) validation(outcome string) { m.validations.WithLabelValues(outcome).Inc() }

func (m *metrics) login(outcome string) { m.logins.WithLabelValues(outcome).Inc() }

// loginOutcome names an HTTP status for the logins metric.
func loginOutcome(status int) string {
	switch status {
	case http.StatusOK, http.StatusSeeOther:
		return "ok"
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge:
		return "bad_request"
	case http.StatusForbidden:
		return "cross_origin"
	case http.StatusUnauthorized:
		return "refused"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusBadGateway:
		return "bad_gateway"
	case 0:
		return "canceled"
	}
	return "error"
}

// ssbTransport counts and times the SSB client's requests. It wraps the
// transport Environment.NewHTTPClient made, which keeps doing the TLS
// verification; it never sees or records the URL (it holds the ticket).
type ssbTransport struct {
	next http.RoundTripper
	m    *metrics
}

func (t ssbTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.ssbDuration.Observe(time.Since(start).Seconds())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.ssbRequests.WithLabelValues(code).Inc()
	return resp, err
}
