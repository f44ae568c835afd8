package middleware

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the middleware's Prometheus series. Labels hold only fixed
// outcome names and the identity source (SourceSSB, SourceCIS2), never a
// ticket, token, cookie, user or role.
type metrics struct {
	loginsBySource *prometheus.CounterVec
	validations    *prometheus.CounterVec
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter
	revalFailed    *prometheus.CounterVec
	endedBySource  *prometheus.CounterVec
	roleChanges    prometheus.Counter

	cis2Revalidations *prometheus.CounterVec
	cis2Duration      *prometheus.HistogramVec

	validateDuration prometheus.Histogram
	ssbRequests      *prometheus.CounterVec
	ssbDuration      prometheus.Histogram
}

// latencyBuckets suit a RoleAssertion fetch: milliseconds on a LAN to the
// seconds of a timeout.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(reg prometheus.Registerer, storeName string, sessions func() float64) (*metrics, error) {
	m := &metrics{
		loginsBySource: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_logins_total",
			Help: "Logins by identity source (cis-ssb, cis2) and outcome: ok, bad_request, cross_origin, refused, unavailable (503), bad_gateway (502), error.",
		}, []string{"source", "outcome"}),
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
		revalFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_revalidation_failures_total",
			Help: "Revalidations that failed, by identity source and reason: sso_ended (the session was ended), unavailable (503, session kept), error (session kept).",
		}, []string{"source", "reason"}),
		endedBySource: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_sessions_ended_total",
			Help: "Sessions ended on this instance by identity source and reason: logout, sso_ended, expired, replaced (a new login in the same browser).",
		}, []string{"source", "reason"}),
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
		cis2Revalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisauth_cis2_revalidations_total",
			Help: "CIS2 revalidations (UserInfo, refresh) by outcome (ok, session_invalid, timeout, trust, unavailable, malformed, too_large, refused, error), and those refused without a request (backoff).",
		}, []string{"outcome"}),
		cis2Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cisauth_cis2_duration_seconds",
			Help:    "Time of each CIS2 relying-party call: op=finish (code exchange, ID token, UserInfo) or revalidate (UserInfo, refresh).",
			Buckets: latencyBuckets,
		}, []string{"op"}),
	}
	count := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "cisauth_sessions",
		Help:        "Sessions this instance holds (memory store) or has cached (Redis store).",
		ConstLabels: prometheus.Labels{"store": storeName},
	}, sessions)
	for _, c := range []prometheus.Collector{m.loginsBySource, m.validations, m.cacheHits, m.cacheMisses, m.revalFailed,
		m.endedBySource, m.roleChanges, m.validateDuration, m.ssbRequests, m.ssbDuration, m.cis2Revalidations, m.cis2Duration, count} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) validation(outcome string) { m.validations.WithLabelValues(outcome).Inc() }

func (m *metrics) login(source, outcome string) {
	m.loginsBySource.WithLabelValues(source, outcome).Inc()
}

func (m *metrics) revalFailure(source, reason string) {
	m.revalFailed.WithLabelValues(source, reason).Inc()
}

func (m *metrics) sessionEnded(source, reason string) {
	m.endedBySource.WithLabelValues(source, reason).Inc()
}

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
