package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/proxytest"
	"github.com/opencis/cisauth/internal/redistest"
	"github.com/opencis/cisauth/middleware"
)

// logoutWithin is the bound: a logout on one instance ends the
// session on every other within a second.
const logoutWithin = time.Second

// fleetArgs are the flags of one instance of a fleet on the test Redis.
func fleetArgs(t *testing.T, sim *cistest.Server, upstream, prefix string) []string {
	t.Helper()
	return append(baseArgs(envFile(t, sim), upstream), "--redis", redistest.URL(t), "--redis-prefix", prefix)
}

// asUser fetches path on the instance at base with the session cookie v and
// returns the status and, for 200, the uid the upstream was told.
func asUser(t *testing.T, base, v, path string) (int, string) {
	t.Helper()
	status, body := withCookie(t, http.MethodGet, base+path, v, nil)
	if status != http.StatusOK {
		return status, ""
	}
	return status, proxytest.Saw(t, body).Header.Get("X-CIS-UID")
}

// Two instances on one Redis, no --cookie-keys: they share the key made in
// Redis, so a session opened on A works on B; a logout on A ends it on B
// within a second; A restarted loses no session.
func TestFleet(t *testing.T) {
	sim := cistest.NewServer(t)
	up := proxytest.EchoUpstream(t)
	prefix := redistest.Prefix(t)
	args := fleetArgs(t, sim, up.URL, prefix)
	a := start(t, args...)
	b := start(t, args...)
	a.waitLog(t, "cis-proxy serving", "redis=true")

	// The key the fleet shares is in Redis.
	rc := redistest.Client(t)
	if n, err := rc.Exists(context.Background(), prefix+middleware.SharedCookieKeysName).Result(); err != nil || n != 1 {
		t.Fatalf("shared cookie key in Redis: %d, %v", n, err)
	}

	v := login(t, sim, newClient(t), a.url, alice, aliceRole)
	if status, uid := asUser(t, b.url, v, "/records"); status != http.StatusOK || uid != alice {
		t.Fatalf("A's session on B: %d, uid %q", status, uid)
	}

	// A logout on A, then B polled: it must refuse the session within
	// logoutWithin of the logout's answer.
	if status, body := withCookie(t, http.MethodPost, a.url+"/cis/logout", v, map[string]string{"Sec-Fetch-Site": "same-origin"}); status != http.StatusOK {
		t.Fatalf("logout on A: %d %s", status, body)
	}
	deadline := time.Now().Add(logoutWithin)
	for {
		status, _ := asUser(t, b.url, v, "/records")
		if status == http.StatusUnauthorized {
			break
		}
		if status != http.StatusOK {
			t.Fatalf("B after the logout: %d, want 200 then 401", status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still serves the session %s after the logout on A", logoutWithin)
		}
	}
	if status, _ := asUser(t, a.url, v, "/records"); status != http.StatusUnauthorized {
		t.Errorf("A after its own logout: %d", status)
	}

	// A restarted with the same command line: a session opened before
	// works on the new A (and on B all along).
	w := login(t, sim, newClient(t), a.url, bob, bobRMM)
	if code := a.stop(t); code != 0 {
		t.Fatalf("A exit %d; log:\n%s", code, a.log)
	}
	a2 := start(t, args...)
	for _, base := range []string{a2.url, b.url} {
		if status, uid := asUser(t, base, w, "/records"); status != http.StatusOK || uid != bob {
			t.Errorf("session from before the restart at %s: %d, uid %q", base, status, uid)
		}
	}
}

// writeKeys writes a cookie keys file of one new key.
func writeKeys(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "cookie-keys", "# rotate yearly\n"+base64.StdEncoding.EncodeToString(key)+"\n")
}

// --cookie-keys FILE on a fleet: two instances with one keys file share
// sessions, and no key is made in Redis; an instance with another keys
// file does not accept their cookies.
func TestFleetCookieKeysFile(t *testing.T) {
	sim := cistest.NewServer(t)
	up := proxytest.EchoUpstream(t)
	prefix := redistest.Prefix(t)
	keys := writeKeys(t)
	args := append(fleetArgs(t, sim, up.URL, prefix), "--cookie-keys", keys)
	a := start(t, args...)
	b := start(t, args...)
	other := start(t, append(fleetArgs(t, sim, up.URL, prefix), "--cookie-keys", writeKeys(t))...)

	v := login(t, sim, newClient(t), a.url, bob, bobAdmin)
	if status, uid := asUser(t, b.url, v, "/admin/"); status != http.StatusOK || uid != bob {
		t.Errorf("A's session on B: %d, uid %q", status, uid)
	}
	if status, _ := asUser(t, other.url, v, "/admin/"); status != http.StatusUnauthorized {
		t.Errorf("A's cookie on an instance with other keys: %d, want 401", status)
	}
	rc := redistest.Client(t)
	if n, err := rc.Exists(context.Background(), prefix+middleware.SharedCookieKeysName).Result(); err != nil || n != 0 {
		t.Errorf("a cookie key made in Redis with --cookie-keys: %d, %v", n, err)
	}
}
