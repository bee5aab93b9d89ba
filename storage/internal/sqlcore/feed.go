package sqlcore

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/consentforms/consentforms/formbuilder"
)

// Change notifications (formbuilder.ChangeFeed). A transaction collects
// the changes it makes (Tx.changed); where the engine can tell other
// processes (Dialect.Notifies: PostgreSQL's NOTIFY), they are sent inside
// the transaction, which delivers them at its commit and drops them on a
// rollback, and the backend's listener hands what arrives to the Feed.
// SQLite serves a file from one process: its changes go to the Feed
// straight after the commit.

// feedQueue is how many changes may wait for one subscriber; beyond that
// it gets a ChangeResync instead. Changes are rare (admin saves, chat
// messages), so a full queue means a subscriber that hangs.
const feedQueue = 1024

// Feed fans changes out to the subscribers of one process, each on a
// goroutine of its own, in the order they were delivered.
type Feed struct {
	mu     sync.Mutex
	subs   map[*feedSub]struct{}
	closed bool
}

type feedSub struct {
	fn func(formbuilder.Change)
	ch chan formbuilder.Change
	// lost is set when a change did not fit in ch; the subscriber then
	// gets a ChangeResync before its next change.
	lost atomic.Bool
}

func newFeed() *Feed { return &Feed{subs: map[*feedSub]struct{}{}} }

// Subscribe calls fn for every change delivered until stop is called. A
// closed feed calls nothing.
func (f *Feed) Subscribe(fn func(formbuilder.Change)) (stop func()) {
	s := &feedSub{fn: fn, ch: make(chan formbuilder.Change, feedQueue)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return func() {}
	}
	f.subs[s] = struct{}{}
	go s.run()
	var once sync.Once
	return func() { once.Do(func() { f.remove(s) }) }
}

func (f *Feed) remove(s *feedSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.ch)
	}
}

func (s *feedSub) run() {
	for c := range s.ch {
		if s.lost.Swap(false) {
			s.fn(formbuilder.Change{Kind: formbuilder.ChangeResync})
		}
		s.fn(c)
	}
}

// Deliver hands changes to every subscriber without waiting for any.
func (f *Feed) Deliver(changes ...formbuilder.Change) {
	if len(changes) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		for _, c := range changes {
			select {
			case s.ch <- c:
			default:
				// The queue was full, so the subscriber still has changes
				// to take, and takes the ChangeResync with the next.
				s.lost.Store(true)
			}
		}
	}
}

// close ends every subscription; later ones get nothing.
func (f *Feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		delete(f.subs, s)
		close(s.ch)
	}
}

// Listener is how a backend whose changes come from other processes
// (Dialect.Notifies) listens for them: it returns once it listens and
// then hands every change, and a ChangeResync after any gap, to deliver
// until stop.
type Listener func(deliver func(...formbuilder.Change)) (stop func(), err error)

// SubscribeChanges implements formbuilder.ChangeFeed. On a backend with a
// Listener, the first subscription starts it.
func (db *DB) SubscribeChanges(fn func(formbuilder.Change)) (func(), error) {
	if err := db.listen(); err != nil {
		return nil, err
	}
	return db.feed.Subscribe(fn), nil
}

// listen starts the backend's listener once; a failed start is tried
// again by the next subscription.
func (db *DB) listen() error {
	db.listenMu.Lock()
	defer db.listenMu.Unlock()
	if db.listener == nil || db.stopListening != nil {
		return nil
	}
	if db.writer != nil && db.writer.isClosed() {
		return formbuilder.Internal(ErrClosed)
	}
	stop, err := db.listener(db.feed.Deliver)
	if err != nil {
		return formbuilder.Internal(err)
	}
	db.stopListening = stop
	return nil
}

// changed records that tx makes change c, for its commit to announce.
func (tx *Tx) changed(c formbuilder.Change) { tx.changes = append(tx.changes, c) }

// announce sends tx's changes to the other processes, inside tx, where the
// engine can (they are delivered at the commit); call it just before
// committing.
func (db *DB) announce(ctx context.Context, tx *Tx) error {
	if len(tx.changes) == 0 || !db.d.Notifies() {
		return nil
	}
	for _, p := range EncodeChanges(tx.changes) {
		if err := db.d.Notify(ctx, tx, p); err != nil {
			return err
		}
	}
	return nil
}

// committed delivers tx's changes in this process after its commit, on an
// engine that does not notify (SQLite); with NOTIFY the listener delivers
// them, to this process too.
func (db *DB) committed(tx *Tx) {
	if !db.d.Notifies() {
		db.feed.Deliver(tx.changes...)
	}
}

// MaxPayload is the most bytes EncodeChanges puts in one payload:
// PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more.
const MaxPayload = 7900

// EncodeChanges writes changes as short text payloads of ids and keys, as
// few as fit in MaxPayload bytes each: a change is one word, words are
// separated by spaces. Resyncs are local and not encoded.
func EncodeChanges(changes []formbuilder.Change) []string {
	var out []string
	var b strings.Builder
	for _, c := range changes {
		var w []byte
		switch c.Kind {
		case formbuilder.ChangeChat:
			w = append(w, 'c')
			w = strconv.AppendInt(w, c.ID, 10)
			for _, n := range []int64{c.ChannelID, c.FirstMessage, c.LastMessage} {
				w = strconv.AppendInt(append(w, ','), n, 10)
			}
			if c.StateChanged {
				w = append(w, ",s"...)
			}
		case formbuilder.ChangeForm:
			w = strconv.AppendInt(append(w, 'f'), c.ID, 10)
			w = append(append(w, ','), c.Key...)
		case formbuilder.ChangeForms:
			w = append(w, 'F')
		case formbuilder.ChangeSettings:
			w = append(w, 's')
		default:
			continue
		}
		if b.Len() > 0 && b.Len()+1+len(w) > MaxPayload {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.Write(w)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// DecodeChanges reads a payload of EncodeChanges. A word it does not know
// (a newer server's) becomes a ChangeResync, which is always safe.
func DecodeChanges(p string) []formbuilder.Change {
	var out []formbuilder.Change
	for _, w := range strings.Fields(p) {
		c, ok := decodeChange(w)
		if !ok {
			c = formbuilder.Change{Kind: formbuilder.ChangeResync}
		}
		out = append(out, c)
	}
	return out
}

func decodeChange(w string) (formbuilder.Change, bool) {
	switch w[0] {
	case 'F':
		return formbuilder.Change{Kind: formbuilder.ChangeForms}, w == "F"
	case 's':
		return formbuilder.Change{Kind: formbuilder.ChangeSettings}, w == "s"
	case 'f':
		id, key, ok := strings.Cut(w[1:], ",")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil || !formbuilder.ValidFormKey(key) {
			return formbuilder.Change{}, false
		}
		return formbuilder.Change{Kind: formbuilder.ChangeForm, ID: n, Key: key}, true
	case 'c':
		parts := strings.Split(w[1:], ",")
		c := formbuilder.Change{Kind: formbuilder.ChangeChat}
		if len(parts) == 5 && parts[4] == "s" {
			c.StateChanged = true
			parts = parts[:4]
		}
		if len(parts) != 4 {
			return formbuilder.Change{}, false
		}
		var ns [4]int64
		for i, s := range parts {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return formbuilder.Change{}, false
			}
			ns[i] = n
		}
		c.ID, c.ChannelID, c.FirstMessage, c.LastMessage = ns[0], ns[1], ns[2], ns[3]
		return c, true
	}
	return formbuilder.Change{}, false
}
