package samltest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Browser is an HTTP client with cookies that follows redirects and posts
// the auto-posting forms of the SAML HTTP-POST binding as a browser's
// script would (with the Origin of the page the form came from), and
// records every request it sent and every form it posted. Its methods
// fail the test on a transport error.
type Browser struct {
	// Client sends the requests; tests may change it (CheckRedirect) or
	// use it directly.
	Client *http.Client

	t      testing.TB
	mu     sync.Mutex
	sent   []*url.URL
	posted []Form
}

// recordingTransport is http.DefaultTransport, noting each request's URL.
type recordingTransport struct{ b *Browser }

func (rt recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.b.mu.Lock()
	rt.b.sent = append(rt.b.sent, r.URL)
	rt.b.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// NewBrowser returns a Browser with an empty cookie jar.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t}
	b.Client = &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: recordingTransport{b}}
	return b
}

// Requests returns the URLs of every request sent so far.
func (b *Browser) Requests() []*url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*url.URL(nil), b.sent...)
}

// Forget forgets the requests and forms so far.
func (b *Browser) Forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent, b.posted = nil, nil
}

// LastPosted returns the last auto-posted form sent to action.
func (b *Browser) LastPosted(action string) (Form, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.posted) - 1; i >= 0; i-- {
		if b.posted[i].Action == action {
			return b.posted[i], true
		}
	}
	return Form{}, false
}

// Get fetches u, following redirects and auto-posting forms, and returns
// the last response with its body read.
func (b *Browser) Get(u string) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.Client.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Follow(resp)
}

// Post posts form to u from a page of origin, then follows as Get does.
func (b *Browser) Post(u, origin string, form url.Values) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.Client.Do(b.formRequest(u, origin, form))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.Follow(resp)
}

// Follow reads resp and, while it is a 200 page with an auto-posting form
// (FindForm), posts that form from the page's origin; it returns the last
// response with its body read. More than ten forms in a row fail the test.
func (b *Browser) Follow(resp *http.Response) (*http.Response, []byte) {
	b.t.Helper()
	for range 10 {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.t.Fatal(err)
		}
		f, ok := FindForm(body)
		if resp.StatusCode != http.StatusOK || !ok {
			return resp, body
		}
		b.mu.Lock()
		b.posted = append(b.posted, f)
		b.mu.Unlock()
		page := resp.Request.URL
		if resp, err = b.Client.Do(b.formRequest(f.Action, page.Scheme+"://"+page.Host, f.Values)); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Fatal("too many auto-posted forms")
	return nil, nil
}

// formRequest is a form POST to u from a page of origin.
func (b *Browser) formRequest(u, origin string, form url.Values) *http.Request {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	return req
}

// Form is a form found in a page: where it posts, and its hidden fields.
type Form struct {
	Action string
	Values url.Values
}

var (
	autoPostForm = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// FindForm finds the auto-posting form of the SAML HTTP-POST binding (as
// the bridge and samlsp write it: <form method="post" action="…">) in body.
func FindForm(body []byte) (Form, bool) { return FindFormBy(autoPostForm, body) }

// FindFormBy finds the form whose start tag open matches, with the action
// as open's first submatch; Values are all the hidden inputs in body.
// Attribute values are HTML-unescaped.
func FindFormBy(open *regexp.Regexp, body []byte) (Form, bool) {
	m := open.FindSubmatch(body)
	if m == nil {
		return Form{}, false
	}
	f := Form{Action: html.UnescapeString(string(m[1])), Values: url.Values{}}
	for _, in := range hiddenInput.FindAllSubmatch(body, -1) {
		f.Values.Add(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	return f, true
}
