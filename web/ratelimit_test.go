package web

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRateLimiterSlidingWindow(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC) // on a window edge
	rl := newRateLimiter(3, time.Minute, 1000)
	for i := range 3 {
		ok, _ := rl.allow("k", t0.Add(time.Duration(i)*time.Second))
		require.True(t, ok, "hit %d", i)
	}
	ok, wait := rl.allow("k", t0.Add(10*time.Second))
	require.False(t, ok)
	// The three hits weigh on the next window too: one more fits once
	// 3*(1-x) + 1 <= 3, i.e. a third of the way into it, 80 s after t0.
	require.InDelta(t, (70 * time.Second).Seconds(), wait.Seconds(), 1)
	ok, _ = rl.allow("other", t0.Add(10*time.Second))
	require.True(t, ok, "keys are independent")

	// Not at the window edge: a fixed window would allow 3 more at once.
	ok, _ = rl.allow("k", t0.Add(61*time.Second))
	require.False(t, ok, "the sliding window still counts the last minute")
	ok, _ = rl.allow("k", t0.Add(79*time.Second))
	require.False(t, ok)
	ok, _ = rl.allow("k", t0.Add(81*time.Second))
	require.True(t, ok, "after the wait it said")
	ok, _ = rl.allow("k", t0.Add(82*time.Second))
	require.False(t, ok, "but only one")

	// Refused hits count nothing: a client that waits gets through.
	for range 100 {
		rl.allow("k", t0.Add(83*time.Second))
	}
	ok, _ = rl.allow("k", t0.Add(4*time.Minute))
	require.True(t, ok)
}

func TestRateLimiterWaitIsEnough(t *testing.T) {
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for _, limit := range []int{1, 2, 10, 60} {
		for _, offset := range []time.Duration{0, 7 * time.Second, 31 * time.Second, 59 * time.Second} {
			rl := newRateLimiter(limit, time.Minute, 1000)
			now := t0.Add(offset)
			for {
				ok, wait := rl.allow("k", now)
				if ok {
					continue
				}
				require.Greater(t, wait, time.Duration(0))
				if wait > 3*time.Second {
					ok, _ = rl.allow("k", now.Add(wait-2*time.Second))
					require.False(t, ok, "limit %d offset %v: too early", limit, offset)
				}
				ok, _ = rl.allow("k", now.Add(wait+time.Second))
				require.True(t, ok, "limit %d offset %v: Retry-After %v was not enough", limit, offset, wait)
				break
			}
		}
	}
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	rl := newRateLimiter(5, time.Minute, 256)
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for i := range 100_000 {
		rl.allow("ip-"+strconv.Itoa(i), now)
	}
	require.LessOrEqual(t, rl.size(), 256, "the limiter forgets keys rather than grow")
	// Old keys go first once the window has passed.
	rl.allow("late", now.Add(3*time.Minute))
	require.LessOrEqual(t, rl.size(), 256)
}

func TestRateLimiterOff(t *testing.T) {
	var rl *rateLimiter = newRateLimiter(0, time.Minute, 10)
	require.Nil(t, rl)
	ok, _ := rl.allow("k", time.Now())
	require.True(t, ok)
}

func TestRateLimiterConcurrent(t *testing.T) {
	rl := newRateLimiter(1000, time.Minute, 1<<12)
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
				if ok, _ := rl.allow("shared", now); ok {
					n++
				}
				rl.allow("own-"+strconv.Itoa(g)+"-"+strconv.Itoa(i%50), now)
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
	require.Equal(t, "203.0.113.7", rateKeyIP("203.0.113.7"))
	require.Equal(t, "203.0.113.7", rateKeyIP("::ffff:203.0.113.7"))
	require.Equal(t, rateKeyIP("2001:db8:1:2::1"), rateKeyIP("2001:db8:1:2:ffff::9"), "one /64 is one client")
	require.NotEqual(t, rateKeyIP("2001:db8:1:2::1"), rateKeyIP("2001:db8:1:3::1"))
	require.Equal(t, "not-an-ip", rateKeyIP("not-an-ip"))
}
