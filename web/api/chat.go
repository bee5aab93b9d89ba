package api

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// The chat in the JSON API: channels (with an inline new consent, as in the
// admin UI), conversations and operator replies. Held messages are never
// part of an answer: operators, through any door, see only what the
// visitor agreed to send.

// channelRequest is the body of POST /channels and PUT /channels/:id. The
// read-only members of a channel as GET returns it are accepted and ignored.
type channelRequest struct {
	Name             string   `json:"name"`
	Language         string   `json:"language"`
	OperatorIDs      []int64  `json:"operator_ids"`
	WarnPersonalData bool     `json:"warn_personal_data"`
	ConsentID        int64    `json:"consent_id"`
	AllowedOrigins   []string `json:"allowed_origins"`
	Archived         bool     `json:"archived"`
	// NewConsent, when given, is created and used as the channel's
	// consent; consent_id must then be empty.
	NewConsent *consentRequest `json:"new_consent"`

	ID        json.RawMessage `json:"id"`
	Key       json.RawMessage `json:"key"`
	Consent   json.RawMessage `json:"consent"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

// apply fills ch from the request; with new_consent it stores the consent
// once everything else is valid.
func (s *Server) applyChannelRequest(c *fiber.Ctx, req *channelRequest, ch *formbuilder.Channel) error {
	ch.Name = strings.TrimSpace(req.Name)
	ch.Language = req.Language
	ch.OperatorIDs = req.OperatorIDs
	ch.WarnPersonalData = req.WarnPersonalData
	ch.ConsentID = req.ConsentID
	ch.Archived = req.Archived
	ch.AllowedOrigins = []string{}
	for _, o := range req.AllowedOrigins {
		if n, err := formbuilder.NormalizeOrigin(o); err == nil {
			o = n
		}
		ch.AllowedOrigins = append(ch.AllowedOrigins, o)
	}
	if req.NewConsent == nil {
		return ch.Validate()
	}
	errs := map[string]formbuilder.Msg{}
	if req.ConsentID != 0 {
		errs["consent_id"] = formbuilder.M(formbuilder.MsgConsentIDWithNew)
	}
	if req.NewConsent.Language == "" {
		req.NewConsent.Language = req.Language
	}
	co, content, _, cerr := s.apiConsentContent(req.NewConsent)
	for k, m := range formbuilder.ErrorFieldMsgs(cerr) {
		errs["new_consent."+k] = m
	}
	ch.ConsentID = 1 // a stand-in until the consent exists
	for k, m := range formbuilder.ErrorFieldMsgs(ch.Validate()) {
		errs[k] = m
	}
	if errs["operator_ids"].IsZero() {
		// Checked before the consent is stored, so a refusal leaves none.
		msg, err := s.office.CheckOperators(c.UserContext(), ch.OperatorIDs)
		if err != nil {
			return err
		}
		if !msg.IsZero() {
			errs["operator_ids"] = msg
		}
	}
	if err := formbuilder.FieldErrors(errs); err != nil {
		return err
	}
	if err := s.svc.Consents.CreateConsent(c.UserContext(), co, content, apiAuthor(c)); err != nil {
		return err
	}
	backoffice.NoteConsent(c, "create", co, 0)
	ch.ConsentID = co.ID
	return nil
}

func (s *Server) apiChannel(c *fiber.Ctx) (*formbuilder.Channel, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgChannelNotFound)
	}
	ch, err := s.svc.Chat.FindChannelByID(c.UserContext(), id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgChannelNotFound)
	}
	return ch, err
}

func (s *Server) apiListChannels(c *fiber.Ctx) error {
	list, err := s.svc.Chat.ListChannels(c.UserContext())
	if err != nil {
		return err
	}
	if list == nil {
		list = []*formbuilder.Channel{}
	}
	return c.JSON(fiber.Map{"channels": list})
}

func (s *Server) apiGetChannel(c *fiber.Ctx) error {
	ch, err := s.apiChannel(c)
	if err != nil {
		return err
	}
	return c.JSON(ch)
}

func (s *Server) apiCreateChannel(c *fiber.Ctx) error {
	var req channelRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	ch := &formbuilder.Channel{}
	if err := s.applyChannelRequest(c, &req, ch); err != nil {
		return err
	}
	if err := s.svc.Chat.CreateChannel(c.UserContext(), ch); err != nil {
		return err
	}
	backoffice.NoteChannel(c, "create", ch)
	c.Location("/api/v1/channels/" + strconv.FormatInt(ch.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(ch)
}

func (s *Server) apiUpdateChannel(c *fiber.Ctx) error {
	old, err := s.apiChannel(c)
	if err != nil {
		return err
	}
	var req channelRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	ch := &formbuilder.Channel{ID: old.ID, Key: old.Key}
	if err := s.applyChannelRequest(c, &req, ch); err != nil {
		return err
	}
	if err := s.svc.Chat.UpdateChannel(c.UserContext(), ch); err != nil {
		return err
	}
	backoffice.NoteChannel(c, "update", ch)
	return c.JSON(ch)
}

func (s *Server) apiListConversations(c *fiber.Ctx) error {
	var f formbuilder.ConversationFilter
	if v := c.Query("channel_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return formbuilder.FieldError("channel_id", formbuilder.MsgPositiveID)
		}
		f.ChannelID = id
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > formbuilder.MaxPageSize {
			return formbuilder.FieldError("limit", formbuilder.MsgPageSize, "max", strconv.Itoa(formbuilder.MaxPageSize))
		}
		f.Limit = n
	}
	list, err := s.svc.Chat.ListConversations(c.UserContext(), backoffice.ConversationFilter(c, f))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*formbuilder.Conversation{}
	}
	return c.JSON(fiber.Map{"conversations": list})
}

// apiConversation loads the conversation of :id (see operatorConversation).
func (s *Server) apiConversation(c *fiber.Ctx) (*formbuilder.Conversation, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgConversationMissing)
	}
	return s.office.OperatorConversation(c, id)
}

// apiGetConversation returns the conversation and its messages after
// ?after= (a page of at most 500; page on with the last id).
func (s *Server) apiGetConversation(c *fiber.Ctx) error {
	conv, err := s.apiConversation(c)
	if err != nil {
		return err
	}
	msgs, err := s.office.MessagesAfter(c, conv.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"conversation": conv, "messages": msgs})
}

// replyRequest is the body of POST /conversations/:id/messages.
type replyRequest struct {
	Text string `json:"text"`
}

// apiReply stores an operator reply sent through the API, as the token's
// user.
func (s *Server) apiReply(c *fiber.Ctx) error {
	conv, err := s.apiConversation(c)
	if err != nil {
		return err
	}
	var req replyRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	m := &formbuilder.Message{ConversationID: conv.ID, UserID: httpx.PrincipalOf(c).User.ID, Text: req.Text}
	if err := s.svc.Chat.AddOperatorMessage(c.UserContext(), m); err != nil {
		return err
	}
	backoffice.NoteConversation(c, "reply", conv, "message_id", strconv.FormatInt(m.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(m)
}
