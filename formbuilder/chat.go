package formbuilder

import (
	"context"
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

// Validate checks the channel definition.
func (c *Channel) Validate() error {
	errs := map[string]string{}
	if strings.TrimSpace(c.Name) == "" {
		errs["name"] = "is required"
	} else if utf8.RuneCountInString(c.Name) > MaxNameLength {
		errs["name"] = "is too long"
	}
	if !ValidLanguage(c.Language) {
		errs["language"] = "must be one of de, en"
	}
	if c.Key != "" && !ValidFormKey(c.Key) {
		errs["key"] = "is not a valid key"
	}
	if c.WarnPersonalData && c.ConsentID <= 0 {
		errs["consent_id"] = "is required when the personal-data warning is on"
	}
	for i, o := range c.AllowedOrigins {
		if _, err := NormalizeOrigin(o); err != nil {
			errs["allowed_origins."+itoa(i)] = "must be an origin like https://example.com"
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

// OriginAllowed reports whether origin may embed the chat; empty allows all.
func (c *Channel) OriginAllowed(origin string) bool {
	f := Form{AllowedOrigins: c.AllowedOrigins}
	return f.OriginAllowed(origin)
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
	ID        int64  `json:"id"`
	ChannelID int64  `json:"channel_id"`
	VisitorID string `json:"-"`
	State     string `json:"state"`
	// HeldMessage is the first message while consent is pending; it is
	// never shown to operators before acceptance.
	HeldMessage string `json:"-"`
	// AssignedUserID is the operator handling the conversation.
	AssignedUserID int64     `json:"assigned_user_id,omitempty"`
	PageURL        string    `json:"page_url,omitempty"`
	UnreadOperator int       `json:"unread"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
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
		return "", FieldErrors(map[string]string{"text": "is not valid UTF-8"})
	}
	s = strings.TrimSpace(strings.ReplaceAll(s, "\x00", ""))
	if s == "" {
		return "", FieldErrors(map[string]string{"text": "is required"})
	}
	if utf8.RuneCountInString(s) > MaxMessageLength {
		return "", FieldErrors(map[string]string{"text": "is too long (at most 4000 characters)"})
	}
	return s, nil
}

// ChatService stores channels, conversations and messages.
type ChatService interface {
	CreateChannel(ctx context.Context, c *Channel) error
	UpdateChannel(ctx context.Context, c *Channel) error
	FindChannelByID(ctx context.Context, id int64) (*Channel, error)
	FindChannelByKey(ctx context.Context, key string) (*Channel, error)
	ListChannels(ctx context.Context) ([]*Channel, error)

	// FindOrCreateConversation returns the visitor's conversation in a
	// channel, creating it in state initial.
	FindOrCreateConversation(ctx context.Context, channelID int64, visitorID, initial, pageURL string) (*Conversation, error)
	FindConversation(ctx context.Context, id int64) (*Conversation, error)
	ListConversations(ctx context.Context, channelID int64) ([]*Conversation, error)
	// SetConversationState changes state and the held message in one step.
	SetConversationState(ctx context.Context, id int64, state, held string) error
	AddMessage(ctx context.Context, m *Message) error
	// AcceptConsent delivers the held message, opens the conversation and
	// appends the consent record, all in one transaction.
	AcceptConsent(ctx context.Context, conversationID int64, rec *ConsentRecord) (*Message, error)
	// ListMessages returns messages with ID > afterID, oldest first.
	ListMessages(ctx context.Context, conversationID, afterID int64) ([]*Message, error)
	MarkRead(ctx context.Context, conversationID int64) error
}
