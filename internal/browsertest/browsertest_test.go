package browsertest_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/opencis/cisauth/internal/browsertest"
)

// A page over HTTPS with a certificate the browser trusts by its key only,
// a script its CSP allows and an inline one it refuses: the browser loads
// the page, runs the allowed script, and the helper sees the requests and
// the refusal.
func TestBrowser(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'")
		switch r.URL.Path {
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `document.getElementById("p").textContent = "ran";`)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<!doctype html><title>x</title><p id="p">not yet</p><p id="q">inline not run</p>`+
				`<script src="/app.js" defer></script><script>document.getElementById("q").textContent = "inline ran";</script>`)
		}
	}))
	defer srv.Close()
	b := browsertest.New(t, browsertest.Options{TrustCerts: []*x509.Certificate{srv.Certificate()}})
	b.Do(chromedp.Navigate(srv.URL+"/page?x=1"), chromedp.WaitVisible(chromedp.ID("p")))
	browsertest.Run(b, chromedp.Poll[bool](`document.getElementById("p").textContent === "ran"`))
	if got := browsertest.Run(b, chromedp.Text(chromedp.ID("q"))); got != "inline not run" {
		t.Errorf("the CSP did not stop the inline script: %q", got)
	}
	var urls []string
	for _, r := range b.Requests() {
		urls = append(urls, r.Method+" "+r.URL)
	}
	all := strings.Join(urls, "\n")
	if !strings.Contains(all, "GET "+srv.URL+"/page?x=1") || !strings.Contains(all, "GET "+srv.URL+"/app.js") {
		t.Errorf("requests not recorded:\n%s", all)
	}
	if len(b.CSPViolations()) == 0 {
		t.Errorf("the refused inline script is not reported; messages: %v", b.Messages())
	}
}

// A certificate the browser was not told to trust fails the navigation.
func TestUntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><p id="p">secret</p>`)
	}))
	defer srv.Close()
	b := browsertest.New(t, browsertest.Options{})
	ctx, cancel := context.WithTimeout(b.Context(), browsertest.StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err == nil {
		t.Error("navigation to an untrusted certificate succeeded")
	}
}

// Tabs of a Pool share the browser but nothing else: a cookie one test's
// page got is not sent by another's.
func TestPoolIsolatesTests(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "who", Value: "first", Path: "/", Secure: true, HttpOnly: true})
		}
		who := "nobody"
		if c, err := r.Cookie("who"); err == nil {
			who = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><p id="who">%s</p>`, who)
	}))
	defer srv.Close()
	var pool browsertest.Pool
	defer pool.Close()
	opts := browsertest.Options{TrustCerts: []*x509.Certificate{srv.Certificate()}}
	t.Run("first", func(t *testing.T) {
		b := pool.New(t, opts)
		b.Do(chromedp.Navigate(srv.URL+"/set"), chromedp.Navigate(srv.URL+"/get"))
		if got := browsertest.Run(b, chromedp.Text(chromedp.ID("who"))); got != "first" {
			t.Errorf("the tab's own cookie: %q", got)
		}
	})
	t.Run("second", func(t *testing.T) {
		b := pool.New(t, opts)
		b.Do(chromedp.Navigate(srv.URL + "/get"))
		if got := browsertest.Run(b, chromedp.Text(chromedp.ID("who"))); got != "nobody" {
			t.Errorf("another test's cookie reached this one: %q", got)
		}
	})
}
