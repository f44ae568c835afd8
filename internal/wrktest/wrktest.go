// Package wrktest runs the wrk HTTP load generator for tests and
// benchmarks and reads its report: Parse turns wrk 4's text output into a
// Result (requests, rate, latency distribution, socket errors, non-2xx
// answers), with wrk's units (us, ms, s; k and M counts; KB and MB) read
// exactly.
//
// Outside `make test` a test that needs wrk is skipped with a message
// saying how to install it; under `make test` (CISAUTH_MAKE_TEST=1) a
// missing wrk fails the test, so a broken set-up cannot pass CI silently.
//
// It is for tests and benchmarks only.
package wrktest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvMakeTest is "1" under make test: no skipping.
const EnvMakeTest = "CISAUTH_MAKE_TEST"

// ErrNotReport means the text is not a wrk report: its request count or
// rate is missing (wrk printed its usage, or failed before the run).
var ErrNotReport = errors.New("wrktest: not a wrk report")

// Result is one wrk run's report.
type Result struct {
	URL         string
	Threads     int
	Connections int
	// Requests completed, in Duration, with ReadBytes read.
	Requests  int64
	Duration  time.Duration
	ReadBytes int64
	// RequestsPerSec is wrk's "Requests/sec".
	RequestsPerSec float64
	// Latency per request, over all threads.
	LatencyAvg, LatencyStdev, LatencyMax time.Duration
	// Distribution is true when wrk ran with --latency and printed the
	// percentiles P50…P99.
	Distribution       bool
	P50, P75, P90, P99 time.Duration
	// Socket errors (wrk prints them only when one is not zero).
	ConnectErrors, ReadErrors, WriteErrors, Timeouts int64
	// Non2xx3xx is wrk's "Non-2xx or 3xx responses": answers with a status
	// of 400 or more (wrk counts 1xx and 3xx as good).
	Non2xx3xx int64
	// Not2xx counts every answer whose status is not 2xx, 3xx included, as
	// StatusScript reports it; -1 without the script.
	Not2xx int64
}

// SocketErrors is the sum of the connect, read and write errors and
// timeouts.
func (r *Result) SocketErrors() int64 {
	return r.ConnectErrors + r.ReadErrors + r.WriteErrors + r.Timeouts
}

// statusLine is the line StatusScript prints at the end of a run.
const statusLine = "wrktest not-2xx:"

// statusScript is a wrk Lua script that counts answers whose status is
// not 2xx in every thread and prints the sum after wrk's report. It makes
// wrk parse every response, so it is for tests, not measurements.
const statusScript = `-- written by wrktest.StatusScript
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not2xx = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then not2xx = not2xx + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("not2xx") end
  io.write(string.format("` + statusLine + ` %d\n", n))
end
`

// Path returns wrk's path. Without wrk the test is skipped, or fails
// under make test.
func Path(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("wrk")
	if err == nil {
		return p
	}
	if os.Getenv(EnvMakeTest) == "1" {
		t.Fatalf("wrk required under make test: %v", err)
	}
	t.Skipf("wrk not installed (%v); `apt-get install wrk`, or run `make test`", err)
	return ""
}

// StatusScript writes the script that fills Result.Not2xx into a
// temporary directory of the test and returns its path, for wrk's -s.
func StatusScript(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "status.lua")
	if err := os.WriteFile(p, []byte(statusScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Run runs wrk at path with args (which end with the URL) and parses its
// report. The output is returned as well, for messages.
func Run(ctx context.Context, path string, args ...string) (*Result, []byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, out, fmt.Errorf("wrktest: wrk %s: %w: %s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	r, err := Parse(out)
	return r, out, err
}

// Parse reads a wrk 4 report. Lines it does not know (a script's own
// output) are skipped; a line it knows with a value it cannot read is an
// error, as is a report without a request count or rate (ErrNotReport).
func Parse(out []byte) (*Result, error) {
	r := &Result{Not2xx: -1}
	var haveRequests, haveRate bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		var err error
		switch {
		case len(f) == 0:
		case strings.HasPrefix(line, "Running ") && len(f) >= 5 && f[3] == "@":
			r.URL = f[4]
		case len(f) == 5 && f[1] == "threads" && f[2] == "and" && f[4] == "connections":
			r.Threads, err = count(f[0])
			if err == nil {
				r.Connections, err = count(f[3])
			}
		case f[0] == "Latency" && len(f) == 5:
			r.LatencyAvg, r.LatencyStdev, r.LatencyMax, err = latencyStats(f[1:])
		case f[0] == "Req/Sec" && len(f) == 5:
			for _, v := range f[1:4] {
				if _, err = metric(v); err != nil {
					break
				}
			}
		case len(f) == 2 && strings.HasSuffix(f[0], "%"):
			err = r.percentile(f[0], f[1])
		case len(f) == 6 && f[1] == "requests" && f[2] == "in" && f[5] == "read":
			if haveRequests {
				return nil, fmt.Errorf("wrktest: line %d: a second request count", n)
			}
			haveRequests = true
			err = r.totals(f)
		case strings.HasPrefix(line, "Socket errors:"):
			err = r.socketErrors(strings.TrimPrefix(line, "Socket errors:"))
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			r.Non2xx3xx, err = count64(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")))
		case f[0] == "Requests/sec:" && len(f) == 2:
			if haveRate {
				return nil, fmt.Errorf("wrktest: line %d: a second Requests/sec", n)
			}
			haveRate = true
			r.RequestsPerSec, err = number(f[1])
		case strings.HasPrefix(line, statusLine):
			r.Not2xx, err = count64(strings.TrimSpace(strings.TrimPrefix(line, statusLine)))
		}
		if err != nil {
			return nil, fmt.Errorf("wrktest: line %d %q: %w", n, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wrktest: %w", err)
	}
	if !haveRequests || !haveRate {
		return nil, ErrNotReport
	}
	return r, nil
}

// latencyStats reads "avg stdev max pct%".
func latencyStats(f []string) (avg, stdev, maxLat time.Duration, err error) {
	if avg, err = latency(f[0]); err != nil {
		return
	}
	if stdev, err = latency(f[1]); err != nil {
		return
	}
	if maxLat, err = latency(f[2]); err != nil {
		return
	}
	if !strings.HasSuffix(f[3], "%") {
		err = fmt.Errorf("%q: want a percentage", f[3])
	}
	return
}

func (r *Result) percentile(p, v string) error {
	d, err := latency(v)
	if err != nil {
		return err
	}
	switch p {
	case "50%", "50.000%":
		r.P50 = d
	case "75%", "75.000%":
		r.P75 = d
	case "90%", "90.000%":
		r.P90 = d
	case "99%", "99.000%":
		r.P99 = d
	default:
		return fmt.Errorf("percentile %q: wrk prints 50, 75, 90 and 99", p)
	}
	r.Distribution = true
	return nil
}

// totals reads "N requests in 2.09s, 23.54MB read".
func (r *Result) totals(f []string) error {
	var err error
	if r.Requests, err = count64(f[0]); err != nil {
		return err
	}
	d, ok := strings.CutSuffix(f[3], ",")
	if !ok {
		return errors.New("no comma after the duration")
	}
	if r.Duration, err = latency(d); err != nil {
		return err
	}
	r.ReadBytes, err = bytesRead(f[4])
	return err
}

// socketErrors reads " connect 0, read 0, write 0, timeout 0".
func (r *Result) socketErrors(s string) error {
	dst := map[string]*int64{"connect": &r.ConnectErrors, "read": &r.ReadErrors, "write": &r.WriteErrors, "timeout": &r.Timeouts}
	parts := strings.Split(s, ",")
	if len(parts) != len(dst) {
		return errors.New("want connect, read, write and timeout counts")
	}
	for _, part := range parts {
		name, v, ok := strings.Cut(strings.TrimSpace(part), " ")
		p := dst[name]
		if !ok || p == nil {
			return fmt.Errorf("%q: want NAME COUNT", part)
		}
		n, err := count64(strings.TrimSpace(v))
		if err != nil {
			return err
		}
		*p = n
		delete(dst, name) // each name once
	}
	return nil
}

// number reads a finite, non-negative decimal number.
func number(s string) (float64, error) {
	if s == "" || !(s[0] >= '0' && s[0] <= '9') {
		return 0, fmt.Errorf("%q: want a number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q: want a number", s)
	}
	return v, nil
}

// count64 reads a non-negative integer.
func count64(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' {
		return 0, fmt.Errorf("%q: want a count", s)
	}
	return n, nil
}

func count(s string) (int, error) {
	n, err := count64(s)
	if err != nil || n > math.MaxInt32 {
		return 0, fmt.Errorf("%q: want a count", s)
	}
	return int(n), nil
}

// scaled reads a number followed by one of the units, and returns it
// multiplied by the unit's factor.
func scaled(s string, units []unit) (float64, error) {
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := number(num)
			if err != nil {
				return 0, err
			}
			return v * u.factor, nil
		}
	}
	return 0, fmt.Errorf("%q: unknown unit", s)
}

type unit struct {
	suffix string
	factor float64
}

// wrk's units (its units.c), longest suffix first where one ends another.
var (
	timeUnits = []unit{{"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}}
	// metricUnits: a plain number last, since every suffix ends a digit.
	metricUnits = []unit{{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"", 1}}
	binaryUnits = []unit{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"PB", 1 << 50}, {"B", 1}}
)

// latency reads a wrk time ("218.00us", "2.34ms", "1.51s").
func latency(s string) (time.Duration, error) {
	ns, err := scaled(s, timeUnits)
	if err != nil {
		return 0, err
	}
	if ns >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: too long", s)
	}
	return time.Duration(math.Round(ns)), nil
}

// metric reads a wrk count with an SI suffix ("5.36k").
func metric(s string) (float64, error) { return scaled(s, metricUnits) }

// bytesRead reads a wrk size ("23.54MB", "0.00B").
func bytesRead(s string) (int64, error) {
	b, err := scaled(s, binaryUnits)
	if err != nil {
		return 0, err
	}
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return int64(math.Round(b)), nil
}
