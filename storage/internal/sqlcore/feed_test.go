package sqlcore

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeDecodeChanges(t *testing.T) {
	cases := []struct {
		name string
		in   []formbuilder.Change
		want []string
	}{
		{"none", nil, nil},
		{"chat", []formbuilder.Change{{Kind: formbuilder.ChangeChat, ID: 12, ChannelID: 3, FirstMessage: 40, LastMessage: 41, StateChanged: true}},
			[]string{"c12,3,40,41,s"}},
		{"chat, state only", []formbuilder.Change{{Kind: formbuilder.ChangeChat, ID: 12, ChannelID: 3, StateChanged: true}},
			[]string{"c12,3,0,0,s"}},
		{"chat, messages only", []formbuilder.Change{{Kind: formbuilder.ChangeChat, ID: 1, ChannelID: 2, FirstMessage: 5, LastMessage: 5}},
			[]string{"c1,2,5,5"}},
		{"form, forms, settings", []formbuilder.Change{
			{Kind: formbuilder.ChangeForm, ID: 7, Key: "abcdefghjkmnpqrs"},
			{Kind: formbuilder.ChangeForms},
			{Kind: formbuilder.ChangeSettings},
		}, []string{"f7,abcdefghjkmnpqrs F s"}},
		{"resync is local", []formbuilder.Change{{Kind: formbuilder.ChangeResync}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := EncodeChanges(tc.in)
			assert.Equal(t, tc.want, got)
			var back []formbuilder.Change
			for _, p := range got {
				back = append(back, DecodeChanges(p)...)
			}
			var want []formbuilder.Change
			for _, c := range tc.in {
				if c.Kind != formbuilder.ChangeResync {
					want = append(want, c)
				}
			}
			assert.Equal(t, want, back)
		})
	}
}

// TestEncodeChangesSplitsPayloads: a batch with many changes is sent as
// several payloads, each under PostgreSQL's limit, and nothing is lost.
func TestEncodeChangesSplitsPayloads(t *testing.T) {
	var in []formbuilder.Change
	for i := range 2000 {
		in = append(in, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: int64(1e9 + i), ChannelID: 1e9,
			FirstMessage: 1e12, LastMessage: 1e12 + 1, StateChanged: i%2 == 0})
	}
	ps := EncodeChanges(in)
	require.Greater(t, len(ps), 1)
	var back []formbuilder.Change
	for _, p := range ps {
		assert.LessOrEqual(t, len(p), MaxPayload)
		back = append(back, DecodeChanges(p)...)
	}
	assert.Equal(t, in, back)
}

// TestDecodeUnknownIsResync: a word this server does not know (a newer
// server's, a damaged one) makes it read everything again, never panic or
// guess.
func TestDecodeUnknownIsResync(t *testing.T) {
	resync := formbuilder.Change{Kind: formbuilder.ChangeResync}
	for _, p := range []string{"x", "c1,2,3", "c1,2,3,4,5", "c1,2,3,-4", "fx,key", "f1,NOT-A-KEY", "f1", "FF", "ss", "c,,,,"} {
		assert.Equal(t, []formbuilder.Change{resync}, DecodeChanges(p), "%q", p)
	}
	assert.Equal(t, []formbuilder.Change{{Kind: formbuilder.ChangeForms}, resync, {Kind: formbuilder.ChangeSettings}},
		DecodeChanges("F  what s"))
}

func FuzzDecodeChanges(f *testing.F) {
	for _, s := range []string{"c12,3,40,41,s", "f7,abcdefghjkmnpqrs F s", "c1,2,5,5", "", "x y z", "c9223372036854775807,1,1,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := DecodeChanges(p)
		assert.Len(t, got, len(strings.Fields(p)))
		// What decodes re-encodes to the same changes.
		var known []formbuilder.Change
		for _, c := range got {
			if c.Kind != formbuilder.ChangeResync {
				known = append(known, c)
			}
		}
		var back []formbuilder.Change
		for _, q := range EncodeChanges(known) {
			back = append(back, DecodeChanges(q)...)
		}
		assert.Equal(t, known, back)
	})
}

// TestFeedOverflowResyncs: a subscriber that falls behind by more than its
// queue gets a ChangeResync before the changes that were kept, and the
// other subscribers are not held up.
func TestFeedOverflowResyncs(t *testing.T) {
	f := newFeed()
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var slow, fast []formbuilder.Change
	first := true
	stopSlow := f.Subscribe(func(c formbuilder.Change) {
		if first {
			first = false
			close(entered)
			<-release
		}
		mu.Lock()
		slow = append(slow, c)
		mu.Unlock()
	})
	defer stopSlow()
	took := make(chan struct{})
	stopFast := f.Subscribe(func(c formbuilder.Change) {
		mu.Lock()
		fast = append(fast, c)
		mu.Unlock()
		took <- struct{}{}
	})
	defer stopFast()
	n := feedQueue + 10
	for i := range n {
		f.Deliver(formbuilder.Change{Kind: formbuilder.ChangeForm, ID: int64(i + 1), Key: "abcdefghjkmnpqrs"})
		if i == 0 {
			<-entered
		}
		// The other subscriber takes each change while the slow one
		// still hangs in the first.
		<-took
	}
	count := func(list *[]formbuilder.Change) int {
		mu.Lock()
		defer mu.Unlock()
		return len(*list)
	}
	assert.Equal(t, n, count(&fast))
	close(release)
	// The first change was being handled, feedQueue waited, the rest were
	// lost: first, resync, then the queue.
	require.Eventually(t, func() bool { return count(&slow) == feedQueue+2 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	assert.EqualValues(t, 1, slow[0].ID)
	assert.Equal(t, formbuilder.ChangeResync, slow[1].Kind)
	assert.EqualValues(t, 2, slow[2].ID)
	assert.EqualValues(t, feedQueue+1, slow[len(slow)-1].ID)
}

// TestFeedStopAndClose: a stopped subscription and a closed feed call
// nothing more.
func TestFeedStopAndClose(t *testing.T) {
	f := newFeed()
	got := make(chan formbuilder.Change, 10)
	stop := f.Subscribe(func(c formbuilder.Change) { got <- c })
	f.Deliver(formbuilder.Change{Kind: formbuilder.ChangeSettings})
	assert.Equal(t, formbuilder.ChangeSettings, (<-got).Kind)
	stop()
	stop()
	f.Deliver(formbuilder.Change{Kind: formbuilder.ChangeForms})
	other := f.Subscribe(func(c formbuilder.Change) { got <- c })
	f.close()
	other()
	f.Deliver(formbuilder.Change{Kind: formbuilder.ChangeForms})
	f.Subscribe(func(c formbuilder.Change) { got <- c })()
	f.Deliver(formbuilder.Change{Kind: formbuilder.ChangeForms})
	// Subscribers are called from goroutines of their own: a delivery that
	// should not happen would come a moment later, not before this line.
	assert.Never(t, func() bool { return len(got) > 0 }, 100*time.Millisecond, 5*time.Millisecond)
}
