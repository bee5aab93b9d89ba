package web

import (
	"bufio"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// New chat messages reach open pages by Server-Sent Events. A broadcaster
// in memory (chatHub) fans each event out to the streams of one
// conversation; storage stays the source of truth: a stream starts by
// replaying what came after the client's last event id, and a subscriber
// that falls behind is dropped rather than waited for, so its client
// reconnects (EventSource does so by itself) and replays. With several
// server processes an event reaches only the streams of the process that
// stored it; the clients' polling fallback and reconnects bound the delay.

// Stream limits: a heartbeat comment keeps proxies and the write deadline
// from ending a quiet stream and finds clients that went away; a stream
// ends after chatStreamLifetime so that sessions are checked again and
// memory of long-dead tabs is bounded; the browser reconnects by itself.
const (
	chatHeartbeat      = 15 * time.Second
	chatStreamLifetime = 10 * time.Minute
	chatRetryMillis    = 3000
	// chatSubBuffer events may wait for a slow stream before it is dropped.
	chatSubBuffer = 32
	// chatStreamsPerIP and chatStreamsTotal bound open streams: each holds
	// a connection and a goroutine.
	chatStreamsPerIP  = 20
	chatStreamsTotal  = 5000
	chatReplayMessage = 500
)

// chatTopic names a group of streams: the visitor's or the operators'
// streams of one conversation, or (operator, id 0) the operators' lists.
// Visitor and operator streams are apart because a visitor's state event
// carries the held message, which operators must never see.
type chatTopic struct {
	operator bool
	id       int64
}

// chatEvent is one SSE event, encoded once for every subscriber.
type chatEvent struct {
	name string // "" is the default "message" event
	id   int64  // the message id, for Last-Event-ID; 0 sends none
	data []byte
}

type chatSub struct {
	topic chatTopic
	ch    chan chatEvent
}

// chatHub is the in-memory broadcaster of chat events.
type chatHub struct {
	mu      sync.Mutex
	subs    map[chatTopic]map[*chatSub]struct{}
	streams map[string]int // open streams per client IP key
	total   int
	closed  bool
}

func newChatHub() *chatHub {
	return &chatHub{subs: map[chatTopic]map[*chatSub]struct{}{}, streams: map[string]int{}}
}

// acquire reserves a stream for client key ip; false when a limit is
// reached or the hub is closed.
func (h *chatHub) acquire(ip string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.total >= chatStreamsTotal || h.streams[ip] >= chatStreamsPerIP {
		return false
	}
	h.streams[ip]++
	h.total++
	return true
}

func (h *chatHub) release(ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total--
	if h.streams[ip]--; h.streams[ip] <= 0 {
		delete(h.streams, ip)
	}
}

// subscribe returns a subscription to t, or nil once the hub is closed.
func (h *chatHub) subscribe(t chatTopic) *chatSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	sub := &chatSub{topic: t, ch: make(chan chatEvent, chatSubBuffer)}
	m := h.subs[t]
	if m == nil {
		m = map[*chatSub]struct{}{}
		h.subs[t] = m
	}
	m[sub] = struct{}{}
	return sub
}

// unsubscribe removes sub; its channel is closed (if the hub did not close
// it already).
func (h *chatHub) unsubscribe(sub *chatSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(sub)
}

// drop removes sub and closes its channel; h.mu is held.
func (h *chatHub) drop(sub *chatSub) {
	m := h.subs[sub.topic]
	if _, ok := m[sub]; !ok {
		return
	}
	delete(m, sub)
	if len(m) == 0 {
		delete(h.subs, sub.topic)
	}
	close(sub.ch)
}

// publish hands ev to every subscriber of t without waiting: a full
// subscriber is dropped and its client replays after reconnecting.
func (h *chatHub) publish(t chatTopic, ev chatEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[t] {
		select {
		case sub.ch <- ev:
		default:
			h.drop(sub)
		}
	}
}

// close ends every stream and refuses new ones, so that a graceful
// shutdown does not wait for streams that would never end.
func (h *chatHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, m := range h.subs {
		for sub := range m {
			h.drop(sub)
		}
	}
}

// subscribers counts the subscribers of t, for tests.
func (h *chatHub) subscribers(t chatTopic) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[t])
}

func jsonEvent(name string, id int64, v any) chatEvent {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own structs are encoded; they always marshal.
		panic("web: chat event: " + err.Error())
	}
	return chatEvent{name: name, id: id, data: b}
}

// messageEvent is the SSE event of a delivered message.
func messageEvent(m *formbuilder.Message) chatEvent { return jsonEvent("", m.ID, m) }

// chatStateJSON is a conversation's state as a visitor sees it; Held is
// left out for operators.
type chatStateJSON struct {
	State string `json:"state"`
	Held  string `json:"held,omitempty"`
}

// publishChat tells the streams of conv about delivered messages and, when
// stateChanged, about its new state; the operators' lists hear of every
// delivered message.
func (s *Server) publishChat(conv *formbuilder.Conversation, msgs []*formbuilder.Message, stateChanged bool) {
	h := s.chat.hub
	visitor, operator := chatTopic{id: conv.ID}, chatTopic{operator: true, id: conv.ID}
	for _, m := range msgs {
		ev := messageEvent(m)
		h.publish(visitor, ev)
		h.publish(operator, ev)
	}
	if stateChanged {
		h.publish(visitor, jsonEvent("state", 0, chatStateJSON{State: conv.State, Held: conv.HeldMessage}))
		h.publish(operator, jsonEvent("state", 0, chatStateJSON{State: conv.State}))
	}
	if len(msgs) > 0 {
		h.publish(chatTopic{operator: true}, jsonEvent("changed", 0, map[string]int64{
			"conversation_id": conv.ID, "channel_id": conv.ChannelID}))
	}
}

// lastEventID is where a stream resumes: the Last-Event-ID header an
// EventSource sends when it reconnects, else the after parameter.
func lastEventID(c *fiber.Ctx) int64 {
	for _, v := range []string{c.Get("Last-Event-ID"), c.Query("after")} {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// replayMessages returns the events of conv's messages after id, the first
// thing a (re)connected stream sends.
func (s *Server) replayMessages(ctx context.Context, convID, after int64) ([]chatEvent, error) {
	msgs, err := s.svc.Chat.ListMessages(ctx, convID, after, chatReplayMessage)
	if err != nil {
		return nil, err
	}
	out := make([]chatEvent, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, messageEvent(m))
	}
	return out, nil
}

// writeEvent writes one event in the text/event-stream format. The data is
// JSON on one line, so it needs no splitting into several data: lines.
func writeEvent(w *bufio.Writer, ev chatEvent) {
	if ev.name != "" {
		w.WriteString("event: " + ev.name + "\n")
	}
	if ev.id > 0 {
		w.WriteString("id: " + strconv.FormatInt(ev.id, 10) + "\n")
	}
	w.WriteString("data: ")
	w.Write(ev.data)
	w.WriteString("\n\n")
}

// streamChat answers with an event stream of topic: first the replay
// (computed now, after subscribing, so nothing falls between the two),
// then live events and heartbeats until the client goes away, the hub
// closes or the stream's lifetime ends. Fiber's WriteTimeout is set once
// per response; each flush pushes the connection's write deadline on
// instead (deadlineWriter, as the log export does), so a live stream is
// not cut after WriteTimeout and a stalled client still is.
func (s *Server) streamChat(c *fiber.Ctx, topic chatTopic, replay func(context.Context) ([]chatEvent, error), extra ...chatEvent) error {
	h := s.chat.hub
	ip := rateKeyIP(s.clientIP(c))
	if !h.acquire(ip) {
		c.Set(fiber.HeaderRetryAfter, "30")
		return formbuilder.Errorf(formbuilder.ERATELIMIT, "Too many open chat connections.")
	}
	sub := h.subscribe(topic)
	if sub == nil {
		h.release(ip)
		return fiber.NewError(fiber.StatusServiceUnavailable, "shutting down")
	}
	var events []chatEvent
	if replay != nil {
		var err error
		if events, err = replay(c.UserContext()); err != nil {
			h.unsubscribe(sub)
			h.release(ip)
			return err
		}
	}
	events = append(events, extra...)
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// Tells nginx-style proxies not to buffer the stream.
	c.Set("X-Accel-Buffering", "no")
	conn, reqID := c.Context().Conn(), requestID(c)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.recoverStream("chat event stream", reqID)
		defer h.release(ip)
		defer h.unsubscribe(sub)
		dw := &deadlineWriter{w: w, conn: conn}
		w.WriteString("retry: " + strconv.Itoa(chatRetryMillis) + "\n\n")
		for _, ev := range events {
			writeEvent(w, ev)
		}
		if dw.Flush() != nil {
			return
		}
		beat := time.NewTicker(chatHeartbeat)
		defer beat.Stop()
		end := time.NewTimer(chatStreamLifetime)
		defer end.Stop()
		for {
			select {
			case ev, ok := <-sub.ch:
				if !ok {
					return
				}
				writeEvent(w, ev)
			case <-beat.C:
				w.WriteString(": ping\n\n")
			case <-end.C:
				return
			}
			if dw.Flush() != nil {
				return
			}
		}
	})
	return nil
}
