// Package browsertest gives tests a real headless Chromium (Debian's
// chromium package, driven by github.com/chromedp/chromedp): New starts a
// fresh browser for one test, Do and Run drive it with a bound on every
// step, and the Browser records what the pages did — every request the
// browser sent (URL, method, Referer) and every console message, exception
// and Content-Security-Policy report — so tests can check that no ticket
// reached a URL and that no page broke its own CSP.
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

// Browser is a headless Chromium with one tab, for one test. Its methods
// must be called from the test's goroutine, except Requests and Messages.
type Browser struct {
	t   testing.TB
	ctx context.Context // the tab

	mu       sync.Mutex
	requests []Request
	messages []Message
}

// New starts a fresh headless Chromium for the test, with a profile
// directory of its own; it is closed when the test ends. Start it after
// the servers it will visit, so that it stops before them.
func New(t testing.TB, opts Options) *Browser {
	t.Helper()
	path := Chromium(t)
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
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &Browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		if t.Failed() && out.Len() > 0 {
			t.Logf("browsertest: Chromium's output:\n%s", out.String())
		}
	})

	// The first action starts the browser; it must run on the tab's own
	// context (a timeout there would stop the browser later), so the
	// bound is a watchdog that stops the allocator.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Listen(ctx, b.record)
	}()
	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("browsertest: start Chromium: %v\n%s", err, out.String())
		}
	case <-timer.C:
		cancelAlloc()
		t.Fatalf("browsertest: Chromium did not start within %v\n%s", StartTimeout, out.String())
	}
	return b
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
