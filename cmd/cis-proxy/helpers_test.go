package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis/cissim"
	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/logtest"
	"github.com/opencis/cisauth/internal/proxytest"
)

// Demo users and roles (cissim.DemoUsers).
const (
	alice     = "555000000001" // Jones Alice Dr: RCJ, B0264 and B0360
	aliceRole = "555000000101"
	bob       = "555000000002"
	bobRMM    = "555000000207" // RMM, B0360 only
	bobAdmin  = "555000000202" // job role S8001:G8001:R8000
)

// cookieName is the session cookie's name behind a plain-http loopback
// external URL: no Secure, so no __Host- prefix.
const cookieName = "cis_session"

// waitFor bounds every wait on a condition in these tests.
const waitFor = 10 * time.Second

// envFile writes the simulator's environment file as cis-sim does and
// returns its path.
func envFile(t testing.TB, sim *cistest.Server) string {
	t.Helper()
	p, err := cissim.WriteEnvFile(t.TempDir(), sim.Env())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFile writes s to dir/name and returns the path.
func writeFile(t testing.TB, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a cis-proxy run in-process by run.
type proc struct {
	args    []string
	url     string // http://127.0.0.1:port
	metrics string // host:port, or ""
	log     *logtest.Buffer
	hup     chan os.Signal
	cancel  context.CancelFunc
	done    chan int
	code    int
	stopped bool
}

// baseArgs are the flags every started proxy gets: loopback addresses
// picked by the system, no agent.
func baseArgs(env, upstream string) []string {
	return []string{"--env", env, "--upstream", upstream, "--listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0", "--agent-url", "none"}
}

// start runs cis-proxy with args until it is ready; the test fails if it
// exits first. It is stopped when the test ends, and must exit 0.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{args: args, log: &logtest.Buffer{}, hup: make(chan os.Signal, 1), cancel: cancel, done: make(chan int, 1)}
	ready := make(chan Addrs, 1)
	go func() { p.done <- run(ctx, args, p.log, p.hup, func(a Addrs) { ready <- a }) }()
	t.Cleanup(func() {
		if p.stopped {
			return
		}
		if code := p.stop(t); code != 0 {
			t.Errorf("exit %d after cancel; log:\n%s", code, p.log)
		}
	})
	select {
	case a := <-ready:
		p.url, p.metrics = a.URL, a.Metrics
		return p
	case code := <-p.done:
		p.stopped, p.code = true, code
		t.Fatalf("cis-proxy exited %d before it was ready; log:\n%s", code, p.log)
	case <-time.After(waitFor):
		t.Fatalf("cis-proxy not ready after %s; log:\n%s", waitFor, p.log)
	}
	return nil
}

// stop cancels the proxy's context (SIGINT, SIGTERM) and returns its exit
// status once run has returned.
func (p *proc) stop(t testing.TB) int {
	t.Helper()
	if p.stopped {
		return p.code
	}
	p.cancel()
	select {
	case p.code = <-p.done:
	case <-time.After(waitFor):
		t.Fatalf("cis-proxy still running %s after cancel; log:\n%s", waitFor, p.log)
	}
	p.stopped = true
	return p.code
}

// reload sends SIGHUP.
func (p *proc) reload() { p.hup <- syscall.SIGHUP }

// waitLog waits until the log has a line containing every one of want,
// and returns that line.
func (p *proc) waitLog(t testing.TB, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		for line := range strings.Lines(p.log.String()) {
			if containsAll(line, want...) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q after %s; log:\n%s", want, waitFor, p.log)
		}
		time.Sleep(5 * time.Millisecond) // polling the log, not waiting out a race
	}
}

func containsAll(s string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// newClient is a cookie-keeping client that does not follow redirects.
func newClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: waitFor,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs c in through the proxy at base as uid in roleID, posting the
// ticket in X-CIS-Ticket as a thick client does, and returns the session
// cookie's value.
func login(t testing.TB, sim *cistest.Server, c *http.Client, base, uid, roleID string) string {
	t.Helper()
	resp := proxytest.Login(t, c, base+"/cis/login", sim.MustLogin(t, uid, roleID))
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	t.Fatalf("login %s: no %s cookie in %v", uid, cookieName, resp.Cookies())
	return ""
}

// do sends method to u with the headers h and returns the status and body.
func do(t testing.TB, c *http.Client, method, u string, h map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get is do with GET and no headers.
func get(t testing.TB, c *http.Client, u string) (int, string) {
	t.Helper()
	return do(t, c, http.MethodGet, u, nil)
}

// withCookie is do with only the session cookie value v, as another
// instance of the fleet would receive it.
func withCookie(t testing.TB, method, u, v string, h map[string]string) (int, string) {
	t.Helper()
	hh := map[string]string{"Cookie": cookieName + "=" + v}
	for k, x := range h {
		hh[k] = x
	}
	return do(t, &http.Client{Timeout: waitFor, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, method, u, hh)
}
