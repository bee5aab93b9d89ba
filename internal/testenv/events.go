package testenv

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// Event is one parsed Server-Sent Event; Name is "message" where the
// stream named none.
type Event struct {
	Name, ID, Data string
}

// EventStream reads the events of a live text/event-stream answer in the
// background, for tests of the chat's streams on a real connection.
type EventStream struct {
	Resp *http.Response
	// Events receives each event; it is closed when the stream ends.
	Events chan Event
	// Retry receives the stream's retry: line.
	Retry chan string
}

// OpenEvents requests the stream at u with the header pairs hdr (name,
// value, …) and requires a 200 event stream. The body is closed when the
// test ends.
func OpenEvents(t *testing.T, u string, hdr ...string) *EventStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream; charset=utf-8", resp.Header.Get("Content-Type"))
	s := &EventStream{Resp: resp, Events: make(chan Event, 64), Retry: make(chan string, 1)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.Events)
		sc := bufio.NewScanner(resp.Body)
		var ev Event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Data != "" {
					if ev.Name == "" {
						ev.Name = "message"
					}
					s.Events <- ev
				}
				ev = Event{}
			case strings.HasPrefix(line, "retry: "):
				s.Retry <- strings.TrimPrefix(line, "retry: ")
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// Next returns the next event, failing when none comes within 10 s or the
// stream ends.
func (s *EventStream) Next(t *testing.T) Event {
	t.Helper()
	ev, ok := s.NextOrEnd(t)
	require.True(t, ok, "the stream ended")
	return ev
}

// NextOrEnd returns the next event, or false once the stream ended.
func (s *EventStream) NextOrEnd(t *testing.T) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.Events:
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("the stream neither sent nor ended within 10s")
	}
	return Event{}, false
}

// Message decodes a message event, whose id is the message's.
func (ev Event) Message(t *testing.T) formbuilder.Message {
	t.Helper()
	require.Equal(t, "message", ev.Name, "event %+v", ev)
	var m formbuilder.Message
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &m))
	require.Equal(t, strconv.FormatInt(m.ID, 10), ev.ID, "the event id is the message id")
	return m
}

// NextMessage returns the next event, which must be a message.
func (s *EventStream) NextMessage(t *testing.T) formbuilder.Message {
	t.Helper()
	return s.Next(t).Message(t)
}

// NextMessageAfter returns the next message with an id above last,
// passing over other events (a replay ends with the conversation's state).
// A message stored while a stream connects can come twice, in its replay
// and live; EventSource clients skip ids they have (chat.js does).
func (s *EventStream) NextMessageAfter(t *testing.T, last int64) formbuilder.Message {
	t.Helper()
	for {
		ev := s.Next(t)
		if ev.Name != "message" {
			continue
		}
		if m := ev.Message(t); m.ID > last {
			return m
		}
	}
}

// MessageAndState reads a message and a state event in either order. The
// state a stream sends is the conversation's state when it is read: with
// several servers, the change that held a message can reach a stream after
// the acceptance that opened it, and its state event then says "open"
// before the acceptance's message arrives.
func (s *EventStream) MessageAndState(t *testing.T) (formbuilder.Message, string) {
	t.Helper()
	var m formbuilder.Message
	var state string
	for m.ID == 0 || state == "" {
		ev := s.Next(t)
		if ev.Name == "state" && state == "" {
			state = ev.Data
			continue
		}
		require.Zero(t, m.ID, "a second message before the state: %+v", ev)
		m = ev.Message(t)
	}
	return m, state
}
