package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPrefix starts every key and the event channel of a
// RedisStore unless its config names another.
const DefaultRedisPrefix = "cisauth:"

// RedisStoreConfig configures a RedisStore.
type RedisStoreConfig struct {
	// Client talks to Redis (required): a *redis.Client, or a cluster or
	// failover client. The caller owns it and closes it after the store.
	Client redis.UniversalClient
	// Prefix starts every key and the event channel (DefaultRedisPrefix if
	// empty). Instances of one application share it; applications sharing
	// a Redis need different ones.
	Prefix string
	// MaxLocalSessions bounds the sessions cached in this instance
	// (DefaultMaxSessions if zero); past it, requests are answered from
	// Redis.
	MaxLocalSessions int
	// Logger receives a record when the event subscription is lost or
	// restored (nil discards them).
	Logger *slog.Logger
}

// RedisStore keeps sessions in Redis for a fleet of instances: sessions,
// the ticket index and the validation cache are shared, so any instance
// serves any session and a restarted instance loses none. Each instance
// also caches the sessions it has seen, so an authenticated request makes
// no round trip to Redis; a logout, a revalidation failure or a role change
// on one instance is published on a Redis channel and every other instance
// drops its copy at once (within the publish latency, milliseconds).
//
// While the subscription to that channel is down (Redis restarting, a
// network cut) an instance cannot hear the others, so it stops trusting its
// cache: every request is checked against Redis, and when the subscription
// is back the whole cache is dropped, since events may have been missed. A
// heartbeat on the subscription notices a dead connection within about a
// second. If Redis cannot be reached at all, requests with a session fail
// with 503 (never a silent pass).
//
// Close it when done (it runs the subscription until then). It is safe for
// concurrent use.
type RedisStore struct {
	c storeCore
	r redisBackend
}

// Heartbeat of the event subscription: a ping when nothing arrived for
// redisHeartbeat, and the subscription counts as lost after
// redisMissedBeats silent intervals.
const (
	redisHeartbeat   = 400 * time.Millisecond
	redisMissedBeats = 2
	redisBackoffMin  = 50 * time.Millisecond
	redisBackoffMax  = 2 * time.Second
)

// NewRedisStore checks cfg and starts listening to the other instances.
func NewRedisStore(cfg RedisStoreConfig) (*RedisStore, error) {
	if cfg.Client == nil {
		return nil, errors.New("middleware: RedisStoreConfig.Client is nil")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultRedisPrefix
	}
	if cfg.MaxLocalSessions <= 0 {
		cfg.MaxLocalSessions = DefaultMaxSessions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var inst [8]byte
	if _, err := rand.Read(inst[:]); err != nil {
		return nil, err
	}
	s := &RedisStore{}
	s.c.cache.init(cfg.MaxLocalSessions)
	ctx, cancel := context.WithCancel(context.Background())
	s.r = redisBackend{
		client: cfg.Client, prefix: cfg.Prefix, channel: cfg.Prefix + "events", instance: hex.EncodeToString(inst[:]),
		cache: &s.c.cache, log: cfg.Logger, cancel: cancel, done: make(chan struct{}),
	}
	s.c.be = &s.r
	go s.r.run(ctx)
	return s, nil
}

func (s *RedisStore) core() *storeCore { return &s.c }

// Close stops the subscription. It does not close the client.
func (s *RedisStore) Close() error {
	s.r.cancel()
	<-s.r.done
	return nil
}

// redisBackend stores a session as a hash {rec: JSON identity, values:
// gob} under prefix "s:" id with the session's TTL, the ticket index as a
// set under "t:" ticket hash, cached validations under "v:" ticket hash,
// and publishes "end|upd instance id…" on prefix "events". Commands on
// several keys go in pipelines, not MULTI transactions, so that a Redis
// Cluster (keys in different slots) works too; a failure part-way is
// returned, and what was written expires with its TTL.
type redisBackend struct {
	client   redis.UniversalClient
	prefix   string
	channel  string
	instance string
	cache    *sessionCache
	log      *slog.Logger
	up       atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{}
}

func (b *redisBackend) name() string { return "redis" }

func (b *redisBackend) trusted() bool { return b.up.Load() }

func (b *redisBackend) sessionKey(id string) string { return b.prefix + "s:" + id }

func (b *redisBackend) ticketKey(th ticketHash) string { return b.prefix + "t:" + th.String() }

func (b *redisBackend) assertionKey(th ticketHash) string { return b.prefix + "v:" + th.String() }

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return &StoreError{Err: err}
}

func (b *redisBackend) create(ctx context.Context, rec *record, ttl time.Duration) error {
	if ttl < time.Second {
		ttl = time.Second
	}
	js, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	fields := []any{"rec", js}
	if rec.values != nil {
		fields = append(fields, "values", rec.values)
	}
	key, tkey := b.sessionKey(rec.id), b.ticketKey(rec.th)
	_, err = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fields...)
		p.PExpire(ctx, key, ttl)
		p.SAdd(ctx, tkey, rec.id)
		// The index lives as long as the newest session of the ticket.
		p.PExpire(ctx, tkey, ttl)
		return nil
	})
	return storeErr(err)
}

func (b *redisBackend) load(ctx context.Context, id string) (*record, error) {
	vals, err := b.client.HMGet(ctx, b.sessionKey(id), "rec", "values").Result()
	if err != nil {
		return nil, storeErr(err)
	}
	js, _ := vals[0].(string)
	if js == "" {
		return nil, errNoRecord
	}
	rec, err := decodeRecord(id, []byte(js))
	if err != nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "stored session refused", slog.String("error", err.Error()))
		return nil, errNoRecord
	}
	if v, ok := vals[1].(string); ok {
		rec.values = []byte(v)
	}
	return rec, nil
}

// setField sets one field of an existing session hash and tells the other
// instances; it never creates the hash (a session ended meanwhile stays
// ended).
var setField = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`)

func (b *redisBackend) set(ctx context.Context, id, field string, value []byte) error {
	n, err := setField.Run(ctx, b.client, []string{b.sessionKey(id)}, field, value, b.channel, b.event("upd", id)).Int()
	if err != nil {
		return storeErr(err)
	}
	if n == 0 {
		return errNoRecord
	}
	return nil
}

func (b *redisBackend) setIdentity(ctx context.Context, rec *record) error {
	js, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	return b.set(ctx, rec.id, "rec", js)
}

func (b *redisBackend) setValues(ctx context.Context, id string, values []byte) error {
	return b.set(ctx, id, "values", values)
}

func (b *redisBackend) event(kind string, ids ...string) string {
	return kind + " " + b.instance + " " + strings.Join(ids, " ")
}

func (b *redisBackend) remove(ctx context.Context, recs ...*record) error {
	if len(recs) == 0 {
		return nil
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.id
	}
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, rec := range recs {
			p.Del(ctx, b.sessionKey(rec.id))
			p.SRem(ctx, b.ticketKey(rec.th), rec.id)
		}
		p.Publish(ctx, b.channel, b.event("end", ids...))
		return nil
	})
	return storeErr(err)
}

func (b *redisBackend) sessionsOf(ctx context.Context, th ticketHash) ([]string, error) {
	ids, err := b.client.SMembers(ctx, b.ticketKey(th)).Result()
	return ids, storeErr(err)
}

func (b *redisBackend) assertion(ctx context.Context, th ticketHash) (*validated, error) {
	js, err := b.client.Get(ctx, b.assertionKey(th)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr(err)
	}
	v, err := decodeValidated(js)
	if err != nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, "stored validation refused", slog.String("error", err.Error()))
		return nil, nil
	}
	return v, nil
}

func (b *redisBackend) keepAssertion(ctx context.Context, th ticketHash, v *validated, ttl time.Duration) error {
	js, err := encodeValidated(v)
	if err != nil {
		return err
	}
	return storeErr(b.client.Set(ctx, b.assertionKey(th), js, ttl).Err())
}

func (b *redisBackend) dropAssertion(ctx context.Context, th ticketHash) error {
	return storeErr(b.client.Del(ctx, b.assertionKey(th)).Err())
}

// run keeps the event subscription up until ctx ends.
func (b *redisBackend) run(ctx context.Context) {
	defer close(b.done)
	backoff := redisBackoffMin
	for ctx.Err() == nil {
		ps := b.client.Subscribe(ctx, b.channel)
		if b.listen(ctx, ps) {
			backoff = redisBackoffMin
		}
		b.up.Store(false)
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, redisBackoffMax)
	}
}

// listen handles one subscription until it fails; it reports whether the
// subscription was confirmed.
func (b *redisBackend) listen(ctx context.Context, ps *redis.PubSub) (confirmed bool) {
	missed := 0
	for {
		msg, err := ps.ReceiveTimeout(ctx, redisHeartbeat)
		if err != nil {
			if ctx.Err() != nil {
				return confirmed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				missed++
				if missed < redisMissedBeats {
					if err := ps.Ping(ctx); err == nil {
						continue
					}
				}
			}
			if b.up.Load() {
				b.log.LogAttrs(ctx, slog.LevelWarn, "Redis event subscription lost; checking every request against Redis until it is back",
					slog.String("error", err.Error()))
			}
			return confirmed
		}
		missed = 0
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == b.channel {
				// Events may have been missed while unsubscribed: forget
				// everything, then trust the cache again.
				b.cache.flush()
				b.up.Store(true)
				confirmed = true
				b.log.LogAttrs(ctx, slog.LevelInfo, "Redis event subscription up")
			}
		case *redis.Message:
			b.handle(m.Payload)
		}
	}
}

// handle applies another instance's event to the local cache.
func (b *redisBackend) handle(payload string) {
	kind, rest, _ := strings.Cut(payload, " ")
	inst, ids, _ := strings.Cut(rest, " ")
	if inst == b.instance || (kind != "end" && kind != "upd") {
		return
	}
	for _, id := range strings.Fields(ids) {
		e := b.cache.forget(id)
		if e != nil && kind == "end" {
			e.st.Store(nil)
		}
	}
}
