package httpx

import (
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// RateWindow is the length of the sliding window the limits count in.
const RateWindow = time.Minute

// RateMaxKeys bounds the memory of a limiter: about 100 bytes per key, so
// the default is a few MiB however many addresses a flood comes from.
const RateMaxKeys = 1 << 16

// rateShards spreads keys over independently locked maps so concurrent
// posts rarely wait for each other.
const rateShards = 16

// Limiter is a sliding-window counter per key, kept in memory. It uses
// the two-bucket approximation (the count of the previous fixed window,
// weighted by how much of it still overlaps the sliding window, plus the
// count of the current one): constant memory per key, unlike a log of
// timestamps, and without the burst at window edges of a fixed window.
//
// One process is enough: several servers behind one balancer each allow the
// limit, which is still a bound; a shared store would add a dependency to
// every post for little gain.
type Limiter struct {
	limit   int
	window  time.Duration
	maxKeys int // per shard
	seed    maphash.Seed
	shards  [rateShards]rateShard
}

type rateShard struct {
	mu sync.Mutex
	m  map[string]*rateBucket
}

// rateBucket counts hits of one key in the fixed window starting at start
// (curr) and in the one before it (prev).
type rateBucket struct {
	start      int64 // window start, unix nanoseconds, a multiple of the window
	prev, curr int
}

// NewLimiter returns a limiter allowing limit hits per window and key;
// limit <= 0 returns nil, which allows everything.
func NewLimiter(limit int, window time.Duration, maxKeys int) *Limiter {
	if limit <= 0 {
		return nil
	}
	rl := &Limiter{limit: limit, window: window, maxKeys: max(1, maxKeys/rateShards), seed: maphash.MakeSeed()}
	for i := range rl.shards {
		rl.shards[i].m = map[string]*rateBucket{}
	}
	return rl
}

func (rl *Limiter) shard(key string) *rateShard {
	return &rl.shards[maphash.String(rl.seed, key)%rateShards]
}

// advance moves b to the fixed window now falls in and returns the fraction
// of that window already passed.
func (rl *Limiter) advance(b *rateBucket, now int64) float64 {
	w := int64(rl.window)
	start := now - now%w
	switch {
	case start == b.start:
	case start-b.start == w:
		b.prev, b.curr = b.curr, 0
		b.start = start
	default:
		// Two windows or more without a hit (or a clock step back).
		b.prev, b.curr = 0, 0
		b.start = start
	}
	return float64(now-start) / float64(w)
}

// count is the sliding-window estimate of b's hits.
func (rl *Limiter) count(b *rateBucket, elapsed float64) float64 {
	return float64(b.prev)*(1-elapsed) + float64(b.curr)
}

// wait returns how long until one more hit fits under the limit, assuming
// no other hits meanwhile.
func (rl *Limiter) wait(b *rateBucket, elapsed float64) time.Duration {
	lim := float64(rl.limit - 1)
	w := float64(rl.window)
	var until float64 // from the start of the current window, in window units
	switch {
	case float64(b.curr) <= lim && b.prev > 0:
		// Still in this window: prev*(1-x) + curr <= lim.
		until = 1 - (lim-float64(b.curr))/float64(b.prev)
	case b.curr > 0:
		// In the next window, where curr becomes prev: curr*(1-(x-1)) <= lim.
		until = 2 - lim/float64(b.curr)
	default:
		until = elapsed
	}
	d := time.Duration((until - elapsed) * w)
	if d < time.Second {
		d = time.Second
	}
	return d
}

// Check reports whether one more hit for key fits under the limit at now,
// and if not, how long to wait. It counts nothing.
func (rl *Limiter) Check(key string, now time.Time) (bool, time.Duration) {
	if rl == nil {
		return true, 0
	}
	sh := rl.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[key]
	if b == nil {
		return true, 0
	}
	e := rl.advance(b, now.UnixNano())
	if rl.count(b, e)+1 > float64(rl.limit) {
		return false, rl.wait(b, e)
	}
	return true, 0
}

// Allow counts a hit for key unless that would pass the limit; then it
// counts nothing and returns how long to wait. Check and count happen under
// one lock, so concurrent requests cannot pass the limit together.
func (rl *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if rl == nil {
		return true, 0
	}
	ns := now.UnixNano()
	sh := rl.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[key]
	if b == nil {
		if len(sh.m) >= rl.maxKeys {
			rl.evict(sh, ns)
		}
		b = &rateBucket{}
		sh.m[key] = b
	}
	e := rl.advance(b, ns)
	if rl.count(b, e)+1 > float64(rl.limit) {
		return false, rl.wait(b, e)
	}
	b.curr++
	return true, 0
}

// Undo takes back a hit that Allow counted at now, when another limit
// refused the same request. A window that moved on meanwhile keeps it: the
// hit then only ages out a little early.
func (rl *Limiter) Undo(key string, now time.Time) {
	if rl == nil {
		return
	}
	ns := now.UnixNano()
	sh := rl.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if b := sh.m[key]; b != nil && b.start == ns-ns%int64(rl.window) && b.curr > 0 {
		b.curr--
	}
}

// evict makes room in a full shard: first keys without a hit in the last two
// windows (they count zero anyway), then, under a flood of new keys, an
// arbitrary eighth of the rest. Forgetting a key only ever lets its owner
// post again sooner; memory stays bounded whatever the traffic.
func (rl *Limiter) evict(sh *rateShard, now int64) {
	w := int64(rl.window)
	start := now - now%w
	for k, b := range sh.m {
		if start-b.start >= 2*w {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < rl.maxKeys {
		return
	}
	n := max(1, len(sh.m)/8)
	for k := range sh.m {
		delete(sh.m, k)
		if n--; n == 0 {
			break
		}
	}
}

// size returns the number of keys held, for tests.
func (rl *Limiter) size() int {
	n := 0
	for i := range rl.shards {
		rl.shards[i].mu.Lock()
		n += len(rl.shards[i].m)
		rl.shards[i].mu.Unlock()
	}
	return n
}

// Reset forgets every hit of key (a successful sign-in ends the count of
// the account's failures).
func (rl *Limiter) Reset(key string) {
	if rl == nil {
		return
	}
	sh := rl.shard(key)
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

// Pick is one limiter and the key a request counts under in it.
type Pick struct {
	L   *Limiter
	Key string
}

// Take counts a hit under every pick when all of them have room. Otherwise
// it counts nothing and returns the longest wait: a refused request uses up
// nothing, so a client that waits as told gets through. Each limiter counts
// atomically; what one pick counted is taken back when a later one refuses.
func Take(now time.Time, picks ...Pick) (ok bool, wait time.Duration) {
	for i, p := range picks {
		if ok, d := p.L.Allow(p.Key, now); !ok {
			wait = d
			for _, q := range picks[i+1:] {
				if ok, d := q.L.Check(q.Key, now); !ok && d > wait {
					wait = d
				}
			}
			for _, q := range picks[:i] {
				q.L.Undo(q.Key, now)
			}
			return false, wait
		}
	}
	return true, 0
}

// LimitOrDefault maps a configured limit: 0 is the default, negative is off.
func LimitOrDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Limit lets the request through when every pick has room (counting it in
// each), else answers 429 with the longest wait as Retry-After and counts
// nothing. picks[0] names the client in the log line.
func (b *Base) Limit(c *fiber.Ctx, picks ...Pick) error {
	ok, wait := Take(b.Now(), picks...)
	if ok {
		return c.Next()
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	b.Log.Info("rate limited", "path", c.Path(), "ip", picks[0].Key, "retry_after", secs)
	return formbuilder.NewError(formbuilder.ERATELIMIT, formbuilder.MsgTooManyRequests, "seconds", strconv.Itoa(secs))
}
