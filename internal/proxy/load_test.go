package proxy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencis/cisauth/internal/proxy"
	"github.com/opencis/cisauth/internal/wrktest"
)

// uidCounter is an upstream that counts the requests that arrived with the
// expected X-CIS-UID and those that did not.
type uidCounter struct {
	uid          string
	right, wrong atomic.Int64
}

func (u *uidCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Values(proxy.HeaderUID); len(v) == 1 && v[0] == u.uid {
		u.right.Add(1)
	} else {
		u.wrong.Add(1)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// TestUnderWrkLoad puts the proxy under wrk for two seconds with one live
// session: every answer wrk got is a 2xx (a 3xx, which wrk counts as good,
// would be a redirect to the login page: StatusScript counts it), no
// socket errors, every request the upstream saw carried the user's
// X-CIS-UID, and the session still works afterwards. No timing is
// asserted: the figures are BenchmarkProxyWrk's (internal/proxy/proxybench).
func TestUnderWrkLoad(t *testing.T) {
	wrk := wrktest.Path(t)
	up := &uidCounter{uid: alice}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	rg := newRig(t, upSrv.URL, nil, nil)
	c := client(t)
	rg.login(t, c, alice, aliceRole)
	u, _ := url.Parse(rg.url)
	var cookies []string
	for _, ck := range c.Jar.Cookies(u) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	if len(cookies) == 0 {
		t.Fatal("no session cookie after the login")
	}

	r, out, err := wrktest.Run(context.Background(), wrk, "-t2", "-c16", "-d2s", "--latency",
		"-s", wrktest.StatusScript(t), "-H", "Cookie: "+strings.Join(cookies, "; "), rg.url+"/app/records?id=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrk: %d requests in %v, %.0f req/s, p50 %v, p99 %v (under the race detector)", r.Requests, r.Duration, r.RequestsPerSec, r.P50, r.P99)
	if r.Requests == 0 {
		t.Fatalf("wrk completed no request:\n%s", out)
	}
	if r.Not2xx != 0 || r.Non2xx3xx != 0 {
		t.Errorf("%d answers were not 2xx (%d of them 4xx/5xx):\n%s", r.Not2xx, r.Non2xx3xx, out)
	}
	if n := r.SocketErrors(); n != 0 {
		t.Errorf("%d socket errors:\n%s", n, out)
	}
	// Requests wrk cut off at the end may have reached the upstream
	// without their answer being counted: at least as many, never fewer.
	if right, wrong := up.right.Load(), up.wrong.Load(); wrong != 0 || right < r.Requests {
		t.Errorf("upstream saw %d requests with X-CIS-UID %s and %d without it (or with another); wrk completed %d", right, alice, wrong, r.Requests)
	}

	before := up.right.Load()
	resp, body := get(t, c, rg.url+"/after", nil)
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Fatalf("after the load: %s %q, want 200 from the upstream", resp.Status, body)
	}
	if up.right.Load() <= before || up.wrong.Load() != 0 {
		t.Errorf("after the load the upstream did not see the session's X-CIS-UID")
	}
}
