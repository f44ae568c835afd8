package wrktest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Reports captured from wrk 4.1.0 (Debian), with the figures each holds.
func TestParseReports(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Result
	}{
		{"upstream.txt", Result{
			URL: "http://127.0.0.1:18081/", Threads: 2, Connections: 32,
			Requests: 21591, Duration: 2090 * time.Millisecond, ReadBytes: 24683479, // 23.54 × 2^20
			RequestsPerSec: 10339.75,
			LatencyAvg:     4710 * time.Microsecond, LatencyStdev: 7870 * time.Microsecond, LatencyMax: 73630 * time.Microsecond,
			Distribution: true, P50: 2340 * time.Microsecond, P75: 3580 * time.Microsecond, P90: 7810 * time.Microsecond, P99: 46940 * time.Microsecond,
			Not2xx: -1,
		}},
		{"non2xx.txt", Result{
			URL: "http://127.0.0.1:18082/", Threads: 2, Connections: 32,
			Requests: 41746, Duration: 2040 * time.Millisecond, ReadBytes: 7434404, // 7.09 × 2^20
			RequestsPerSec: 20418.19,
			LatencyAvg:     2710 * time.Microsecond, LatencyStdev: 6370 * time.Microsecond, LatencyMax: 59020 * time.Microsecond,
			Distribution: true, P50: 1120 * time.Microsecond, P75: 2230 * time.Microsecond, P90: 4520 * time.Microsecond, P99: 41720 * time.Microsecond,
			Non2xx3xx: 41746, Not2xx: -1,
		}},
		{"script.txt", Result{
			URL: "http://127.0.0.1:18082/", Threads: 2, Connections: 8,
			Requests: 28509, Duration: 1100 * time.Millisecond, ReadBytes: 5075108, // 4.84 × 2^20
			RequestsPerSec: 25893.62,
			LatencyAvg:     476040 * time.Nanosecond, LatencyStdev: 738030 * time.Nanosecond, LatencyMax: 8940 * time.Microsecond,
			Distribution: true, P50: 218 * time.Microsecond, P75: 491 * time.Microsecond, P90: 1140 * time.Microsecond, P99: 3680 * time.Microsecond,
			Non2xx3xx: 28509, Not2xx: 28509,
		}},
		{"no-latency.txt", Result{
			URL: "http://127.0.0.1:18082/", Threads: 2, Connections: 8,
			Requests: 2881, Duration: time.Second, ReadBytes: 3292529, // 3.14 × 2^20
			RequestsPerSec: 2872.32,
			LatencyAvg:     2810 * time.Microsecond, LatencyStdev: 1200 * time.Microsecond, LatencyMax: 12090 * time.Microsecond,
			Not2xx: 0,
		}},
		{"timeouts.txt", Result{
			URL: "http://127.0.0.1:18083/", Threads: 1, Connections: 4,
			Requests: 8, Duration: 3010 * time.Millisecond, ReadBytes: 9144, // 8.93 × 2^10
			RequestsPerSec: 2.66, Distribution: true,
			Timeouts: 8, Not2xx: -1,
		}},
		{"read-errors.txt", Result{
			URL: "http://127.0.0.1:18084/", Threads: 1, Connections: 4,
			Duration: 1100 * time.Millisecond, Distribution: true,
			ReadErrors: 12281, Not2xx: -1,
		}},
		{"seconds.txt", Result{
			URL: "http://127.0.0.1:18083/", Threads: 1, Connections: 4,
			Requests: 8, Duration: 4020 * time.Millisecond, ReadBytes: 9144,
			RequestsPerSec: 1.99,
			LatencyAvg:     1500 * time.Millisecond, LatencyStdev: 2330 * time.Microsecond, LatencyMax: 1510 * time.Millisecond,
			Distribution: true, P50: 1510 * time.Millisecond, P75: 1510 * time.Millisecond, P90: 1510 * time.Millisecond, P99: 1510 * time.Millisecond,
			Not2xx: -1,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Parse(mustRead(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("Parse:\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParseUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0.00us", 0}, {"999.99us", 999990}, {"1.00ms", time.Millisecond}, {"12.34ms", 12340 * time.Microsecond},
		{"2.50s", 2500 * time.Millisecond}, {"1.50m", 90 * time.Second}, {"2.00h", 2 * time.Hour}, {"7", 0},
	} {
		got, err := latency(tc.in)
		if tc.in == "7" {
			if err == nil {
				t.Errorf("latency(%q): no error for a time without a unit", tc.in)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("latency(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want float64
	}{{"485.00", 485}, {"5.36k", 5360}, {"1.20M", 1.2e6}, {"3G", 3e9}} {
		if got, err := metric(tc.in); err != nil || got != tc.want {
			t.Errorf("metric(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
	}{{"0.00B", 0}, {"512.00B", 512}, {"1.50KB", 1536}, {"2.00MB", 2 << 20}, {"1.00GB", 1 << 30}} {
		if got, err := bytesRead(tc.in); err != nil || got != tc.want {
			t.Errorf("bytesRead(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "ms", "-1.00ms", "+1ms", "NaNms", "Infs", "1e400s", "1.00xs", "1.0.0ms", "9999999999h"} {
		if d, err := latency(bad); err == nil {
			t.Errorf("latency(%q) = %v, want an error", bad, d)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	report := string(mustRead(t, "upstream.txt"))
	for name, in := range map[string]string{
		"usage":            "Usage: wrk <options> <url>\n  Options:\n",
		"connect failure":  "unable to connect to 127.0.0.1:9 Connection refused\n",
		"empty":            "",
		"no rate":          strings.Replace(report, "Requests/sec:  10339.75", "", 1),
		"no count":         strings.Replace(report, "21591 requests in 2.09s, 23.54MB read", "", 1),
		"two rates":        report + "Requests/sec:  1.00\n",
		"bad rate":         strings.Replace(report, "10339.75", "10339,75", 1),
		"bad percentile":   strings.Replace(report, "2.34ms", "2.34", 1),
		"odd percentile":   strings.Replace(report, "75%", "95%", 1),
		"bad count":        strings.Replace(report, "21591 requests", "21.5k requests", 1),
		"bad read":         strings.Replace(report, "23.54MB read", "23.54XB read", 1),
		"bad latency":      strings.Replace(report, "4.71ms", "4.71", 1),
		"bad socket":       strings.Replace(report, "Requests/sec:", "Socket errors: connect 0, read x, write 0, timeout 0\nRequests/sec:", 1),
		"repeated socket":  strings.Replace(report, "Requests/sec:", "Socket errors: read 0, read 0, write 0, timeout 0\nRequests/sec:", 1),
		"negative non-2xx": strings.Replace(report, "Requests/sec:", "Non-2xx or 3xx responses: -3\nRequests/sec:", 1),
	} {
		if r, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: Parse = %+v, want an error", name, r)
		}
	}
	if _, err := Parse([]byte("Usage: wrk <options> <url>\n")); !errors.Is(err, ErrNotReport) {
		t.Errorf("usage: %v, want ErrNotReport", err)
	}
}

// TestRunWithStatusScript runs the real wrk for a second against a
// server that answers every third request with a redirect: wrk itself
// counts 3xx as good, the script does not.
func TestRunWithStatusScript(t *testing.T) {
	wrk := Path(t)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	r, out, err := Run(context.Background(), wrk, "-t1", "-c2", "-d1s", "--latency", "-s", StatusScript(t), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.RequestsPerSec <= 0 || !r.Distribution || r.P50 <= 0 || r.Threads != 1 || r.Connections != 2 {
		t.Errorf("implausible report %+v from\n%s", *r, out)
	}
	if r.Non2xx3xx != 0 {
		t.Errorf("wrk counted %d non-2xx/3xx; want 0 (it counts 3xx as good)\n%s", r.Non2xx3xx, out)
	}
	// About a third of the answers were redirects; the requests cut off
	// at the end are in neither count.
	if r.Not2xx < r.Requests/4 || r.Not2xx > r.Requests/2 {
		t.Errorf("script counted %d not-2xx of %d answers; want about a third\n%s", r.Not2xx, r.Requests, out)
	}
}

func TestRunFails(t *testing.T) {
	wrk := Path(t)
	if _, _, err := Run(context.Background(), wrk, "--no-such-flag"); err == nil {
		t.Error("wrk with a bad flag: no error")
	}
}
