package cissim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the simulator's Prometheus series. Labels never carry a
// ticket, uid or role: only endpoint names, status codes and outcomes.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	logins     *prometheus.CounterVec
	assertions *prometheus.CounterVec
	gatherer   prometheus.Gatherer

	// Resolved once: the RoleAssertion hot path does no label lookups.
	assertSuccess, assertDenied prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, g prometheus.Gatherer, sessions *sessionStore) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cissim_requests_total", Help: "Protocol requests by endpoint and HTTP status.",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cissim_request_duration_seconds", Help: "Protocol request latency by endpoint, injected latency included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cissim_logins_total", Help: "authvalidate outcomes: ok, invalid_request, failed.",
		}, []string{"result"}),
		assertions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cissim_role_assertions_total", Help: "RoleAssertion answers: success or denied.",
		}, []string{"status"}),
		gatherer: g,
	}
	m.assertSuccess = m.assertions.WithLabelValues("success")
	m.assertDenied = m.assertions.WithLabelValues("denied")
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cissim_sessions", Help: "Live SSO sessions held (expired ones may linger until swept).",
	}, func() float64 { return float64(sessions.count.Load()) })
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.logins, m.assertions, live} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) handler() http.Handler {
	if m.gatherer == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// routeMetrics are one endpoint's series, resolved once.
type routeMetrics struct {
	name     string
	requests *prometheus.CounterVec
	ok       prometheus.Counter
	duration prometheus.Observer
}

func (m *metrics) route(name string) *routeMetrics {
	return &routeMetrics{
		name:     name,
		requests: m.requests,
		ok:       m.requests.WithLabelValues(name, "200"),
		duration: m.duration.WithLabelValues(name),
	}
}

func (rm *routeMetrics) observe(code int, d time.Duration) {
	if code == http.StatusOK {
		rm.ok.Inc()
	} else {
		rm.requests.WithLabelValues(rm.name, strconv.Itoa(code)).Inc()
	}
	rm.duration.Observe(d.Seconds())
}
