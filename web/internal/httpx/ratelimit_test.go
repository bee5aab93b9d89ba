package httpx

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRateLimiterSlidingWindow(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC) // on a window edge
	rl := NewLimiter(3, time.Minute, 1000)
	for i := range 3 {
		ok, _ := rl.Allow("k", t0.Add(time.Duration(i)*time.Second))
		require.True(t, ok, "hit %d", i)
	}
	ok, wait := rl.Allow("k", t0.Add(10*time.Second))
	require.False(t, ok)
	// The three hits weigh on the next window too: one more fits once
	// 3*(1-x) + 1 <= 3, i.e. a third of the way into it, 80 s after t0.
	require.InDelta(t, (70 * time.Second).Seconds(), wait.Seconds(), 1)
	ok, _ = rl.Allow("other", t0.Add(10*time.Second))
	require.True(t, ok, "keys are independent")

	// Not at the window edge: a fixed window would allow 3 more at once.
	ok, _ = rl.Allow("k", t0.Add(61*time.Second))
	require.False(t, ok, "the sliding window still counts the last minute")
	ok, _ = rl.Allow("k", t0.Add(79*time.Second))
	require.False(t, ok)
	ok, _ = rl.Allow("k", t0.Add(81*time.Second))
	require.True(t, ok, "after the wait it said")
	ok, _ = rl.Allow("k", t0.Add(82*time.Second))
	require.False(t, ok, "but only one")

	// Refused hits count nothing: a client that waits gets through.
	for range 100 {
		rl.Allow("k", t0.Add(83*time.Second))
	}
	ok, _ = rl.Allow("k", t0.Add(4*time.Minute))
	require.True(t, ok)
}

func TestRateLimiterWaitIsEnough(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for _, limit := range []int{1, 2, 10, 60} {
		for _, offset := range []time.Duration{0, 7 * time.Second, 31 * time.Second, 59 * time.Second} {
			rl := NewLimiter(limit, time.Minute, 1000)
			now := t0.Add(offset)
			for {
				ok, wait := rl.Allow("k", now)
				if ok {
					continue
				}
				require.Greater(t, wait, time.Duration(0))
				if wait > 3*time.Second {
					ok, _ = rl.Allow("k", now.Add(wait-2*time.Second))
					require.False(t, ok, "limit %d offset %v: too early", limit, offset)
				}
				ok, _ = rl.Allow("k", now.Add(wait+time.Second))
				require.True(t, ok, "limit %d offset %v: Retry-After %v was not enough", limit, offset, wait)
				break
			}
		}
	}
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	rl := NewLimiter(5, time.Minute, 256)
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for i := range 100_000 {
		rl.Allow("ip-"+strconv.Itoa(i), now)
	}
	require.LessOrEqual(t, rl.size(), 256, "the limiter forgets keys rather than grow")
	// Old keys go first once the window has passed.
	rl.Allow("late", now.Add(3*time.Minute))
	require.LessOrEqual(t, rl.size(), 256)
}

func TestRateLimiterOff(t *testing.T) {
	var rl *Limiter = NewLimiter(0, time.Minute, 10)
	require.Nil(t, rl)
	ok, _ := rl.Allow("k", time.Now())
	require.True(t, ok)
}

func TestRateLimiterConcurrent(t *testing.T) {
	rl := NewLimiter(1000, time.Minute, 1<<12)
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range 500 {
				if ok, _ := rl.Allow("shared", now); ok {
					n++
				}
				rl.Allow("own-"+strconv.Itoa(g)+"-"+strconv.Itoa(i%50), now)
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, 1000, allowed)
}

func TestRateKeyIP(t *testing.T) {
	require.Equal(t, "203.0.113.7", RateKeyIP("203.0.113.7"))
	require.Equal(t, "203.0.113.7", RateKeyIP("::ffff:203.0.113.7"))
	require.Equal(t, RateKeyIP("2001:db8:1:2::1"), RateKeyIP("2001:db8:1:2:ffff::9"), "one /64 is one client")
	require.NotEqual(t, RateKeyIP("2001:db8:1:2::1"), RateKeyIP("2001:db8:1:3::1"))
	require.Equal(t, "not-an-ip", RateKeyIP("not-an-ip"))
}

// TestTake: a request is counted under every pick or under none, and the
// refusal names the longest wait of the picks that are full.
func TestTake(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	a, b := NewLimiter(2, time.Minute, 1000), NewLimiter(1, time.Minute, 1000)
	ok, _ := Take(t0, Pick{a, "x"}, Pick{b, "y"})
	require.True(t, ok)
	ok, wait := Take(t0, Pick{a, "x"}, Pick{b, "y"})
	require.False(t, ok, "b is full")
	require.Greater(t, wait, time.Duration(0))
	// a counted the refused request and took it back: it has room for one.
	ok, _ = a.Allow("x", t0)
	require.True(t, ok)
	ok, _ = a.Allow("x", t0)
	require.False(t, ok)

	// Reset forgets a key (a successful sign-in clears the account's count).
	a.Reset("x")
	ok, _ = a.Allow("x", t0)
	require.True(t, ok)
	var off *Limiter
	ok, _ = Take(t0, Pick{off, "z"})
	require.True(t, ok, "a nil limiter is off")
	off.Reset("z")
}
