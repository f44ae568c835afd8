package proxy

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's own; the middleware's (logins, validations,
// sessions) are registered beside them.
type metrics struct {
	upstreamErrors prometheus.Counter
	responses      *prometheus.CounterVec
	classes        [6]prometheus.Counter // responses by status class 1xx…5xx
	refused        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		upstreamErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cisproxy_upstream_errors_total",
			Help: "Requests the upstream did not answer (the proxy answered 502 or 504).",
		}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisproxy_upstream_responses_total",
			Help: "Upstream responses by status class (2xx, 3xx, …).",
		}, []string{"class"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cisproxy_refused_total",
			Help: "Requests the proxy refused before its rules: unclean path, cross-origin, WebSocket from another origin.",
		}, []string{"reason"}),
	}
	for i := 1; i < len(m.classes); i++ {
		m.classes[i] = m.responses.WithLabelValues(strconv.Itoa(i) + "xx")
	}
	for _, c := range []prometheus.Collector{m.upstreamErrors, m.responses, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// countResponse is the ReverseProxy's ModifyResponse.
func (p *Proxy) countResponse(resp *http.Response) error {
	if c := resp.StatusCode / 100; c >= 1 && c < len(p.metrics.classes) {
		p.metrics.classes[c].Inc()
	}
	return nil
}
