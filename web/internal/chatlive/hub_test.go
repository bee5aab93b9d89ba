package chatlive

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChatHub(t *testing.T) {
	h := NewHub(nil)
	visitor, operator := Topic{ID: 7}, Topic{Operator: true, ID: 7}
	a, b, op := h.subscribe(visitor), h.subscribe(visitor), h.subscribe(operator)
	h.publish(visitor, Event{id: 1, data: []byte(`{}`)})
	assert.Equal(t, int64(1), (<-a.ch).id)
	assert.Equal(t, int64(1), (<-b.ch).id)
	select {
	case <-op.ch:
		t.Fatal("an operator stream got a visitor event")
	default:
	}

	// A subscriber that does not keep up is dropped, not waited for: its
	// channel closes and its client reconnects and replays.
	for i := range subBuffer + 1 {
		h.publish(visitor, Event{id: int64(i + 2)})
		<-a.ch
	}
	n := 0
	for range b.ch {
		n++
	}
	assert.Equal(t, subBuffer, n, "b got what fitted, then its channel closed")
	assert.Equal(t, 1, h.Subscribers(visitor))
	h.unsubscribe(b) // after a drop: nothing happens
	h.unsubscribe(a)
	assert.Zero(t, h.Subscribers(visitor))

	// Stream slots per client and in total.
	for range StreamsPerIP {
		require.True(t, h.acquire("192.0.2.1"))
	}
	assert.False(t, h.acquire("192.0.2.1"))
	assert.True(t, h.acquire("192.0.2.2"))
	h.release("192.0.2.1")
	assert.True(t, h.acquire("192.0.2.1"))

	// Closing ends every stream and refuses new ones.
	h.Close()
	_, ok := <-op.ch
	assert.False(t, ok)
	assert.Nil(t, h.subscribe(visitor))
	assert.False(t, h.acquire("192.0.2.3"))
}
