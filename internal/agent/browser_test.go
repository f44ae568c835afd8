package agent

// Browser tests with headless Chromium (internal/browsertest): a web page
// on an allowed origin gets the ticket once the person allowed it, a page
// on another origin does not, and the agent's own loopback page takes the
// PIN.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opencis/cisauth/internal/browsertest"
)

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
	allowed := httptest.NewServer(nil)
	defer allowed.Close()
	other := httptest.NewServer(nil)
	defer other.Close()
	h := newAPIHarness(t, []string{allowed.URL})
	allowed.Config.Handler = ticketPage(h.api.URL())
	other.Config.Handler = ticketPage(h.api.URL())
	_, ti := h.loginAlice()
	b := browsers.New(t, browsertest.Options{})

	result := func(url string) string {
		t.Helper()
		b.Do(chromedp.Navigate(url), chromedp.WaitReady(chromedp.ID("done")))
		return browsertest.Run(b, chromedp.Text(chromedp.ID("result")))
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
	h := newAPIHarness(t, nil)
	card := newFakeCard(t, h.srv, uidAlice, 0)
	h.readers.insert(readerA, card)
	h.question(AskPIN)
	link, err := h.api.UILink()
	if err != nil {
		t.Fatal(err)
	}
	b := browsers.New(t, browsertest.Options{})
	b.Do(chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("pin")))
	if text := browsertest.Run(b, chromedp.Text(chromedp.ID("pin-text"))); !strings.Contains(text, "3 tries left") {
		t.Errorf("the page asks %q", text)
	}
	b.Do(chromedp.SendKeys(chromedp.ID("pin"), testPIN), chromedp.Click(chromedp.CSS("#pin-form button[type=submit]")))
	h.event(EventAuthenticated)
	b.Do(chromedp.WaitVisible(chromedp.ID("logout")))
	if msg := browsertest.Run(b, chromedp.Text(chromedp.ID("message"))); !strings.HasPrefix(msg, "Logged in as Jones Alice Dr") {
		t.Errorf("the page says %q", msg)
	}
	for _, m := range b.Messages() {
		if m.Level == "error" {
			t.Errorf("the page logged an error: %s: %s", m.Source, m.Text)
		}
	}
}
