package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	name, id, data string
}

// sseStream reads events from a live response in the background.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	retry  chan string
}

func openStream(t *testing.T, u string, hdr ...string) *sseStream {
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
	s := &sseStream{resp: resp, events: make(chan sseEvent, 64), retry: make(chan string, 1)}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					if ev.name == "" {
						ev.name = "message"
					}
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "retry: "):
				s.retry <- strings.TrimPrefix(line, "retry: ")
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next returns the next event, failing after a few seconds.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sseEvent{}
}

// messageAndState reads a message and a state event in either order. The
// state a stream sends is the conversation's state when it is read: with
// several servers, the change that held a message can reach a stream after
// the acceptance that opened it, and its state event then says "open"
// before the acceptance's message arrives.
func (s *sseStream) messageAndState(t *testing.T) (formbuilder.Message, string) {
	t.Helper()
	var m formbuilder.Message
	var state string
	for m.ID == 0 || state == "" {
		ev := s.next(t)
		if ev.name == "state" && state == "" {
			state = ev.data
			continue
		}
		require.Zero(t, m.ID, "a second message before the state: %+v", ev)
		m = message(t, ev)
	}
	return m, state
}

func message(t *testing.T, ev sseEvent) formbuilder.Message {
	t.Helper()
	require.Equal(t, "message", ev.name, "event %+v", ev)
	var m formbuilder.Message
	require.NoError(t, json.Unmarshal([]byte(ev.data), &m))
	require.Equal(t, strconv.FormatInt(m.ID, 10), ev.id, "the event id is the message id")
	return m
}

// listen serves the env's app on a loopback listener; the server is shut
// down at the end of the test.
func (e *chatEnv) listen() (base string, shutdown func() time.Duration) {
	e.T.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(e.T, err)
	done := make(chan error, 1)
	go func() { done <- e.Srv.Listener(ln) }()
	stopped := false
	stop := func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(e.T, e.Srv.Shutdown(ctx))
		<-done
		return time.Since(start)
	}
	e.T.Cleanup(func() { stop() })
	return "http://" + ln.Addr().String(), stop
}

// TestChatEventStreams: visitor and operator streams see each other's
// messages live, the visitor's stream sees its state, a reconnect replays
// from Last-Event-ID, and shutting down ends open streams at once.
func TestChatEventStreams(t *testing.T) {
	e := newChatEnv(t, testenv.WithConfig(func(c *web.Config) { c.BodyLimit = 64 << 10 }))
	base, shutdown := e.listen()
	visitor := newVisitor(t)
	resp, _ := e.send(visitor, "hello, live")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	vs := openStream(t, base+"/c/"+e.ch.Key+"/events?visitor_id="+visitor)
	select {
	case r := <-vs.retry:
		assert.Equal(t, "3000", r)
	case <-time.After(5 * time.Second):
		t.Fatal("no retry line")
	}
	ev := vs.next(t)
	assert.Equal(t, "state", ev.name)
	assert.JSONEq(t, `{"state":"awaiting_consent","held":"hello, live"}`, ev.data)

	lists := openStream(t, base+"/admin/conversations/events", "Cookie", e.sessionCookie())

	resp, a := e.answer(visitor, "accept")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m, state := vs.messageAndState(t)
	assert.Equal(t, a.Message.ID, m.ID)
	assert.Equal(t, "hello, live", m.Text)
	assert.JSONEq(t, `{"state":"open"}`, state)
	ev = lists.next(t)
	assert.Equal(t, "changed", ev.name)

	// The operator's view of the conversation: replayed from the start.
	conv := e.conversation(visitor)
	cid := strconv.FormatInt(conv.ID, 10)
	ops := openStream(t, base+"/admin/conversations/"+cid+"/events", "Cookie", e.sessionCookie())
	assert.Equal(t, "hello, live", message(t, ops.next(t)).Text)
	r, _ := e.Post("/admin/conversations/"+cid+"/reply", url.Values{"text": {"Hello from support"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	reply := message(t, vs.next(t))
	assert.Equal(t, "Hello from support", reply.Text)
	assert.Equal(t, "operator", reply.Sender)
	assert.Equal(t, reply.ID, message(t, ops.next(t)).ID)
	resp, _ = e.send(visitor, "thanks!")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "thanks!", message(t, ops.next(t)).Text)
	assert.Equal(t, "thanks!", message(t, vs.next(t)).Text)

	// A reconnect sends Last-Event-ID and gets only what came after it.
	again := openStream(t, base+"/c/"+e.ch.Key+"/events?visitor_id="+visitor, "Last-Event-ID", strconv.FormatInt(m.ID, 10))
	assert.Equal(t, "Hello from support", message(t, again.next(t)).Text)
	assert.Equal(t, "thanks!", message(t, again.next(t)).Text)
	assert.Equal(t, "state", again.next(t).name)

	// Streams need the visitor id or a session.
	r2, err := http.Get(base + "/c/" + e.ch.Key + "/events?visitor_id=" + newVisitor(t))
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, http.StatusNoContent, r2.StatusCode, "no conversation yet: EventSource stops")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r2, err = noFollow.Get(base + "/admin/conversations/" + cid + "/events")
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, http.StatusSeeOther, r2.StatusCode, "to the sign-in page")

	// The app's own body limit holds for chat posts on a real connection.
	big := `{"visitor_id":"` + visitor + `","text":"` + strings.Repeat("x", 80<<10) + `"}`
	r2, err = http.Post(base+"/c/"+e.ch.Key+"/messages", "application/json", strings.NewReader(big))
	require.NoError(t, err)
	io.Copy(io.Discard, r2.Body)
	r2.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, r2.StatusCode)

	// Shutting down ends the open streams instead of waiting for them.
	took := shutdown()
	assert.Less(t, took, 3*time.Second)
	for _, s := range []*sseStream{vs, ops, lists, again} {
		select {
		case _, ok := <-s.events:
			for ok {
				_, ok = <-s.events
			}
		case <-time.After(3 * time.Second):
			t.Fatal("a stream outlived the shutdown")
		}
	}
}

// sessionCookie is the Cookie header of the signed-in admin.
func (e *chatEnv) sessionCookie() string {
	e.T.Helper()
	if e.Jar["cf_session"] == "" {
		e.Login()
	}
	return "cf_session=" + e.Jar["cf_session"]
}

// TestChatStreamOutlivesWriteTimeout: Fiber's WriteTimeout is set once per
// response; the stream pushes the deadline on with every flush, so a quiet
// stream still delivers after WriteTimeout has passed.
func TestChatStreamOutlivesWriteTimeout(t *testing.T) {
	e := newChatEnv(t, testenv.WithConfig(func(c *web.Config) { c.WriteTimeout = 300 * time.Millisecond }))
	e.ch.WarnPersonalData = false
	require.NoError(t, e.DB.UpdateChannel(context.Background(), e.ch))
	base, _ := e.listen()
	visitor := newVisitor(t)
	resp, _ := e.send(visitor, "hi")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	vs := openStream(t, base+"/c/"+e.ch.Key+"/events?visitor_id="+visitor)
	assert.Equal(t, "hi", message(t, vs.next(t)).Text)
	assert.Equal(t, "state", vs.next(t).name)
	time.Sleep(time.Second)
	e.Login()
	conv := e.conversation(visitor)
	r, _ := e.Post("/admin/conversations/"+strconv.FormatInt(conv.ID, 10)+"/reply", url.Values{"text": {"late reply"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	assert.Equal(t, "late reply", message(t, vs.next(t)).Text)
}
