package cissim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"

	"github.com/opencis/cisauth/cis"
)

// TestMemoryPerSession holds 100,000 live sessions and checks the heap
// they take stays small (the limit guards against a regression to, say,
// storing tickets as strings plus per-session maps).
func TestMemoryPerSession(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 100_000
	s := newTestSim(t, nil)
	users := s.Users()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		u := &users[i%len(users)]
		if _, err := s.CreateSession(u.UID, u.Roles[0].ID, cis.ModeLive); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d live sessions: %.0f heap bytes/session", n, per)
	if per > 160 {
		t.Fatalf("%.0f bytes/session, want ≤ 160", per)
	}
	if got := len(s.Sessions()); got != n {
		t.Fatalf("%d sessions listed", got)
	}
	runtime.KeepAlive(s)
}

func benchSim(b *testing.B) (*testSim, string) {
	s := newTestSim(b, nil)
	bob := DemoUsers()[1] // eight role blocks
	tk, err := s.CreateSession(bob.UID, bob.Roles[3].ID, cis.ModeLive)
	if err != nil {
		b.Fatal(err)
	}
	return s, "/saml/RoleAssertion?token=" + url.QueryEscape(tk.Reveal())
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler rather than a recorder.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkRoleAssertion serves RoleAssertion in-process for a user with
// eight roles; BenchmarkRoleAssertionBaseline writes a fixed body of the
// same size through the same kind of writer, for comparison.
func BenchmarkRoleAssertion(b *testing.B) {
	s, target := benchSim(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", target, nil)
		w := &discardWriter{h: http.Header{}}
		iters := 0
		for pb.Next() {
			clear(w.h)
			s.ServeHTTP(w, r)
			iters++
		}
		if iters > 0 && w.n < 4000*iters {
			b.Errorf("%d bytes for %d requests", w.n, iters)
		}
	})
}

func BenchmarkRoleAssertionBaseline(b *testing.B) {
	s, target := benchSim(b)
	rec := s.do("GET", target, "")
	body := rec.Body.Bytes()
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeBody(w, http.StatusOK, "text/xml; charset=utf-8", body)
	})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", target, nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}
