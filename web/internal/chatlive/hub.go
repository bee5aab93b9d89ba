// Package chatlive carries chat events to open pages by Server-Sent Events:
// the visitor's chat (web/chat), the operators' pages (web/admin) and
// replies made through the API (web/api) all publish to and stream from
// one Hub.
package chatlive

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// New chat messages reach open pages by Server-Sent Events. A broadcaster
// in memory (Hub) fans each event out to the streams of one
// conversation; storage stays the source of truth: a stream starts by
// replaying what came after the client's last event id, and a subscriber
// that falls behind is dropped rather than waited for, so its client
// reconnects (EventSource does so by itself) and replays.
//
// Events come from storage's change feed (formbuilder.ChangeFeed), which
// names a conversation and the ids of its new messages for changes made by
// any server process: the hub reads those rows again (Changed) and
// publishes them to the streams it holds. When the feed may have missed
// changes (ChangeResync), the hub ends every stream (Resync), and the
// clients replay from storage after their last event id.

// Stream limits: a heartbeat comment keeps proxies and the write deadline
// from ending a quiet stream and finds clients that went away; a stream
// ends after StreamLifetime so that sessions are checked again and
// memory of long-dead tabs is bounded; the browser reconnects by itself.
const (
	Heartbeat      = 15 * time.Second
	StreamLifetime = 10 * time.Minute
	retryMillis    = 3000
	// subBuffer events may wait for a slow stream before it is dropped.
	subBuffer = 32
	// StreamsPerIP and StreamsTotal bound open streams: each holds
	// a connection and a goroutine.
	StreamsPerIP   = 20
	StreamsTotal   = 5000
	replayMessages = 500
)

// Topic names a group of streams: the visitor's or the operators'
// streams of one conversation, or (operator, id 0) the operators' lists.
// Visitor and operator streams are apart because a visitor's state event
// carries the held message, which operators must never see.
type Topic struct {
	Operator bool
	ID       int64
}

// Event is one SSE event, encoded once for every subscriber.
type Event struct {
	name string // "" is the default "message" event
	id   int64  // the message id, for Last-Event-ID; 0 sends none
	data []byte
}

type subscription struct {
	topic Topic
	ch    chan Event
}

// Hub is the in-memory broadcaster of chat events.
type Hub struct {
	// chat re-reads what a change names; nil without a chat service.
	chat    formbuilder.ChatService
	mu      sync.Mutex
	subs    map[Topic]map[*subscription]struct{}
	streams map[string]int // open streams per client IP key
	total   int
	closed  bool
}

// NewHub returns an empty hub that reads changed conversations from chat.
func NewHub(chat formbuilder.ChatService) *Hub {
	return &Hub{chat: chat, subs: map[Topic]map[*subscription]struct{}{}, streams: map[string]int{}}
}

// acquire reserves a stream for client key ip; false when a limit is
// reached or the hub is closed.
func (h *Hub) acquire(ip string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.total >= StreamsTotal || h.streams[ip] >= StreamsPerIP {
		return false
	}
	h.streams[ip]++
	h.total++
	return true
}

func (h *Hub) release(ip string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total--
	if h.streams[ip]--; h.streams[ip] <= 0 {
		delete(h.streams, ip)
	}
}

// Open counts the streams open now.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// subscribe returns a subscription to t, or nil once the hub is closed.
func (h *Hub) subscribe(t Topic) *subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	sub := &subscription{topic: t, ch: make(chan Event, subBuffer)}
	m := h.subs[t]
	if m == nil {
		m = map[*subscription]struct{}{}
		h.subs[t] = m
	}
	m[sub] = struct{}{}
	return sub
}

// unsubscribe removes sub; its channel is closed (if the hub did not close
// it already).
func (h *Hub) unsubscribe(sub *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(sub)
}

// drop removes sub and closes its channel; h.mu is held.
func (h *Hub) drop(sub *subscription) {
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
func (h *Hub) publish(t Topic, ev Event) {
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

// Close ends every stream and refuses new ones, so that a graceful
// shutdown does not wait for streams that would never end.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.dropAll()
}

// Resync ends every stream, which the clients open again, replaying from
// storage: after the change feed may have missed changes, what came
// meanwhile is known to storage only.
func (h *Hub) Resync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropAll()
}

// dropAll ends every stream; h.mu is held.
func (h *Hub) dropAll() {
	for _, m := range h.subs {
		for sub := range m {
			h.drop(sub)
		}
	}
}

// Subscribers counts the subscribers of t, for tests.
func (h *Hub) Subscribers(t Topic) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[t])
}

// listening reports whether any stream follows conversation id, or the
// operators' lists.
func (h *Hub) listening(id int64) (conv, lists bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[Topic{ID: id}])+len(h.subs[Topic{Operator: true, ID: id}]) > 0,
		len(h.subs[Topic{Operator: true}]) > 0
}

// Changed publishes a change of storage's feed (ChangeChat) to the streams
// of its conversation: it reads the messages and the state the change
// names, only when a stream here follows the conversation. Changes arrive
// one at a time in commit order, so the events do too. When the rows
// cannot be read, the conversation's streams end and their clients replay.
func (h *Hub) Changed(ctx context.Context, c formbuilder.Change) error {
	conv, lists := h.listening(c.ID)
	if !conv {
		if lists && c.LastMessage > 0 {
			h.publishListChange(c.ID, c.ChannelID)
		}
		return nil
	}
	if h.chat == nil {
		return nil
	}
	cur := &formbuilder.Conversation{ID: c.ID, ChannelID: c.ChannelID}
	var msgs []*formbuilder.Message
	err := func() error {
		if c.StateChanged {
			got, err := h.chat.FindConversation(ctx, c.ID)
			if err != nil {
				return err
			}
			cur = got
		}
		// The messages of one conversation are numbered in commit order:
		// those after FirstMessage-1 up to LastMessage are the change's.
		for after := c.FirstMessage - 1; c.LastMessage > 0 && after < c.LastMessage; {
			page, err := h.chat.ListMessages(ctx, c.ID, after, replayMessages)
			if err != nil {
				return err
			}
			for _, m := range page {
				if m.ID <= c.LastMessage {
					msgs = append(msgs, m)
				}
			}
			if len(page) < replayMessages {
				break
			}
			after = page[len(page)-1].ID
		}
		return nil
	}()
	if err != nil {
		h.end(Topic{ID: c.ID}, Topic{Operator: true, ID: c.ID})
		return err
	}
	h.publishConversation(cur, msgs, c.StateChanged)
	return nil
}

// end ends the streams of topics.
func (h *Hub) end(topics ...Topic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range topics {
		for sub := range h.subs[t] {
			h.drop(sub)
		}
	}
}

// publishListChange tells the operators' lists that conversation id of
// channel changed.
func (h *Hub) publishListChange(id, channel int64) {
	h.publish(Topic{Operator: true}, JSONEvent("changed", 0, map[string]int64{
		"conversation_id": id, "channel_id": channel}))
}

func JSONEvent(name string, id int64, v any) Event {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own structs are encoded; they always marshal.
		panic("web: chat event: " + err.Error())
	}
	return Event{name: name, id: id, data: b}
}

// messageEvent is the SSE event of a delivered message.
func MessageEvent(m *formbuilder.Message) Event { return JSONEvent("", m.ID, m) }

// StateJSON is a conversation's state as a visitor sees it; Held is
// left out for operators.
type StateJSON struct {
	State string `json:"state"`
	Held  string `json:"held,omitempty"`
}

// publishConversation tells the streams of conv about delivered messages
// and, when stateChanged, about its new state; the operators' lists hear of
// every delivered message.
func (h *Hub) publishConversation(conv *formbuilder.Conversation, msgs []*formbuilder.Message, stateChanged bool) {
	visitor, operator := Topic{ID: conv.ID}, Topic{Operator: true, ID: conv.ID}
	for _, m := range msgs {
		ev := MessageEvent(m)
		h.publish(visitor, ev)
		h.publish(operator, ev)
	}
	if stateChanged {
		h.publish(visitor, JSONEvent("state", 0, StateJSON{State: conv.State, Held: conv.HeldMessage}))
		h.publish(operator, JSONEvent("state", 0, StateJSON{State: conv.State}))
	}
	if len(msgs) > 0 {
		h.publishListChange(conv.ID, conv.ChannelID)
	}
}

// LastEventID is where a stream resumes: the Last-Event-ID header an
// EventSource sends when it reconnects, else the after parameter.
func LastEventID(c *fiber.Ctx) int64 {
	for _, v := range []string{c.Get("Last-Event-ID"), c.Query("after")} {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// Replay returns a function that lists the events of conversation convID's
// messages after message id after: the first thing a (re)connected stream
// sends.
func Replay(chat formbuilder.ChatService, convID, after int64) func(context.Context) ([]Event, error) {
	return func(ctx context.Context) ([]Event, error) {
		msgs, err := chat.ListMessages(ctx, convID, after, replayMessages)
		if err != nil {
			return nil, err
		}
		out := make([]Event, 0, len(msgs))
		for _, m := range msgs {
			out = append(out, MessageEvent(m))
		}
		return out, nil
	}
}

// eventFilter keeps a stream from sending a message or a state twice in a
// row. The change feed is asynchronous: a message stored just before a
// stream subscribed is in its replay and may also come live, and a state
// the stream sent on connecting may come again from the change that set it.
type eventFilter struct {
	lastID    int64
	lastState []byte
}

// write writes ev unless the stream sent it already.
func (f *eventFilter) write(w *httpx.Writer, ev Event) {
	switch {
	case ev.id > 0:
		if ev.id <= f.lastID {
			return
		}
		f.lastID = ev.id
	case ev.name == "state":
		if bytes.Equal(ev.data, f.lastState) {
			return
		}
		f.lastState = ev.data
	}
	writeEvent(w, ev)
}

// writeEvent writes one event in the text/event-stream format. The data is
// JSON on one line, so it needs no splitting into several data: lines.
func writeEvent(w *httpx.Writer, ev Event) {
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

// Serve answers with an event stream of topic: first the replay (computed
// now, after subscribing, so nothing falls between the two) and extra,
// then live events and heartbeats until the client goes away, the hub
// closes, the server shuts down or the stream's lifetime ends. Streams
// count per client address (RateKeyIP) against StreamsPerIP and
// StreamsTotal.
func (h *Hub) Serve(c *fiber.Ctx, base *httpx.Base, topic Topic, replay func(context.Context) ([]Event, error), extra ...Event) error {
	ip := httpx.RateKeyIP(base.ClientIP(c))
	if !h.acquire(ip) {
		c.Set(fiber.HeaderRetryAfter, "30")
		return formbuilder.NewError(formbuilder.ERATELIMIT, formbuilder.MsgTooManyChatStreams)
	}
	sub := h.subscribe(topic)
	if sub == nil {
		h.release(ip)
		return fiber.NewError(fiber.StatusServiceUnavailable, "shutting down")
	}
	var events []Event
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
	base.Streams.Stream(c, "chat event stream", func(ctx context.Context, w *httpx.Writer) error {
		defer h.release(ip)
		defer h.unsubscribe(sub)
		w.WriteString("retry: " + strconv.Itoa(retryMillis) + "\n\n")
		var f eventFilter
		for _, ev := range events {
			f.write(w, ev)
		}
		if w.Flush() != nil {
			return nil // the client went away: nothing to report
		}
		beat := time.NewTicker(Heartbeat)
		defer beat.Stop()
		end := time.NewTimer(StreamLifetime)
		defer end.Stop()
		for {
			select {
			case ev, ok := <-sub.ch:
				if !ok {
					return nil
				}
				f.write(w, ev)
			case <-beat.C:
				w.WriteString(": ping\n\n")
			case <-end.C:
				return nil
			case <-ctx.Done():
				return nil
			}
			if w.Flush() != nil {
				return nil
			}
		}
	}, nil)
	return nil
}
