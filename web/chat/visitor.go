package chat

import (
	"context"
	"strconv"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/chatlive"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// The chat's visitor side: the page the launcher's iframe shows and the
// JSON API chat.js talks to (the protocol is documented in widget/chat.go).
// The visitor id is the conversation's bearer secret: every call names it,
// storage keeps only its hash, and nothing here tells a wrong id from a
// conversation that does not exist.

// maxChatBody bounds a visitor post: the longest message, JSON-escaped at
// six bytes a character for the worst case, and a page URL fit easily.
const maxChatBody = 32 << 10

// errChatOff answers every chat route of an app wired without a
// ChatService (tests of other parts build such apps).
var errChatOff = formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgChatOff)

// loadChannel returns the channel of the :key parameter, refusing keys
// that cannot exist before any storage lookup.
func (s *Server) loadChannel(c *fiber.Ctx) (*formbuilder.Channel, error) {
	if s.svc.Chat == nil {
		return nil, errChatOff
	}
	key := c.Params("key")
	if !formbuilder.ValidFormKey(key) {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgChatNotFound)
	}
	ch, err := s.svc.Chat.FindChannelByKey(c.UserContext(), key)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgChatNotFound)
	}
	if err != nil {
		return nil, err
	}
	// The channel's errors speak its language, as its pages do.
	httpx.SetLang(c, ch.Language)
	if ch.Archived {
		return nil, formbuilder.NewError(formbuilder.EGONE, formbuilder.MsgChatGone)
	}
	return ch, nil
}

// chatCSP is the policy of the chat pages: as for forms, framed only by
// the channel's allowed origins; scripts, styles and connections (fetch,
// EventSource) only to this server.
func chatCSP(ch *formbuilder.Channel) string {
	return httpx.PublicCSP(&formbuilder.Form{AllowedOrigins: ch.AllowedOrigins})
}

func (s *Server) handleChatPage(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	st := widget.ChatPageState{Embed: c.Query("embed") == "1", PageURL: c.Query("page")}
	// Only an allowed origin is reflected into the page as the target of
	// its postMessages.
	if o := c.Query("origin"); o != "" && ch.OriginAllowed(o) {
		st.Origin = o
	}
	page, err := s.Widget.ChatPage(ch, st)
	if err != nil {
		return formbuilder.Internal(err)
	}
	httpx.SetPublicPageHeaders(c, chatCSP(ch))
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(page)
}

// handleChatConsentPage shows the channel's consent text on its own, for
// the "read the full text" link.
func (s *Server) handleChatConsentPage(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	page, err := s.Widget.ChatConsentPage(ch)
	if err != nil {
		return formbuilder.Internal(err)
	}
	httpx.SetPublicPageHeaders(c, httpx.PublicCSP(nil))
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(page)
}

// chatRequest is the body of every visitor post; each route reads the
// members it needs.
type chatRequest struct {
	VisitorID string `json:"visitor_id"`
	Text      string `json:"text"`
	PageURL   string `json:"page_url"`
	Decision  string `json:"decision"`
	VersionID int64  `json:"version_id"`
}

// loadChatRequest loads the channel of the path's key and reads the
// visitor's request to it.
func (s *Server) loadChatRequest(c *fiber.Ctx) (*formbuilder.Channel, *chatRequest, error) {
	ch, err := s.loadChannel(c)
	if err != nil {
		return nil, nil, err
	}
	req, err := s.readChatRequest(c, ch)
	if err != nil {
		return nil, nil, err
	}
	return ch, req, nil
}

// readChatRequest checks the origin and reads a visitor post strictly
// (httpx.DecodeJSON): JSON, UTF-8, no repeated or unknown members, a
// visitor id of the right shape.
func (s *Server) readChatRequest(c *fiber.Ctx, ch *formbuilder.Channel) (*chatRequest, error) {
	if err := s.checkChatOrigin(c); err != nil {
		return nil, err
	}
	var req chatRequest
	if err := httpx.ReadJSON(c, maxChatBody, &req); err != nil {
		if formbuilder.ErrorCode(err) == formbuilder.ETOOLARGE {
			return nil, formbuilder.NewError(formbuilder.ETOOLARGE, formbuilder.MsgChatTooLong)
		}
		return nil, err
	}
	if !formbuilder.ValidVisitorID(req.VisitorID) {
		return nil, formbuilder.FieldError("visitor_id", formbuilder.MsgVisitorID)
	}
	return &req, nil
}

// checkChatOrigin refuses posts a browser sends from any page but this
// server's own (the chat iframe): host pages never call the visitor API
// themselves, and no CORS header ever invites them to. Clients without an
// Origin header are no browser page and pass, as on form posts.
func (s *Server) checkChatOrigin(c *fiber.Ctx) error {
	o := c.Get(fiber.HeaderOrigin)
	if o == "" || httpx.IsSelfOrigin(c, s.BaseURL, o) {
		return nil
	}
	return formbuilder.NewError(formbuilder.EFORBIDDEN, formbuilder.MsgChatOriginRefused, "origin", httpx.SafeForMessage(o))
}

// visitorConversation finds the conversation of the visitor id; a missing
// one is ENOTFOUND.
func (s *Server) visitorConversation(ctx context.Context, ch *formbuilder.Channel, visitorID string) (*formbuilder.Conversation, error) {
	conv, err := s.svc.Chat.FindVisitorConversation(ctx, ch.ID, visitorID)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgNoVisitorConversation)
	}
	return conv, err
}

// chatError gives the refusals of the consent step the visitor's words;
// codes (and so statuses) stay as they are, and the answer speaks the
// channel's language (httpx.SetLang).
func chatError(err error) error {
	var msg formbuilder.MsgCode
	switch formbuilder.ErrorCode(err) {
	case formbuilder.EFORBIDDEN:
		msg = formbuilder.MsgChatRefused
	case formbuilder.ECONFLICT:
		msg = formbuilder.MsgChatPending
	case formbuilder.ETOOLARGE:
		msg = formbuilder.MsgChatTooLong
	default:
		return err
	}
	return &formbuilder.Error{Code: formbuilder.ErrorCode(err), Msg: formbuilder.M(msg),
		Fields: formbuilder.ErrorFieldMsgs(err), Err: err}
}

// chatHistory is the answer to a history read and to the visitor's posts.
type chatHistory struct {
	State       string                 `json:"state"`
	Held        string                 `json:"held,omitempty"`
	Messages    []*formbuilder.Message `json:"messages"`
	WithdrawURL string                 `json:"withdraw_url,omitempty"`
}

// stateNew is the state of a visitor who has not written yet.
const stateNew = "new"

func (s *Server) withdrawURL(conv *formbuilder.Conversation) string {
	if conv.ConsentRecordID == 0 {
		return ""
	}
	return s.Signer.WithdrawURL(s.BaseURL, conv.ConsentRecordID)
}

// messagesAfter lists a page of conversation convID's messages after the
// message id of ?after= (from the start when it is missing or invalid).
func (s *Server) messagesAfter(c *fiber.Ctx, convID int64) ([]*formbuilder.Message, error) {
	after, _ := strconv.ParseInt(c.Query("after"), 10, 64)
	return s.svc.Chat.ListMessages(c.UserContext(), convID, max(after, 0), formbuilder.MaxPageSize)
}

// handleChatHistory answers GET /c/KEY/messages: the visitor's
// conversation after message id after, with its state and held message.
func (s *Server) handleChatHistory(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	vid := c.Query("visitor_id")
	if !formbuilder.ValidVisitorID(vid) {
		return formbuilder.FieldError("visitor_id", formbuilder.MsgVisitorID)
	}
	conv, err := s.visitorConversation(c.UserContext(), ch, vid)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return c.JSON(chatHistory{State: stateNew, Messages: []*formbuilder.Message{}})
	}
	if err != nil {
		return err
	}
	msgs, err := s.messagesAfter(c, conv.ID)
	if err != nil {
		return err
	}
	return c.JSON(chatHistory{State: conv.State, Held: conv.HeldMessage, Messages: msgs, WithdrawURL: s.withdrawURL(conv)})
}

// handleChatPost answers POST /c/KEY/messages: 201 when the message was
// delivered, 202 when it is held for the consent.
func (s *Server) handleChatPost(c *fiber.Ctx) error {
	ch, req, err := s.loadChatRequest(c)
	if err != nil {
		return err
	}
	res, err := s.svc.Chat.PostVisitorMessage(c.UserContext(), ch,
		formbuilder.VisitorPost{VisitorID: req.VisitorID, Text: req.Text, PageURL: req.PageURL})
	if err != nil {
		return chatError(err)
	}
	conv := res.Conversation
	held := len(res.Delivered) == 0
	c.Set(fiber.HeaderCacheControl, "no-store")
	out := chatHistory{State: conv.State, Held: conv.HeldMessage, Messages: res.Delivered}
	if out.Messages == nil {
		out.Messages = []*formbuilder.Message{}
	}
	status := fiber.StatusCreated
	if held {
		status = fiber.StatusAccepted
	}
	return c.Status(status).JSON(out)
}

// chatConsentAnswer is the answer to the consent decision.
type chatConsentAnswer struct {
	State       string               `json:"state"`
	Message     *formbuilder.Message `json:"message,omitempty"`
	WithdrawURL string               `json:"withdraw_url,omitempty"`
	// Receipt is the signed receipt of the consent just given.
	Receipt string `json:"receipt,omitempty"`
}

// handleChatConsent answers POST /c/KEY/consent. Accepting delivers the
// held message and logs the consent (storage does both in one
// transaction); declining drops the message and logs nothing.
func (s *Server) handleChatConsent(c *fiber.Ctx) error {
	ch, req, err := s.loadChatRequest(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	conv, err := s.visitorConversation(ctx, ch, req.VisitorID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	switch req.Decision {
	case "decline":
		conv, err = s.svc.Chat.DeclineConsent(ctx, conv.ID)
		if err != nil {
			return err
		}
		return c.JSON(chatConsentAnswer{State: conv.State})
	case "accept":
	default:
		return formbuilder.FieldError("decision", formbuilder.MsgEither, "a", "accept", "b", "decline")
	}
	if !ch.AsksConsent() || ch.Consent == nil || ch.Consent.Current == nil {
		return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgChatConsentAbsent)
	}
	ver := ch.Consent.Current
	if req.VersionID <= 0 {
		return formbuilder.FieldError("version_id", formbuilder.MsgShownVersion)
	}
	if req.VersionID != ver.ID {
		return s.chatReload(c, ch)
	}
	pageURL, err := formbuilder.CheckPageURL(req.PageURL)
	if err != nil {
		return err
	}
	if pageURL == "" {
		pageURL = conv.PageURL
	}
	uid := conv.AssignedUserID
	if uid == 0 {
		uid = ch.ResponsibleUserID()
	}
	user := ""
	if uid != 0 {
		u, err := s.svc.Users.FindUserByID(ctx, uid)
		switch {
		case err == nil:
			user = u.DisplayName()
		case formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND:
			uid = 0
		default:
			return err
		}
	}
	rec := &formbuilder.ConsentRecord{
		Action:      formbuilder.ActionGiven,
		ConsentID:   ch.Consent.ID,
		ConsentName: ch.Consent.Name,
		VersionID:   ver.ID,
		VersionNo:   ver.Number,
		TextHash:    ver.Hash,
		ChannelID:   ch.ID,
		Source:      ch.Name,
		PageURL:     pageURL,
		UserID:      uid,
		User:        user,
		// Stored as the settings say when it commits (storage applies
		// the IP mode).
		IP:        s.ClientIP(c),
		UserAgent: c.Get(fiber.HeaderUserAgent),
		// The visitor was shown no pre-ticked box: pressing "accept" is the
		// active choice itself.
		InitialState: false,
		Interacted:   true,
	}
	msg, err := s.svc.Chat.AcceptConsent(ctx, conv.ID, rec)
	if formbuilder.ErrorCode(err) == formbuilder.ECONFLICT {
		// Nothing held any more (another tab answered) or the text changed
		// meanwhile: the page reloads and shows what is true now.
		return s.chatReload(c, ch)
	}
	if err != nil {
		return err
	}
	conv.State, conv.HeldMessage, conv.ConsentRecordID = formbuilder.ConvOpen, "", rec.ID
	ans := chatConsentAnswer{State: conv.State, Message: msg, WithdrawURL: s.withdrawURL(conv)}
	// A receipt that cannot be signed is logged: the consent is stored.
	if tok, err := s.IssueReceipt(rec, ver, formbuilder.CollectionMethod("chat", ch.Key), httpx.ChatData); err == nil {
		ans.Receipt = tok
	} else {
		s.Log.Error("consent receipt not signed", "entry", rec.ID, "err", err)
	}
	return c.JSON(ans)
}

// chatReload answers 409 with reload: true, which makes chat.js load the
// page again (and so the current consent text and state).
func (s *Server) chatReload(c *fiber.Ctx, ch *formbuilder.Channel) error {
	return c.Status(fiber.StatusConflict).JSON(fiber.Map{
		"error":  httpx.ErrorBody{Code: formbuilder.ECONFLICT, Message: widget.T(ch.Language, "chat_changed")},
		"reload": true,
	})
}

// handleChatReopen answers POST /c/KEY/consent/reopen: a visitor who
// declined is asked again with their next message.
func (s *Server) handleChatReopen(c *fiber.Ctx) error {
	ch, req, err := s.loadChatRequest(c)
	if err != nil {
		return err
	}
	conv, err := s.visitorConversation(c.UserContext(), ch, req.VisitorID)
	if err != nil {
		return err
	}
	conv, err = s.svc.Chat.ReopenConversation(c.UserContext(), ch, conv.ID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(chatHistory{State: conv.State, Messages: []*formbuilder.Message{}})
}

// handleChatEvents streams the visitor's conversation. Before the first
// message there is nothing to follow: 204 tells EventSource not to retry.
func (s *Server) handleChatEvents(c *fiber.Ctx) error {
	ch, err := s.loadChannel(c)
	if err != nil {
		return err
	}
	vid := c.Query("visitor_id")
	if !formbuilder.ValidVisitorID(vid) {
		return formbuilder.FieldError("visitor_id", formbuilder.MsgVisitorID)
	}
	conv, err := s.visitorConversation(c.UserContext(), ch, vid)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return c.SendStatus(fiber.StatusNoContent)
	}
	if err != nil {
		return err
	}
	after := chatlive.LastEventID(c)
	state := chatlive.JSONEvent("state", 0, chatlive.StateJSON{State: conv.State, Held: conv.HeldMessage})
	return s.hub.Serve(c, s.Base, chatlive.Topic{ID: conv.ID}, chatlive.Replay(s.svc.Chat, conv.ID, after), state)
}
