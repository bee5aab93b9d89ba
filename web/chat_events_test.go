package web_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

	vs := testenv.OpenEvents(t, base+"/c/"+e.ch.Key+"/events?visitor_id="+visitor)
	select {
	case r := <-vs.Retry:
		assert.Equal(t, "3000", r)
	case <-time.After(5 * time.Second):
		t.Fatal("no retry line")
	}
	ev := vs.Next(t)
	assert.Equal(t, "state", ev.Name)
	assert.JSONEq(t, `{"state":"awaiting_consent","held":"hello, live"}`, ev.Data)

	lists := testenv.OpenEvents(t, base+"/admin/conversations/events", "Cookie", e.sessionCookie())

	resp, a := e.answer(visitor, "accept")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m, state := vs.MessageAndState(t)
	assert.Equal(t, a.Message.ID, m.ID)
	assert.Equal(t, "hello, live", m.Text)
	assert.JSONEq(t, `{"state":"open"}`, state)
	ev = lists.Next(t)
	assert.Equal(t, "changed", ev.Name)

	// The operator's view of the conversation: replayed from the start.
	conv := e.conversation(visitor)
	cid := strconv.FormatInt(conv.ID, 10)
	ops := testenv.OpenEvents(t, base+"/admin/conversations/"+cid+"/events", "Cookie", e.sessionCookie())
	assert.Equal(t, "hello, live", ops.NextMessage(t).Text)
	r, _ := e.Post("/admin/conversations/"+cid+"/reply", url.Values{"text": {"Hello from support"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	reply := vs.NextMessage(t)
	assert.Equal(t, "Hello from support", reply.Text)
	assert.Equal(t, "operator", reply.Sender)
	assert.Equal(t, reply.ID, ops.NextMessage(t).ID)
	resp, _ = e.send(visitor, "thanks!")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "thanks!", ops.NextMessage(t).Text)
	assert.Equal(t, "thanks!", vs.NextMessage(t).Text)

	// A reconnect sends Last-Event-ID and gets only what came after it.
	again := testenv.OpenEvents(t, base+"/c/"+e.ch.Key+"/events?visitor_id="+visitor, "Last-Event-ID", strconv.FormatInt(m.ID, 10))
	assert.Equal(t, "Hello from support", again.NextMessage(t).Text)
	assert.Equal(t, "thanks!", again.NextMessage(t).Text)
	assert.Equal(t, "state", again.Next(t).Name)

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

	// The app's own body limit holds for chat posts on a real connection,
	// decided from the declared length before any of the body is read. Only
	// the header is sent: a client still writing the body when the server
	// answers 413 and closes may see its write reset instead of the answer
	// (it did, in about one run of thirty).
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, "POST /c/"+e.ch.Key+"/messages HTTP/1.1\r\nHost: x\r\n"+
		"Content-Type: application/json\r\nContent-Length: "+strconv.Itoa(80<<10)+"\r\n\r\n")
	require.NoError(t, err)
	r2, err = http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	r2.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, r2.StatusCode)

	// Shutting down ends the open streams instead of waiting for them.
	took := shutdown()
	assert.Less(t, took, 3*time.Second)
	for _, s := range []*testenv.EventStream{vs, ops, lists, again} {
		select {
		case _, ok := <-s.Events:
			for ok {
				_, ok = <-s.Events
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
	vs := testenv.OpenEvents(t, base+"/c/"+e.ch.Key+"/events?visitor_id="+visitor)
	assert.Equal(t, "hi", vs.NextMessage(t).Text)
	assert.Equal(t, "state", vs.Next(t).Name)
	time.Sleep(time.Second)
	e.Login()
	conv := e.conversation(visitor)
	r, _ := e.Post("/admin/conversations/"+strconv.FormatInt(conv.ID, 10)+"/reply", url.Values{"text": {"late reply"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	assert.Equal(t, "late reply", vs.NextMessage(t).Text)
}
