// Package browsertest gives tests a real headless Chromium (Debian's
// chromium package, driven by github.com/chromedp/chromedp): New starts a
// fresh browser for one test, a Pool shares one browser among a package's
// tests (each test in a browser context of its own), Do and Run drive it
// with a bound on every step, and the Browser records what the pages did
// — every request the browser sent (URL, method, Referer) and every
// console message, exception and Content-Security-Policy report — so tests
// can check that no ticket reached a URL and that no page broke its CSP.
//
// Outside `make test` a test that needs Chromium is skipped with a message
// saying how to install it; under `make test` (CISAUTH_MAKE_TEST=1) a
// missing Chromium fails the test, so a broken set-up cannot pass CI
// silently.
//
// Each browser runs with its own fresh profile directory and the flags
// that keep Chromium quiet on a closed network (no first-run, background
// networking, component updates, sync or QUIC), headless without a GPU,
// and without the sandbox when run as root. Waits are chromedp's
// wait-for conditions; nothing here sleeps.
//
// It is for tests only.
package browsertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Environment variables.
const (
	EnvMakeTest = "CISAUTH_MAKE_TEST" // "1" under make test: no skipping
	EnvChromium = "CISAUTH_CHROMIUM"  // path of the Chromium binary, if not DefaultChromium
)

// DefaultChromium is where Debian's chromium package puts the browser.
const DefaultChromium = "/usr/bin/chromium"

// Bounds on the waits: a start that hangs, or a condition that never comes,
// fails the test instead of blocking the suite.
const (
	// StartTimeout bounds the browser's start.
	StartTimeout = 60 * time.Second
	// StepTimeout bounds each Do or Run.
	StepTimeout = 30 * time.Second
)

// Chromium returns the path of the Chromium binary. Without one the test
// is skipped, or fails under make test.
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		path = DefaultChromium
	}
	if _, err := exec.LookPath(path); err == nil {
		return path
	}
	if os.Getenv(EnvMakeTest) == "1" {
		t.Fatalf("headless Chromium required under make test: %s not found (make deps installs Debian's chromium)", path)
		return ""
	}
	t.Skipf("no Chromium at %s; run `make test` (it installs Debian's chromium), or `apt-get install --no-install-recommends chromium`, or set %s", path, EnvChromium)
	return ""
}

// Options configures a browser.
type Options struct {
	// TrustCerts are HTTPS server certificates the browser accepts though
	// no CA it knows issued them (by their public keys:
	// --ignore-certificate-errors-spki-list), e.g. an httptest TLS server's
	// Certificate(). Every other certificate error still fails.
	TrustCerts []*x509.Certificate
}

// Request is a request the browser sent.
type Request struct {
	Method, URL, Referer string
	// Type is what the page loaded it as: Document, Script, Fetch, …
	Type string
}

// Message is a console message, exception or browser log entry of a page
// (CSP violations, failed loads, console.error …).
type Message struct {
	// Source is "console", "exception" or the browser log's source
	// ("security", "network", "javascript", …).
	Source string
	// Level is the severity ("error", "warning", "info", …).
	Level string
	Text  string
}

// Browser is a tab of a headless Chromium in a browser context of its own
// (its own cookies, storage and cache, like a fresh profile), for one
// test. Its methods must be called from the test's goroutine, except
// Requests and Messages.
type Browser struct {
	t   testing.TB
	ctx context.Context // the tab

	mu       sync.Mutex
	requests []Request
	messages []Message
}

// New starts a headless Chromium of the test's own, with a fresh profile
// directory, and returns a tab in it; the browser stops when the test
// ends. Start it after the servers it will visit, so that it stops before
// them. A package with several browser tests saves a browser start per
// test with a Pool.
func New(t testing.TB, opts Options) *Browser {
	t.Helper()
	c, err := startChromium(Chromium(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c.tab(t)
}

// Pool shares one Chromium per Options among a package's tests: each
// test's Browser is a tab in a browser context of its own, so tests see
// nothing of each other's cookies, storage or cache, and only the first
// pays for the browser's start. Declare one in the test package and close
// it from TestMain after the tests:
//
//	var browsers browsertest.Pool
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		browsers.Close()
//		os.Exit(code)
//	}
//
// The zero Pool is ready to use and safe for concurrent use.
type Pool struct {
	mu       sync.Mutex
	browsers map[string]*chromium
}

// New returns a tab in a fresh browser context of the pool's Chromium for
// opts (started now if it is not running), closed when the test ends.
func (p *Pool) New(t testing.TB, opts Options) *Browser {
	t.Helper()
	path := Chromium(t)
	key := path + "\x00" + spkiList(opts.TrustCerts)
	p.mu.Lock()
	c := p.browsers[key]
	if c == nil {
		var err error
		if c, err = startChromium(path, opts); err != nil {
			p.mu.Unlock()
			t.Fatal(err)
		}
		if p.browsers == nil {
			p.browsers = make(map[string]*chromium)
		}
		p.browsers[key] = c
	}
	p.mu.Unlock()
	return c.tab(t)
}

// Close stops the pool's browsers.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.browsers {
		c.stop()
		delete(p.browsers, k)
	}
}

// chromium is a running browser.
type chromium struct {
	root        context.Context // the first tab: holds the browser
	cancelAlloc context.CancelFunc
	cancelRoot  context.CancelFunc
	out         *boundedBuffer
}

// startChromium starts the browser at path and waits, at most
// StartTimeout, until it answers.
func startChromium(path string, opts Options) (*chromium, error) {
	out := &boundedBuffer{max: 64 << 10}
	allocOpts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("no-pings", true),
		chromedp.CombinedOutput(out),
		// No D-Bus: there is none on a server, and Chromium's attempts to
		// reach one slow its start by seconds.
		chromedp.Env("DBUS_SESSION_BUS_ADDRESS=disabled:"),
	)
	if os.Geteuid() == 0 {
		allocOpts = append(allocOpts, chromedp.NoSandbox)
	}
	if len(opts.TrustCerts) > 0 {
		allocOpts = append(allocOpts, chromedp.Flag("ignore-certificate-errors-spki-list", spkiList(opts.TrustCerts)))
	}
	// No user-data-dir flag: chromedp then makes a fresh temporary profile
	// directory for this browser and removes it when the browser stops.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	c := &chromium{root: root, cancelAlloc: cancelAlloc, cancelRoot: cancelRoot, out: out}
	// The first action starts the browser; it must run on the root's own
	// context (a timeout there would stop the browser later), so the bound
	// is a watchdog that stops the allocator.
	if err := bounded(StartTimeout, cancelAlloc, func() error { return chromedp.Do(root) }); err != nil {
		c.stop()
		return nil, fmt.Errorf("browsertest: start Chromium: %w\n%s", err, out.String())
	}
	return c, nil
}

// stop stops the browser and waits for it to exit.
func (c *chromium) stop() {
	c.cancelRoot()
	c.cancelAlloc()
}

// tab opens a tab in a new browser context, closed (and the context
// disposed) when the test ends.
func (c *chromium) tab(t testing.TB) *Browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(c.root, chromedp.WithNewBrowserContext())
	b := &Browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		if t.Failed() && c.out.Len() > 0 {
			t.Logf("browsertest: Chromium's output:\n%s", c.out.String())
		}
	})
	if err := bounded(StepTimeout, cancel, func() error { return chromedp.Listen(ctx, b.record) }); err != nil {
		t.Fatalf("browsertest: open a tab: %v", err)
	}
	return b
}

// bounded runs f and waits at most d for it; on timeout it calls stop (which
// must make f return) and reports the timeout.
func bounded(d time.Duration, stop func(), f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		stop()
		<-done
		return fmt.Errorf("no answer within %v", d)
	}
}

// spkiList is the base64 SHA-256 of each certificate's public key, as
// --ignore-certificate-errors-spki-list takes them.
func spkiList(certs []*x509.Certificate) string {
	hashes := make([]string, len(certs))
	for i, c := range certs {
		h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		hashes[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return strings.Join(hashes, ",")
}

// record keeps the events a test may ask about. It runs on chromedp's
// reading goroutine: it only appends.
func (b *Browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request == nil {
			return
		}
		r := Request{Method: ev.Request.Method, URL: ev.Request.URL, Type: string(ev.Type)}
		for k, v := range ev.Request.Headers {
			if strings.EqualFold(k, "Referer") {
				r.Referer = fmt.Sprint(v)
			}
		}
		b.requests = append(b.requests, r)
	case *log.EventEntryAdded:
		if ev.Entry != nil {
			b.messages = append(b.messages, Message{Source: string(ev.Entry.Source), Level: string(ev.Entry.Level), Text: ev.Entry.Text})
		}
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a == nil {
				continue
			}
			if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		b.messages = append(b.messages, Message{Source: "console", Level: string(ev.Type), Text: strings.Join(parts, " ")})
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			b.messages = append(b.messages, Message{Source: "exception", Level: "error", Text: text})
		}
	}
}

// Context returns the tab's chromedp context, for chromedp calls the
// helpers do not cover. Bound them yourself (context.WithTimeout).
func (b *Browser) Context() context.Context { return b.ctx }

// Do runs the steps, each Do bounded by StepTimeout, and fails the test
// on an error, showing where the browser was and what the page said.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	Run(b, chromedp.Steps(steps...))
}

// Run runs one action on b, bounded by StepTimeout, and returns its value;
// it fails the test on an error, showing where the browser was and what
// the page said.
func Run[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v\n%s", err, b.describe())
	}
	return v
}

// describe says where the browser is and what its page shows, for a
// failure message.
func (b *Browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		text = "(page text unavailable: " + err.Error() + ")"
	}
	if len(text) > 2000 {
		text = text[:2000] + "…"
	}
	var msgs strings.Builder
	for _, m := range b.Messages() {
		fmt.Fprintf(&msgs, "  [%s %s] %s\n", m.Source, m.Level, m.Text)
	}
	return fmt.Sprintf("at %s, the page says:\n%s\nconsole:\n%s", loc, text, msgs.String())
}

// Requests returns every request the browser has sent so far.
func (b *Browser) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Request(nil), b.requests...)
}

// Messages returns every console message, exception and browser log entry
// so far.
func (b *Browser) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}

// CSPViolations returns the messages in which the browser refused
// something because of a Content-Security-Policy.
func (b *Browser) CSPViolations() []Message {
	var out []Message
	for _, m := range b.Messages() {
		if strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
			out = append(out, m)
		}
	}
	return out
}

// boundedBuffer keeps the first max bytes written to it (Chromium's
// output, for failure messages); it is safe for concurrent use.
type boundedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (w *boundedBuffer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Len()
}

func (w *boundedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
