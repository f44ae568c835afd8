// Command proxybench is the rest of cis-proxy's load benchmark
// (BenchmarkProxyWrk in this directory, scripts/proxy-bench.sh): the
// application behind the proxy and the peer the proxy is measured against,
// each run as a process of its own.
//
//	proxybench upstream [--listen ADDR] [--delay 1ms] [--body-size 1024]
//	proxybench bare --upstream URL --cookie NAME [--buffer-pool] [--listen ADDR]
//
// upstream is the application: every request takes --delay (time.Sleep:
// the time a real application spends on a page, with the CPU free for
// others) and is answered with --body-size bytes. It counts the requests
// it served and those that carried X-CIS-UID, and answers GET CountsPath
// with both as JSON (that request is not counted).
//
// bare is the least a Go reverse proxy in front of a session-protected
// application can do, as issue 10 defines the peer: a plain
// httputil.ReverseProxy with a tuned idle pool (cis-proxy's transport,
// which keeps 1,024 connections to the upstream) that only checks that
// the request has a cookie called --cookie (401 otherwise) — no session
// lookup, no header rewrite, no X-Forwarded-* headers. --buffer-pool also
// gives it cis-proxy's pool of copy buffers (without one ReverseProxy
// allocates 32 KiB per response): a stricter peer, which leaves only
// cis-proxy's own work between the two.
//
// Both print "listening http://HOST:PORT" on stdout once they accept
// connections, and stop on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencis/cisauth/internal/proxy"
)

// CountsPath is where upstream answers with its counts.
const CountsPath = "/proxybench/counts"

// Counts is upstream's answer at CountsPath.
type Counts struct {
	Requests int64 `json:"requests"` // requests served, CountsPath's excepted
	WithUID  int64 `json:"with_uid"` // of those, how many carried X-CIS-UID
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: proxybench upstream|bare [flags]")
	}
	fs := flag.NewFlagSet("proxybench "+args[0], flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "`address` to serve on")
	var h http.Handler
	switch args[0] {
	case "upstream":
		delay := fs.Duration("delay", time.Millisecond, "time each request takes")
		size := fs.Int("body-size", 1024, "bytes in each answer")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		h = newUpstream(*delay, *size)
	case "bare":
		up := fs.String("upstream", "", "the application's `URL`")
		cookie := fs.String("cookie", "", "the `name` of the cookie a request must carry")
		pool := fs.Bool("buffer-pool", false, "copy responses through cis-proxy's buffer pool (proxy.NewBufferPool)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		u, err := url.Parse(*up)
		if err != nil || u.Host == "" || *cookie == "" {
			return errors.New("bare: --upstream URL and --cookie NAME are required")
		}
		h = newBare(u, *cookie, *pool)
	default:
		return fmt.Errorf("unknown command %q (want upstream or bare)", args[0])
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // wrk cuts connections at the end of a run
	}
	fmt.Fprintf(stdout, "listening http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// upstream is the application behind the proxies.
type upstream struct {
	delay   time.Duration
	body    []byte
	length  string
	counts  atomic.Int64
	withUID atomic.Int64
}

func newUpstream(delay time.Duration, size int) *upstream {
	return &upstream{delay: delay, body: []byte(strings.Repeat("x", max(size, 0))), length: strconv.Itoa(max(size, 0))}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == CountsPath {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Counts{Requests: u.counts.Load(), WithUID: u.withUID.Load()})
		return
	}
	u.counts.Add(1)
	if r.Header.Get("X-Cis-Uid") != "" {
		u.withUID.Add(1)
	}
	time.Sleep(u.delay) // the application's work: the point of the benchmark, not a synchronisation
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{u.length}
	_, _ = w.Write(u.body)
}

// newBare returns the peer: a ReverseProxy to up that refuses requests
// without the cookie called name, with cis-proxy's buffer pool if pool.
func newBare(up *url.URL, name string, pool bool) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(up) },
		Transport: proxy.NewTransport(nil),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	if pool {
		rp.BufferPool = proxy.NewBufferPool()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie(name); err != nil {
			http.Error(w, "no session cookie", http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	})
}
