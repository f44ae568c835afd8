// Package redistest gives tests the redis-server that scripts/redis.sh
// starts for `make test` (a private Unix socket, no persistence): URL finds
// it from the environment, Client connects to it, Prefix gives each test
// its own key space.
//
// Outside `make test` a test that needs Redis is skipped with a message
// saying how to bring it up; under `make test` (CISAUTH_MAKE_TEST=1) a
// missing Redis fails the test, so a broken set-up cannot pass CI silently.
//
// It is for tests only.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Environment variables.
const (
	EnvRedisURL = "CISAUTH_REDIS_URL" // written by scripts/redis.sh into DIR/env
	EnvMakeTest = "CISAUTH_MAKE_TEST" // "1" under make test: no skipping
)

// URL returns the test Redis's URL (redis://… or unix://…). Without one the
// test is skipped, or fails under make test.
func URL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvRedisURL); u != "" {
		return u
	}
	if os.Getenv(EnvMakeTest) == "1" {
		t.Fatalf("redis-server required under make test: %s is not set", EnvRedisURL)
	}
	t.Skipf("no test Redis (%s is not set); run `make test`, or `scripts/redis.sh up DIR && . DIR/env` first", EnvRedisURL)
	return ""
}

// Client returns a new client of the test Redis, closed when the test
// ends. Each call is a separate client (a separate connection pool), as
// separate instances of a fleet would have.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("redistest: %s: %v", EnvRedisURL, err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("redistest: the test Redis does not answer: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a key prefix of its own for the test; its keys are
// deleted when the test ends.
func Prefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	p := "test:" + hex.EncodeToString(b) + ":"
	c := Client(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return p
}
