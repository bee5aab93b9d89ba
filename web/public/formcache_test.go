package public

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// formsHook is the real form storage with a hook before each FindFormByKey
// returns, to make the races of the form cache happen on purpose.
type formsHook struct {
	formbuilder.FormService
	calls atomic.Int32
	hook  func(n int32, f *formbuilder.Form)
}

func (h *formsHook) FindFormByKey(ctx context.Context, key string) (*formbuilder.Form, error) {
	f, err := h.FormService.FindFormByKey(ctx, key)
	n := h.calls.Add(1)
	if err == nil && h.hook != nil {
		h.hook(n, f)
	}
	return f, err
}

// TestFormCacheLoadsAMissOnce: requests that miss at the same time share
// one load of the form.
func TestFormCacheLoadsAMissOnce(t *testing.T) {
	release := make(chan struct{})
	hook := &formsHook{hook: func(int32, *formbuilder.Form) { <-release }}
	e := newUnitEnv(t, func(s *httpx.Services) { hook.FormService = s.Forms; s.Forms = hook })
	const n = 20
	var wg sync.WaitGroup
	got := make([]*cachedForm, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cf, err := e.s.forms.get(context.Background(), e.form.Key, e.now)
			assert.NoError(t, err)
			got[i] = cf
		}()
	}
	// The first load is held in storage; give the other requests time to
	// arrive (without single flight each would start a load of its own).
	require.Eventually(t, func() bool { return hook.calls.Load() >= 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, int32(1), hook.calls.Load(), "one storage read for %d requests", n)
	for _, cf := range got {
		assert.Same(t, got[0], cf)
	}
}

// TestFormCacheKeepsNoPageReadBeforeASave: a load that read the form before
// an admin's save cleared the cache does not store its (old) page after.
func TestFormCacheKeepsNoPageReadBeforeASave(t *testing.T) {
	read, release := make(chan struct{}), make(chan struct{})
	hook := &formsHook{hook: func(n int32, _ *formbuilder.Form) {
		if n == 1 {
			close(read)
			<-release
		}
	}}
	e := newUnitEnv(t, func(s *httpx.Services) { hook.FormService = s.Forms; s.Forms = hook })
	ctx := context.Background()
	done := make(chan *cachedForm)
	go func() {
		cf, err := e.s.forms.get(ctx, e.form.Key, e.now)
		assert.NoError(t, err)
		done <- cf
	}()
	<-read // the old form is read; its page is not stored yet
	changed := *e.form
	changed.Title = "After the save"
	require.NoError(t, e.db.UpdateForm(ctx, &changed))
	e.s.Pages().Invalidate(e.form.Key)
	close(release)
	old := <-done
	assert.Equal(t, "Contact", old.form.Title, "the request that began before the save gets what it read")
	cf, err := e.s.forms.get(ctx, e.form.Key, e.now)
	require.NoError(t, err)
	assert.Equal(t, "After the save", cf.form.Title, "the old page was not kept")
	assert.Contains(t, string(cf.pages[0].prefix)+string(cf.pages[0].suffix), "After the save")
}

// TestFormCachePanicInARefreshDoesNotStickTheEntry: a refresh that panics
// (in storage here; a render panic unwinds through the same deferred reset)
// leaves the entry refreshable, so the next request refreshes it and serves
// the form again instead of the stale entry for ever.
func TestFormCachePanicInARefreshDoesNotStickTheEntry(t *testing.T) {
	var breakIt atomic.Bool
	hook := &formsHook{hook: func(_ int32, f *formbuilder.Form) {
		if breakIt.Load() {
			panic("refresh bug")
		}
	}}
	e := newUnitEnv(t, func(s *httpx.Services) { hook.FormService = s.Forms; s.Forms = hook })
	ctx := context.Background()
	first, err := e.s.forms.get(ctx, e.form.Key, e.now)
	require.NoError(t, err)

	breakIt.Store(true)
	later := e.now.Add(formCacheTTL + time.Second)
	func() {
		defer func() { assert.NotNil(t, recover(), "the refresh panics") }()
		_, _ = e.s.forms.get(ctx, e.form.Key, later)
	}()
	assert.False(t, first.refreshing.Load(), "the refresh flag was cleared")

	breakIt.Store(false)
	calls := hook.calls.Load()
	cf, err := e.s.forms.get(ctx, e.form.Key, later)
	require.NoError(t, err)
	assert.Equal(t, calls+1, hook.calls.Load(), "the next request refreshed")
	assert.Equal(t, later, cf.loaded)
}
