package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/opencis/cisauth/internal/proxy"
)

// discardWriter is a ResponseWriter that keeps the status and drops the
// body, reused across iterations so that the benchmarks count the
// proxy's allocations, not a recorder's.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) reset()                      { clear(w.h); w.code = http.StatusOK }

// BenchmarkServeHTTP is the proxy's own cost per request, for regressions:
// one GET with a live session through Proxy.ServeHTTP (path checks,
// cross-origin check, rules, the middleware's session lookup, the header
// rewrite, the ReverseProxy) to an httptest upstream on loopback, against
// the bare peer in the same run: an httputil.ReverseProxy with the same
// transport (idle pool) and buffer pool that only checks that the cookie
// is present. The difference of the two is what cis-proxy adds; the
// loopback round trip and the upstream's work (in this process) are in
// both. bare-nopool is the peer without the buffer pool, as ReverseProxy
// comes: a 32 KiB buffer allocated per response. The load figures are
// BenchmarkProxyWrk's (internal/proxy/proxybench).
func BenchmarkServeHTTP(b *testing.B) {
	up := &uidCounter{uid: alice}
	upSrv := httptest.NewServer(up)
	b.Cleanup(upSrv.Close)
	benchProxies(b, upSrv.URL, func() http.RoundTripper { return proxy.NewTransport(nil) }, &up.right)
}

// BenchmarkServeHTTPInMemory is BenchmarkServeHTTP with the upstream a
// RoundTripper in memory: no network, no upstream server, so the figures
// are the proxies' own work alone and the difference stands out of the
// noise of a shared machine.
func BenchmarkServeHTTPInMemory(b *testing.B) {
	up := &cannedUpstream{uid: alice, body: bytes.Repeat([]byte("x"), 1024)}
	benchProxies(b, "http://upstream.invalid", func() http.RoundTripper { return up }, &up.right)
}

// cannedUpstream is an upstream in memory: it answers every request with
// body and counts those that carried X-CIS-UID uid.
type cannedUpstream struct {
	uid   string
	body  []byte
	right atomic.Int64
}

func (u *cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if v := r.Header.Values(proxy.HeaderUID); len(v) == 1 && v[0] == u.uid {
		u.right.Add(1)
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:          io.NopCloser(bytes.NewReader(u.body)),
		ContentLength: int64(len(u.body)),
		Request:       r,
	}, nil
}

// benchProxies runs cis-proxy, the bare peer and the peer without a
// buffer pool against upstream through the transports newTransport makes;
// right counts the requests the upstream saw with the session's
// X-CIS-UID.
func benchProxies(b *testing.B, upstream string, newTransport func() http.RoundTripper, right *atomic.Int64) {
	upURL, _ := url.Parse(upstream)
	rg := newRig(b, upstream, nil, func(c *proxy.Config) { c.Transport = newTransport() })
	c := client(b)
	rg.login(b, c, alice, aliceRole)
	pxURL, _ := url.Parse(rg.url)
	cookies := c.Jar.Cookies(pxURL)
	if len(cookies) != 1 {
		b.Fatalf("%d cookies after the login, want the session's", len(cookies))
	}
	cookie := cookies[0].Name + "=" + cookies[0].Value

	// The peer, with cis-proxy's transport and buffer pool; and the same
	// without the buffer pool, as httputil.ReverseProxy comes.
	bare := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(upURL) },
		Transport:  newTransport(),
		BufferPool: proxy.NewBufferPool(),
	}
	nopool := &httputil.ReverseProxy{Rewrite: bare.Rewrite, Transport: newTransport()}
	name := cookies[0].Name
	cookieCheck := func(rp *httputil.ReverseProxy) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := r.Cookie(name); err != nil {
				http.Error(w, "no session cookie", http.StatusUnauthorized)
				return
			}
			rp.ServeHTTP(w, r)
		})
	}

	for _, bc := range []struct {
		name string
		h    http.Handler
		uids bool // the upstream must see X-CIS-UID
	}{{"cis-proxy", rg.px, true}, {"bare", cookieCheck(bare), false}, {"bare-nopool", cookieCheck(nopool), false}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, rg.url+"/app/records?id=1", nil)
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Accept", "text/html")
			req.Header.Set("User-Agent", "bench")
			w := &discardWriter{h: http.Header{}}
			before, n := right.Load(), int64(0)
			b.ReportAllocs()
			for b.Loop() {
				n++
				w.reset()
				bc.h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
			b.StopTimer()
			if got := right.Load() - before; bc.uids && got != n {
				b.Fatalf("the upstream saw X-CIS-UID on %d of %d requests", got, n)
			}
		})
	}
}
