package web

import (
	"hash/maphash"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// Default limits of the public POST routes, per minute. A person sends a
// form a few times at most; a busy embedded form gets many posts, but from
// many addresses.
const (
	DefaultRateIPForm = 10  // per client IP and form
	DefaultRateIP     = 60  // per client IP over all public posts
	DefaultRateForm   = 600 // per form over all clients
)

// rateWindow is the length of the sliding window the limits count in.
const rateWindow = time.Minute

// rateMaxKeys bounds the memory of a limiter: about 100 bytes per key, so
// the default is a few MiB however many addresses a flood comes from.
const rateMaxKeys = 1 << 16

// rateShards spreads keys over independently locked maps so concurrent
// posts rarely wait for each other.
const rateShards = 16

// rateLimiter is a sliding-window counter per key, kept in memory. It uses
// the two-bucket approximation (the count of the previous fixed window,
// weighted by how much of it still overlaps the sliding window, plus the
// count of the current one): constant memory per key, unlike a log of
// timestamps, and without the burst at window edges of a fixed window.
//
// One process is enough: several servers behind one balancer each allow the
// limit, which is still a bound; a shared store would add a dependency to
// every post for little gain.
type rateLimiter struct {
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

// newRateLimiter returns a limiter allowing limit hits per window and key;
// limit <= 0 returns nil, which allows everything.
func newRateLimiter(limit int, window time.Duration, maxKeys int) *rateLimiter {
	if limit <= 0 {
		return nil
	}
	rl := &rateLimiter{limit: limit, window: window, maxKeys: max(1, maxKeys/rateShards), seed: maphash.MakeSeed()}
	for i := range rl.shards {
		rl.shards[i].m = map[string]*rateBucket{}
	}
	return rl
}

func (rl *rateLimiter) shard(key string) *rateShard {
	return &rl.shards[maphash.String(rl.seed, key)%rateShards]
}

// advance moves b to the fixed window now falls in and returns the fraction
// of that window already passed.
func (rl *rateLimiter) advance(b *rateBucket, now int64) float64 {
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
func (rl *rateLimiter) count(b *rateBucket, elapsed float64) float64 {
	return float64(b.prev)*(1-elapsed) + float64(b.curr)
}

// wait returns how long until one more hit fits under the limit, assuming
// no other hits meanwhile.
func (rl *rateLimiter) wait(b *rateBucket, elapsed float64) time.Duration {
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

// check reports whether one more hit for key fits under the limit at now,
// and if not, how long to wait. It counts nothing.
func (rl *rateLimiter) check(key string, now time.Time) (bool, time.Duration) {
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

// allow counts a hit for key unless that would pass the limit; then it
// counts nothing and returns how long to wait. Check and count happen under
// one lock, so concurrent requests cannot pass the limit together.
func (rl *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
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

// undo takes back a hit that allow counted at now, when another limit
// refused the same request. A window that moved on meanwhile keeps it: the
// hit then only ages out a little early.
func (rl *rateLimiter) undo(key string, now time.Time) {
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
func (rl *rateLimiter) evict(sh *rateShard, now int64) {
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
func (rl *rateLimiter) size() int {
	n := 0
	for i := range rl.shards {
		rl.shards[i].mu.Lock()
		n += len(rl.shards[i].m)
		rl.shards[i].mu.Unlock()
	}
	return n
}

// rateLimits are the limiters of the public POST routes.
type rateLimits struct {
	ipForm *rateLimiter
	ip     *rateLimiter
	form   *rateLimiter
}

// limitOrDefault maps a Config value: 0 is the default, negative is off.
func limitOrDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func newRateLimits(cfg Config) *rateLimits {
	return &rateLimits{
		ipForm: newRateLimiter(limitOrDefault(cfg.RateIPForm, DefaultRateIPForm), rateWindow, rateMaxKeys),
		ip:     newRateLimiter(limitOrDefault(cfg.RateIP, DefaultRateIP), rateWindow, rateMaxKeys),
		form:   newRateLimiter(limitOrDefault(cfg.RateForm, DefaultRateForm), rateWindow, rateMaxKeys),
	}
}

// rateKeyIP is the address a client is counted under. IPv6 addresses count
// per /64, the block one subscriber usually gets: otherwise one host could
// rotate through 2^64 addresses.
func rateKeyIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}

// limitPublicPost is the middleware of the public POST routes. It runs
// before the body is parsed and anything is looked up, so a flood costs a
// few map lookups per request. Posts to a form count per IP and form, per IP
// and per form; other posts (withdrawals) per IP. A refused request counts
// against no limit, so a client that waits as told gets through.
//
// Each limit counts atomically; a request one limit refuses is taken back
// from the limits that had already counted it.
func (s *Server) limitPublicPost(c *fiber.Ctx) error {
	rl := s.rates
	ip := rateKeyIP(s.clientIP(c))
	picks := []ratePick{{rl.ip, ip}}
	if key := c.Params("key"); key != "" && formbuilder.ValidFormKey(key) {
		picks = append(picks, ratePick{rl.ipForm, ip + " " + key}, ratePick{rl.form, key})
	}
	return s.limitBy(c, picks)
}

// ratePick is one limiter and the key a request counts under in it.
type ratePick struct {
	rl  *rateLimiter
	key string
}

// limitBy lets the request through and counts it in every pick when all of
// them have room (picks[0] names the client in the log), else answers 429
// with the longest wait as Retry-After and counts nothing.
func (s *Server) limitBy(c *fiber.Ctx, picks []ratePick) error {
	now := s.now()
	var wait time.Duration
	for i, p := range picks {
		if ok, d := p.rl.allow(p.key, now); !ok {
			wait = d
			// Look for the longest wait among the rest, then take back
			// what this request counted: a refused request uses up nothing.
			for _, q := range picks[i+1:] {
				if ok, d := q.rl.check(q.key, now); !ok && d > wait {
					wait = d
				}
			}
			for _, q := range picks[:i] {
				q.rl.undo(q.key, now)
			}
			break
		}
	}
	if wait == 0 {
		return c.Next()
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	s.log.Info("rate limited", "path", c.Path(), "ip", picks[0].key, "retry_after", secs)
	lang := "en"
	if strings.HasPrefix(c.Get(fiber.HeaderAcceptLanguage), "de") {
		lang = "de"
	}
	return formbuilder.Errorf(formbuilder.ERATELIMIT, "%s", ifLang(lang,
		"Zu viele Anfragen. Bitte versuchen Sie es in "+strconv.Itoa(secs)+" Sekunden erneut.",
		"Too many requests. Please try again in "+strconv.Itoa(secs)+" seconds."))
}
