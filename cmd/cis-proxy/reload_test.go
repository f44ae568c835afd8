package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/proxytest"
)

// streamUpstream echoes like echoUpstream, except /stream: it sends a first
// line, then the rest once release is closed.
func streamUpstream(t *testing.T, release <-chan struct{}) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "data: last\n\n")
			return
		}
		proxytest.Echo(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// tracer is a client that records, per request, whether its connection
// was reused.
type tracer struct {
	c      *http.Client
	mu     sync.Mutex
	reused []bool
}

func newTracer(t *testing.T) *tracer {
	c := newClient(t)
	c.Transport = &http.Transport{} // its own pool: the connections are this test's
	t.Cleanup(c.CloseIdleConnections)
	return &tracer{c: c}
}

func (tr *tracer) get(t *testing.T, u string) int {
	t.Helper()
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		tr.mu.Lock()
		tr.reused = append(tr.reused, i.Reused)
		tr.mu.Unlock()
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// newConns is how many requests since the n-th opened a connection.
func (tr *tracer) newConns(n int) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	c := 0
	for _, r := range tr.reused[n:] {
		if !r {
			c++
		}
	}
	return c
}

func (tr *tracer) requests() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.reused)
}

// waitStatus polls u until it answers want.
func (tr *tracer) waitStatus(t *testing.T, u string, want int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		got := tr.get(t, u)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d after %s, want %d", u, got, waitFor, want)
		}
	}
}

// rewrite replaces the configuration file as an editor or a deployment
// would: a new file renamed over the old.
func rewrite(t *testing.T, path, body string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".new")
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// SIGHUP puts new rules in place without a restart: a kept-alive
// connection goes on serving, a stream in flight completes under the old
// rules; a file that does not load, or whose rules do not compile, keeps
// the running rules and the log says why; a setting that needs a restart
// is logged and left as it was.
func TestReload(t *testing.T) {
	sim := cistest.NewServer(t)
	release := make(chan struct{})
	up := streamUpstream(t, release)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", "upstream: "+up.URL+"\nrules:\n  - path: /records/\n    activities: [B0264]\n")
	// The upstream in the file, so that a change to it there is seen.
	p := start(t, "--env", envFile(t, sim), "--config", cfg, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--agent-url", "none")
	p.waitLog(t, "cis-proxy serving", "rules=1")

	tr := newTracer(t)
	login(t, sim, tr.c, p.url, alice, aliceRole) // RCJ, S8000:G8000:R8003, B0264 and B0360
	if status := tr.get(t, p.url+"/records/1"); status != http.StatusOK {
		t.Fatalf("before the reload: %d", status)
	}

	// A stream in flight across the reload, on a connection of its own.
	streamClient := &http.Client{Jar: tr.c.Jar, Transport: &http.Transport{}}
	t.Cleanup(streamClient.CloseIdleConnections)
	resp, err := streamClient.Get(p.url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stream := bufio.NewReader(resp.Body)
	if line, err := stream.ReadString('\n'); err != nil || line != "data: first\n" {
		t.Fatalf("stream: %q, %v", line, err)
	}

	// The new rules refuse Alice's role both paths.
	rewrite(t, cfg, "upstream: "+up.URL+"\nrules:\n  - path: /records/\n    job_roles: [R8000]\n  - path: /stream\n    orgs: [RMM]\n")
	before := tr.requests()
	p.reload()
	tr.waitStatus(t, p.url+"/records/1", http.StatusForbidden)
	p.waitLog(t, "reloaded", "rules=2")
	if n := tr.newConns(before); n != 0 {
		t.Errorf("%d new connections across the reload; the kept-alive one should have served", n)
	}
	close(release)
	rest, err := io.ReadAll(stream)
	if err != nil || !strings.HasSuffix(string(rest), "data: last\n\n") {
		t.Errorf("the stream in flight: %q, %v", rest, err)
	}
	if status, _ := get(t, streamClient, p.url+"/stream"); status != http.StatusForbidden {
		t.Errorf("a new stream under the new rules: %d", status)
	}

	// Files that do not load keep the running rules (were they dropped,
	// /records/1 would answer 200), and the log says why.
	for _, bad := range []struct{ body, why string }{
		{"upstream: " + up.URL + "\nrules: [\n", "yaml:"},
		{"upstream: " + up.URL + "\nrules:\n  - path: /records/\n    activities: [B-264]\n", `rules[0] (path \"/records/\"): activities`},
		{"upstream: " + up.URL + "\nrules:\n  - path: /records/\n    job_role: [R8000]\n", "field job_role not found"},
		{"upstream: " + up.URL + "\ncis2: on\n", `--cis2 \"on\"`},
	} {
		rewrite(t, cfg, bad.body)
		p.reload()
		line := p.waitLog(t, "reload failed: keeping the running configuration", bad.why)
		if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "config="+cfg) {
			t.Errorf("log line %q", line)
		}
		if status := tr.get(t, p.url+"/records/1"); status != http.StatusForbidden {
			t.Fatalf("after a bad file (%s): %d, want the running rules' 403", bad.why, status)
		}
	}

	// A restart-only setting changed beside new rules: the rules apply,
	// the upstream stays.
	// (--listen is given as a flag: the file's listen is no change.)
	rewrite(t, cfg, "upstream: http://127.0.0.1:1\nlisten: 127.0.0.1:1\nrevalidate: 30s\nrules:\n  - path: /records/\n    orgs: [RCJ]\n")
	p.reload()
	line := p.waitLog(t, "change only with a restart", "upstream")
	if !strings.Contains(line, `settings="[upstream revalidate]"`) || !strings.Contains(line, "level=WARN") {
		t.Errorf("log line %q", line)
	}
	tr.waitStatus(t, p.url+"/records/1", http.StatusOK) // the echo upstream, not 127.0.0.1:1
	if n := tr.newConns(before); n != 0 {
		t.Errorf("%d new connections across the reloads", n)
	}
}

// SIGHUP without --config: nothing to reload, and the log says so.
func TestReloadWithoutConfig(t *testing.T) {
	sim := cistest.NewServer(t)
	p := start(t, baseArgs(envFile(t, sim), proxytest.EchoUpstream(t).URL)...)
	p.reload()
	p.waitLog(t, "no --config to reload")
}
