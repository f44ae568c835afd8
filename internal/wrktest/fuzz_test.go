package wrktest

import (
	"testing"
)

// FuzzParseWrk feeds Parse arbitrary text (wrk's output is outside input:
// a script's lines mix with it, and wrk's format may change). Parse must
// not panic, and what it accepts must hold no negative figure.
func FuzzParseWrk(f *testing.F) {
	f.Add([]byte("  1 requests in 1.00s, 1.00KB read\nRequests/sec: 1.00\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		r, err := Parse(out)
		if err != nil {
			return
		}
		if r.Requests < 0 || r.Duration < 0 || r.ReadBytes < 0 || r.RequestsPerSec < 0 ||
			r.LatencyAvg < 0 || r.LatencyStdev < 0 || r.LatencyMax < 0 ||
			r.P50 < 0 || r.P75 < 0 || r.P90 < 0 || r.P99 < 0 ||
			r.Threads < 0 || r.Connections < 0 || r.SocketErrors() < 0 || r.Non2xx3xx < 0 || r.Not2xx < -1 {
			t.Fatalf("negative figure in %+v from %q", *r, out)
		}
	})
}
