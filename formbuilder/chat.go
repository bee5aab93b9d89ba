package formbuilder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Channel is a live-chat channel embedded with data-consentforms="chat/KEY".
type Channel struct {
	ID   int64  `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
	// Language picks the chat widget's texts.
	Language string `json:"language"`
	// OperatorIDs are the users who answer; the first is responsible when a
	// conversation is not assigned.
	OperatorIDs []int64 `json:"operator_ids"`
	// WarnPersonalData turns on the consent step: the visitor's first
	// message is held until they accept ConsentID.
	WarnPersonalData bool  `json:"warn_personal_data"`
	ConsentID        int64 `json:"consent_id,omitempty"`
	// Consent is loaded with its current version by storage.
	Consent        *Consent  `json:"consent,omitempty"`
	AllowedOrigins []string  `json:"allowed_origins"`
	Archived       bool      `json:"archived"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// MaxOperators bounds the operators of one channel.
const MaxOperators = 50

// Validate checks the channel definition.
func (c *Channel) Validate() error {
	errs := map[string]Msg{}
	if strings.TrimSpace(c.Name) == "" {
		errs["name"] = M(MsgRequired)
	} else if utf8.RuneCountInString(c.Name) > MaxNameLength {
		errs["name"] = M(MsgTooLong)
	}
	if !ValidLanguage(c.Language) {
		errs["language"] = M(MsgOneOf, "values", "de, en")
	}
	if c.Key != "" && !ValidFormKey(c.Key) {
		errs["key"] = M(MsgInvalidKey)
	}
	if c.WarnPersonalData && c.ConsentID <= 0 {
		errs["consent_id"] = M(MsgWarnNeedsConsent)
	}
	if c.ConsentID < 0 {
		errs["consent_id"] = M(MsgNotAConsentID)
	}
	if len(c.OperatorIDs) > MaxOperators {
		errs["operator_ids"] = M(MsgTooManyOperators)
	}
	seen := map[int64]bool{}
	for _, id := range c.OperatorIDs {
		if id <= 0 {
			errs["operator_ids"] = M(MsgUserIDs)
		} else if seen[id] {
			errs["operator_ids"] = M(MsgUserTwice)
		}
		seen[id] = true
	}
	if len(c.AllowedOrigins) > MaxOrigins {
		errs["allowed_origins"] = M(MsgTooManyOrigins)
	}
	for i, o := range c.AllowedOrigins {
		if _, err := NormalizeOrigin(o); err != nil {
			errs["allowed_origins."+itoa(i)] = M(MsgOrigin)
		}
	}
	return FieldErrors(errs)
}

// ResponsibleUserID is the operator a conversation defaults to.
func (c *Channel) ResponsibleUserID() int64 {
	if len(c.OperatorIDs) > 0 {
		return c.OperatorIDs[0]
	}
	return 0
}

// HasOperator reports whether user id is one of the channel's operators.
func (c *Channel) HasOperator(id int64) bool {
	for _, op := range c.OperatorIDs {
		if op == id {
			return true
		}
	}
	return false
}

// OriginAllowed reports whether origin may embed the chat; empty allows all.
func (c *Channel) OriginAllowed(origin string) bool {
	f := Form{AllowedOrigins: c.AllowedOrigins}
	return f.OriginAllowed(origin)
}

// AsksConsent reports whether a new conversation must wait for the consent:
// the switch is on and the consent with its current version is loaded.
func (c *Channel) AsksConsent() bool {
	return c.WarnPersonalData && c.ConsentID > 0
}

// Conversation states.
const (
	// ConvAwaitingConsent: the first message is held until the visitor
	// accepts or declines the consent.
	ConvAwaitingConsent = "awaiting_consent"
	// ConvOpen: messages flow both ways.
	ConvOpen = "open"
	// ConvDeclined: the visitor declined; no message is accepted until they
	// ask to be shown the consent again.
	ConvDeclined = "declined"
)

// Conversation is one visitor's chat in a channel.
type Conversation struct {
	ID        int64 `json:"id"`
	ChannelID int64 `json:"channel_id"`
	// VisitorHash is the SHA-256 of the visitor id (see VisitorHash): the
	// id is the visitor's bearer secret, so storage keeps only its hash.
	VisitorHash string `json:"-"`
	State       string `json:"state"`
	// HeldMessage is the first message while consent is pending; it is
	// never shown to operators before acceptance.
	HeldMessage string `json:"-"`
	// AssignedUserID is the operator handling the conversation.
	AssignedUserID int64  `json:"assigned_user_id,omitempty"`
	PageURL        string `json:"page_url,omitempty"`
	// UnreadOperator counts visitor messages no operator has looked at.
	UnreadOperator int `json:"unread"`
	// ConsentRecordID is the consent log entry of the accepted consent.
	ConsentRecordID int64 `json:"consent_record_id,omitempty"`
	// LastMessageAt is the time of the newest delivered message; zero while
	// nothing was delivered (such conversations are not listed).
	LastMessageAt time.Time `json:"last_message_at"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// ConversationFilter selects conversations for the operators' lists.
type ConversationFilter struct {
	// ChannelID limits to one channel; 0 lists every channel.
	ChannelID int64
	// OperatorID, when set, limits to what that operator may see (see
	// User.MaySeeConversation): conversations of channels they are an
	// operator of, and conversations assigned to them.
	OperatorID int64
	// Limit bounds the page (PageLimit applies).
	Limit int
}

// Message senders.
const (
	SenderVisitor  = "visitor"
	SenderOperator = "operator"
	SenderSystem   = "system"
)

// MaxMessageLength bounds one chat message, in characters.
const MaxMessageLength = 4000

// Message is one chat message; Text is plain text, escaped wherever shown.
type Message struct {
	ID             int64     `json:"id"`
	ConversationID int64     `json:"conversation_id"`
	Sender         string    `json:"sender"`
	UserID         int64     `json:"user_id,omitempty"`
	Text           string    `json:"text"`
	CreatedAt      time.Time `json:"created_at"`
}

// ValidateMessageText trims and checks a message's text.
func ValidateMessageText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", FieldError("text", MsgNotUTF8)
	}
	s = strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
	if s == "" {
		return "", FieldError("text", MsgRequired)
	}
	if utf8.RuneCountInString(s) > MaxMessageLength {
		max := strconv.Itoa(MaxMessageLength)
		return "", &Error{Code: ETOOLARGE, Msg: M(MsgMessageTooLong, "max", max),
			Fields: map[string]Msg{"text": M(MsgTooLongMax, "max", max)}}
	}
	return s, nil
}

// CheckPageURL returns s when it is empty or an http(s) URL of at most
// MaxPageURL bytes (the page the chat is embedded in, for the log), else a
// field error named page_url.
func CheckPageURL(s string) (string, error) {
	if s == "" || (len(s) <= MaxPageURL && validHTTPURL(s)) {
		return s, nil
	}
	return "", FieldError("page_url", MsgPageURL)
}

// VisitorIDLength is the length of a visitor id: 32 lower-case hex digits,
// 128 random bits made by the chat widget.
const VisitorIDLength = 32

// ValidVisitorID reports whether id has the shape of a visitor id, so that
// handlers refuse anything else before touching storage.
func ValidVisitorID(id string) bool { return lowerHex(id, VisitorIDLength) }

// VisitorHash is what storage keeps of a visitor id: its hex SHA-256. The id
// works like a password for the conversation, so a copy of the database
// must not let anyone read or write as the visitor.
func VisitorHash(visitorID string) string {
	sum := sha256.Sum256([]byte("consentforms/visitor/v1\n" + visitorID))
	return hex.EncodeToString(sum[:])
}

// Disposition is what happens to a visitor's message.
type Disposition int

// Dispositions of a visitor's message.
const (
	// Deliver stores the message for the operators (and, in a conversation
	// that waited for a consent the channel no longer asks, the held one
	// before it).
	Deliver Disposition = iota + 1
	// Hold keeps the message out of the operators' sight until the visitor
	// answers the consent.
	Hold
)

// DisposeVisitorMessage decides, from the conversation's state, what
// happens to a new visitor message in channel ch. It returns EFORBIDDEN after
// a refusal (the visitor must reopen first) and ECONFLICT while a held
// message waits for the visitor's answer: nothing may pass the consent step.
func DisposeVisitorMessage(c *Conversation, ch *Channel) (Disposition, error) {
	switch c.State {
	case ConvOpen:
		return Deliver, nil
	case ConvAwaitingConsent:
		if !ch.AsksConsent() {
			// The switch was turned off since: nothing to wait for.
			return Deliver, nil
		}
		if c.HeldMessage != "" {
			return 0, NewError(ECONFLICT, MsgAnswerConsentFirst)
		}
		return Hold, nil
	case ConvDeclined:
		return 0, NewError(EFORBIDDEN, MsgDeclinedConsent)
	}
	return 0, Internal(errors.New("unknown conversation state " + c.State))
}

// InitialState is the state a new conversation in ch starts in.
func InitialState(ch *Channel) string {
	if ch.AsksConsent() {
		return ConvAwaitingConsent
	}
	return ConvOpen
}

// VisitorPost is a message a visitor sends.
type VisitorPost struct {
	// VisitorID is the visitor's raw id; storage keeps only VisitorHash.
	VisitorID string
	Text      string
	PageURL   string
}

// VisitorPostResult is the outcome of PostVisitorMessage.
type VisitorPostResult struct {
	Conversation *Conversation
	// Delivered are the messages stored for the operators, oldest first:
	// none when the text was held.
	Delivered []*Message
	// Created reports that the conversation was started by this post.
	Created bool
}

// ChatService stores channels, conversations and messages. The consent
// step is enforced here, inside the storage transactions, so no request
// ordering can deliver a message past it: every call that changes a
// conversation reads it under a lock that orders it after every other
// change of that conversation (SQLite: the one writer; PostgreSQL: a row
// lock, taken after the log's chain lock when the call appends), decides
// with DisposeVisitorMessage, CheckAccept, CheckDecline, ReopenedState or
// CheckOperatorReply, and writes in the same transaction. A visitor's
// first message creates the conversation exactly once, however many race
// (an insert that yields to an existing row).
type ChatService interface {
	// CreateChannel sets ID, Key (when empty) and the times. EINVALID.
	CreateChannel(ctx context.Context, c *Channel) error
	// UpdateChannel replaces the settings of channel c.ID (not its key).
	// EINVALID, ENOTFOUND.
	UpdateChannel(ctx context.Context, c *Channel) error
	// FindChannelByID and FindChannelByKey return the channel with its
	// consent and that consent's current version. ENOTFOUND.
	FindChannelByID(ctx context.Context, id int64) (*Channel, error)
	FindChannelByKey(ctx context.Context, key string) (*Channel, error)
	ListChannels(ctx context.Context) ([]*Channel, error)

	// PostVisitorMessage finds or creates the visitor's conversation in ch
	// and delivers or holds the text as DisposeVisitorMessage decides, in
	// one transaction. EFORBIDDEN (declined), ECONFLICT (consent pending).
	PostVisitorMessage(ctx context.Context, ch *Channel, p VisitorPost) (*VisitorPostResult, error)
	// FindVisitorConversation returns the conversation of a visitor id in a
	// channel. ENOTFOUND before the visitor's first message.
	FindVisitorConversation(ctx context.Context, channelID int64, visitorID string) (*Conversation, error)
	FindConversation(ctx context.Context, id int64) (*Conversation, error)
	// ListConversations returns conversations with at least one delivered
	// message, most recent activity first.
	ListConversations(ctx context.Context, f ConversationFilter) ([]*Conversation, error)
	// AcceptConsent delivers the held message, opens the conversation and
	// appends rec (a given consent with ChannelID set) to the consent log,
	// all in one transaction; it sets rec's id, time and hashes, its IP as
	// the settings' IP mode is at the commit, and the conversation's
	// ConsentRecordID. ECONFLICT when nothing is held or the
	// consent has a newer version than rec names.
	AcceptConsent(ctx context.Context, conversationID int64, rec *ConsentRecord) (*Message, error)
	// DeclineConsent drops the held message and refuses further messages.
	// Nothing is logged. ECONFLICT unless the conversation awaits consent.
	DeclineConsent(ctx context.Context, conversationID int64) (*Conversation, error)
	// ReopenConversation lets a visitor who declined be asked again: the
	// state becomes InitialState(ch). Other states are returned unchanged.
	ReopenConversation(ctx context.Context, ch *Channel, conversationID int64) (*Conversation, error)
	// AddOperatorMessage stores an operator's reply and assigns the
	// conversation to m.UserID when it has no operator yet. ECONFLICT unless
	// the conversation is open.
	AddOperatorMessage(ctx context.Context, m *Message) error
	// AssignConversation sets the operator handling a conversation; 0
	// unassigns. ENOTFOUND, EINVALID (unknown user).
	AssignConversation(ctx context.Context, conversationID, userID int64) error
	// ListMessages returns up to limit (PageLimit) delivered messages with
	// ID > afterID, oldest first.
	ListMessages(ctx context.Context, conversationID, afterID int64, limit int) ([]*Message, error)
	// MarkRead sets the operators' unread count to zero.
	MarkRead(ctx context.Context, conversationID int64) error
}
