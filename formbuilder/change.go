package formbuilder

// Change notifications
//
// A server process keeps a few things in memory that other processes can
// change: rendered form pages, the settings, the open chat streams. Storage
// tells every process about such changes through a ChangeFeed. A change
// names what changed by ids and keys only, never the data: the subscriber
// reads the rows again (a chat message can be 4,000 characters, and a
// notification that carried it could be stale or too large).

// ChangeKind says what a Change is about.
type ChangeKind uint8

// The kinds of change.
const (
	// ChangeResync says that changes may have been missed: the backend's
	// listener lost its connection, or the subscriber fell behind.
	// Everything read from storage and kept must be read again; streams
	// that follow storage must replay from it.
	ChangeResync ChangeKind = iota + 1
	// ChangeChat: in conversation ID of channel ChannelID, the messages
	// FirstMessage to LastMessage were delivered (none when 0), and its
	// state or held message changed when StateChanged.
	ChangeChat
	// ChangeForm: the form ID with Key was changed or (un)archived, so its
	// rendered page is stale.
	ChangeForm
	// ChangeForms: any form may render differently (a consent changed,
	// and every form attaching it got a new version).
	ChangeForms
	// ChangeSettings: the installation's settings were saved.
	ChangeSettings
)

// Change is one notification of a committed change.
type Change struct {
	Kind ChangeKind
	// ID is the conversation (ChangeChat) or form (ChangeForm).
	ID int64
	// ChannelID is the conversation's channel (ChangeChat).
	ChannelID int64
	// Key is the form's key (ChangeForm).
	Key string
	// FirstMessage and LastMessage bound the ids of the messages a
	// ChangeChat delivered. Messages of one conversation are numbered in
	// the order they commit, so the range holds exactly those messages.
	FirstMessage, LastMessage int64
	// StateChanged: the conversation's state or held message changed.
	StateChanged bool
}

// ChangeFeed delivers change notifications to the processes serving one
// database. Every backend guarantees:
//
//   - A change is delivered only after the transaction that made it
//     committed, so a subscriber that reads the rows again sees it; a
//     transaction that rolls back delivers nothing.
//   - Every change committed after SubscribeChanges returned is delivered
//     to fn, or, where one may have been lost, a ChangeResync follows the
//     gap. SQLite delivers the changes of its one server process, in
//     memory; PostgreSQL delivers the changes of every process on the
//     database (LISTEN/NOTIFY on one dedicated connection per process,
//     and a ChangeResync after that connection was lost and re-made).
//   - fn is called for one change at a time, from one goroutine per
//     subscription, in commit order. A slow fn delays its own
//     subscription only; should its queue overflow, it gets a
//     ChangeResync instead of the changes that did not fit.
//   - Delivery is asynchronous: when a write returns, other processes may
//     not have heard of it yet. What must hold the moment a write returns
//     (no full IP address stored once IPTruncated is saved) is guaranteed
//     by the storage transactions themselves, not by the feed.
type ChangeFeed interface {
	// SubscribeChanges calls fn for every change until stop is called.
	// It returns once the feed is listening, or with an error (EINTERNAL)
	// when it cannot listen.
	SubscribeChanges(fn func(Change)) (stop func(), err error)
}
