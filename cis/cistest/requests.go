package cistest

import "github.com/prometheus/client_golang/prometheus"

// Requests sums the simulator's cissim_requests_total series in reg (the
// Registerer given in cissim.Config) whose endpoint label is one of
// endpoints ("authactivate", "authvalidate", "RoleAssertion", …), every
// endpoint if none: how many protocol requests the simulator answered.
func Requests(reg prometheus.Gatherer, endpoints ...string) (int, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	for _, e := range endpoints {
		want[e] = true
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "cissim_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "endpoint" && (len(want) == 0 || want[lp.GetValue()]) {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int(n), nil
}
