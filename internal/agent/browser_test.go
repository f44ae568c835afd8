package agent

// Browser tests with headless Chromium (Debian's chromium, driven by
// chromedp): a web page on an allowed origin gets the ticket once the
// person allowed it, a page on another origin does not, and the agent's
// own loopback page takes the PIN.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium for the test, with the flags it needs
// as root and on a closed network (no sandbox, no first run, no background
// networking, a fresh profile).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CISAUTH_MAKE_TEST") == "1" {
			t.Fatal("chromium is required under make test (DEB_PACKAGES installs it)")
		}
		t.Skip("chromium not installed (make deps installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int]("1")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// ticketPage is a supplier's page that asks the agent for the ticket and
// writes what it got into #result.
func ticketPage(agentURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>supplier</title><p id="result">pending</p><script>
fetch(%q).then(r => r.json()).then(j => {
  document.getElementById("result").textContent = j.ticket ? "ticket " + j.ticket : "refused " + j.error;
}).catch(e => {
  document.getElementById("result").textContent = "blocked " + e;
}).finally(() => {
  const d = document.createElement("p"); d.id = "done"; document.body.append(d);
});
</script>`, agentURL+"/ticket")
	})
}

// TestBrowserOrigins: a page on the allowed origin gets the ticket (after
// the person allows it); a page on another origin gets nothing, and the
// person is not even asked.
func TestBrowserOrigins(t *testing.T) {
	ctx := browser(t)
	allowed := httptest.NewServer(nil)
	defer allowed.Close()
	other := httptest.NewServer(nil)
	defer other.Close()
	h := newAPIHarness(t, []string{allowed.URL})
	allowed.Config.Handler = ticketPage(h.api.URL())
	other.Config.Handler = ticketPage(h.api.URL())
	_, ti := h.loginAlice()

	result := func(url string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.ID("done"))); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		res, err := chromedp.Run(tctx, chromedp.Text(chromedp.ID("result")))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		return res
	}

	// The person allows the page's origin when asked.
	asked := make(chan Question, 1)
	go func() {
		q := h.question(AskOrigin)
		h.a.Prompts().Answer(q.ID, Answer{Allow: true})
		asked <- q
	}()
	if res := result(allowed.URL); res != "ticket "+ti.Ticket.Reveal() {
		t.Fatalf("the allowed page got %q", res)
	}
	if q := <-asked; q.Origin != allowed.URL {
		t.Errorf("the person was asked about %q", q.Origin)
	}

	// Another origin (another port on loopback): no CORS answer, no ticket.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	if res := result(otherURL); !strings.HasPrefix(res, "blocked") || strings.Contains(res, ti.Ticket.Reveal()) {
		t.Fatalf("the other page got %q", res)
	}
	if qs := h.a.Prompts().Pending(); len(qs) != 0 {
		t.Errorf("the other origin made the agent ask: %+v", qs)
	}
}

// TestBrowserPINPage: the agent's loopback page, opened through its
// one-time link, shows the PIN question and logs the card in.
func TestBrowserPINPage(t *testing.T) {
	ctx := browser(t)
	h := newAPIHarness(t, nil)
	card := newFakeCard(t, h.srv, uidAlice, 0)
	h.readers.insert(readerA, card)
	h.question(AskPIN)
	link, err := h.api.UILink()
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("pin"))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(tctx, chromedp.Text(chromedp.ID("pin-text")))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tctx, chromedp.SendKeys(chromedp.ID("pin"), testPIN),
		chromedp.Click(chromedp.CSS("#pin-form button[type=submit]"))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "3 tries left") {
		t.Errorf("the page asks %q", text)
	}
	h.event(EventAuthenticated)
	if err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.ID("logout"))); err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(tctx, chromedp.Text(chromedp.ID("message")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "Logged in as Jones Alice Dr") {
		t.Errorf("the page says %q", msg)
	}
}
