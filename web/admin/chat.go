package admin

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/chatlive"
	"github.com/gofiber/fiber/v2"
)

// The chat in the admin UI: channels (settings, embed code, their received
// consents) and the operators' conversations (list with unread counts, a
// conversation view with live updates and a reply form). Pages work without
// JavaScript; chat_admin.js adds live updates (SSE, polling when that
// fails) and sends replies without reloading.

// newConsentID is the consent select's value for "create one below".
const newConsentID = "new"

// channelInput is the channel editor as typed.
type channelInput struct {
	Name, Language, AllowedOrigins string
	ResponsibleID                  int64
	OperatorIDs                    map[int64]bool
	Warn, Archived                 bool
	// ConsentID is a consent id, "" (none) or newConsentID.
	ConsentID string
	New       consentInput
}

func channelInputOf(ch *formbuilder.Channel) channelInput {
	in := channelInput{Name: ch.Name, Language: ch.Language, AllowedOrigins: strings.Join(ch.AllowedOrigins, "\n"),
		Warn: ch.WarnPersonalData, Archived: ch.Archived, OperatorIDs: map[int64]bool{},
		ResponsibleID: ch.ResponsibleUserID()}
	for _, id := range ch.OperatorIDs[min(1, len(ch.OperatorIDs)):] {
		in.OperatorIDs[id] = true
	}
	if ch.ConsentID > 0 {
		in.ConsentID = strconv.FormatInt(ch.ConsentID, 10)
	}
	return in
}

func parseChannelInput(c *fiber.Ctx) channelInput {
	in := channelInput{
		Name:           strings.TrimSpace(c.FormValue("name")),
		Language:       c.FormValue("language"),
		AllowedOrigins: c.FormValue("allowed_origins"),
		Warn:           c.FormValue("warn_personal_data") == "1",
		Archived:       c.FormValue("archived") == "1",
		ConsentID:      strings.TrimSpace(c.FormValue("consent_id")),
		OperatorIDs:    map[int64]bool{},
		New: consentInput{
			Name:    strings.TrimSpace(c.FormValue("new_consent_name")),
			Type:    string(formbuilder.ConsentCustom),
			Label:   strings.TrimSpace(c.FormValue("new_consent_label")),
			Text:    strings.TrimSpace(c.FormValue("new_consent_text")),
			LinkURL: strings.TrimSpace(c.FormValue("new_consent_link_url")),
		},
	}
	in.ResponsibleID, _ = strconv.ParseInt(c.FormValue("responsible_id"), 10, 64)
	for _, v := range c.Context().PostArgs().PeekMulti("operator_ids") {
		if id, err := strconv.ParseInt(string(v), 10, 64); err == nil && id > 0 {
			in.OperatorIDs[id] = true
		}
	}
	return in
}

// apply copies the input into ch and returns the parse errors by input id.
func (in channelInput) apply(ch *formbuilder.Channel) map[string]formbuilder.Msg {
	errs := map[string]formbuilder.Msg{}
	ch.Name, ch.Language, ch.WarnPersonalData, ch.Archived = in.Name, in.Language, in.Warn, in.Archived
	ch.AllowedOrigins = []string{}
	for _, o := range splitLines(in.AllowedOrigins) {
		if n, err := formbuilder.NormalizeOrigin(o); err == nil {
			o = n
		}
		ch.AllowedOrigins = append(ch.AllowedOrigins, o)
	}
	// The responsible operator goes first; the others follow in id order.
	ch.OperatorIDs = []int64{}
	if in.ResponsibleID > 0 {
		ch.OperatorIDs = append(ch.OperatorIDs, in.ResponsibleID)
	}
	ids := make([]int64, 0, len(in.OperatorIDs))
	for id := range in.OperatorIDs {
		if id != in.ResponsibleID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ch.OperatorIDs = append(ch.OperatorIDs, ids...)
	ch.ConsentID = 0
	switch in.ConsentID {
	case "", "0", newConsentID:
	default:
		id, err := strconv.ParseInt(in.ConsentID, 10, 64)
		if err != nil || id <= 0 {
			errs["consent_id"] = formbuilder.M(formbuilder.MsgNotAConsent)
		}
		ch.ConsentID = id
	}
	return errs
}

// channelEditView is the data of the channel editor.
type channelEditView struct {
	Channel  *formbuilder.Channel // nil on the new-channel page
	In       channelInput
	Users    []*formbuilder.User
	Consents []*formbuilder.Consent
	Embed    string
	Unread   int
}

func (s *Server) channelView(ctx context.Context, ch *formbuilder.Channel, in channelInput) (*channelEditView, error) {
	users, err := s.svc.Users.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	consents, err := s.svc.Consents.ListConsents(ctx)
	if err != nil {
		return nil, err
	}
	v := &channelEditView{Channel: ch, In: in, Users: users, Consents: consents}
	if ch != nil {
		v.Embed = `<script src="` + s.BaseURL + `/embed.js" data-consentforms="chat/` + ch.Key + `" async></script>`
	}
	return v, nil
}

// chatOn refuses the chat pages of an app wired without chat.
func (s *Server) chatOn(c *fiber.Ctx) error {
	if s.svc.Chat == nil {
		return backoffice.ErrChatOff
	}
	return c.Next()
}

// channelListView is the data of the channel list.
type channelListView struct {
	Channels []*channelRow
}

type channelRow struct {
	*formbuilder.Channel
	Operators string
	Unread    int
}

func (s *Server) handleChannelList(c *fiber.Ctx) error {
	ctx := c.UserContext()
	chs, err := s.svc.Chat.ListChannels(ctx)
	if err != nil {
		return err
	}
	names, err := s.userNames(ctx)
	if err != nil {
		return err
	}
	unread, err := s.unreadByChannel(ctx)
	if err != nil {
		return err
	}
	v := &channelListView{}
	for _, ch := range chs {
		var ops []string
		for _, id := range ch.OperatorIDs {
			ops = append(ops, names[id])
		}
		v.Channels = append(v.Channels, &channelRow{Channel: ch, Operators: strings.Join(ops, ", "), Unread: unread[ch.ID]})
	}
	return s.render(c, fiber.StatusOK, "channels", &view{Title: s.tr(c, "channels.title"), Nav: "chat", Data: v})
}

// userNames maps user ids to display names.
func (s *Server) userNames(ctx context.Context) (map[int64]string, error) {
	users, err := s.svc.Users.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(users))
	for _, u := range users {
		out[u.ID] = u.DisplayName()
	}
	return out, nil
}

// unreadByChannel sums the unread messages of the most recent
// conversations per channel.
func (s *Server) unreadByChannel(ctx context.Context) (map[int64]int, error) {
	convs, err := s.svc.Chat.ListConversations(ctx, formbuilder.ConversationFilter{Limit: formbuilder.MaxPageSize})
	if err != nil {
		return nil, err
	}
	out := map[int64]int{}
	for _, cv := range convs {
		out[cv.ChannelID] += cv.UnreadOperator
	}
	return out, nil
}

func (s *Server) handleChannelNew(c *fiber.Ctx) error {
	in := channelInput{Language: "en", ResponsibleID: currentAdmin(c).user.ID, OperatorIDs: map[int64]bool{},
		Warn: true, New: consentInput{Type: string(formbuilder.ConsentCustom)}}
	v, err := s.channelView(c.UserContext(), nil, in)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "channel_edit", &view{Title: s.tr(c, "channel.new_title"), Nav: "chat", Data: v})
}

// saveChannel validates the input, creates the inline consent when asked
// to and stores the channel. It returns the errors to show by input id.
func (s *Server) saveChannel(c *fiber.Ctx, ch *formbuilder.Channel, in channelInput) (map[string]formbuilder.Msg, bool, error) {
	ctx := c.UserContext()
	errs := in.apply(ch)
	var newConsent *formbuilder.Consent
	var content formbuilder.ConsentContent
	if in.ConsentID == newConsentID {
		in.New.Language = in.Language
		var cerrs map[string]formbuilder.Msg
		newConsent, content, _, cerrs = s.consentContent(&in.New)
		for k, m := range cerrs {
			errs["new_consent-"+k] = m
		}
		// Validated with a stand-in id; the real one exists only after
		// the consent is stored, which waits until all else is valid.
		ch.ConsentID = -1
	}
	verr := ch.Validate()
	if ch.ConsentID == -1 {
		ch.ConsentID = 0
		fields := formbuilder.ErrorFieldMsgs(verr)
		delete(fields, "consent_id")
		verr = formbuilder.FieldErrors(fields)
	}
	mergeErrors(errs, verr)
	if newConsent != nil && errs["operator_ids"].IsZero() {
		// Storage checks the operators too, but only after the new
		// consent would exist: refuse first, so no stray consent is left.
		msg, err := s.office.CheckOperators(ctx, ch.OperatorIDs)
		if err != nil {
			return nil, false, err
		}
		if !msg.IsZero() {
			errs["operator_ids"] = msg
		}
	}
	if len(errs) > 0 {
		return errs, false, nil
	}
	if newConsent != nil {
		if err := s.svc.Consents.CreateConsent(ctx, newConsent, content, currentAdmin(c).user.Email); err != nil {
			if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
				return nil, false, err
			}
			for k, m := range fieldErrorsFor(err, "", "") {
				errs["new_consent-"+k] = m
			}
			return errs, false, nil
		}
		ch.ConsentID = newConsent.ID
		backoffice.NoteConsent(c, "create", newConsent, 0)
	}
	var err error
	action := "update"
	if ch.ID == 0 {
		action = "create"
		err = s.svc.Chat.CreateChannel(ctx, ch)
	} else {
		err = s.svc.Chat.UpdateChannel(ctx, ch)
	}
	if formbuilder.ErrorCode(err) == formbuilder.EINVALID {
		mergeErrors(errs, err)
		return errs, newConsent != nil, nil
	}
	if err == nil {
		backoffice.NoteChannel(c, action, ch)
	}
	return nil, newConsent != nil, err
}

func (s *Server) handleChannelCreate(c *fiber.Ctx) error {
	in := parseChannelInput(c)
	ch := &formbuilder.Channel{}
	errs, _, err := s.saveChannel(c, ch, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		v, err := s.channelView(c.UserContext(), nil, in)
		if err != nil {
			return err
		}
		return s.render(c, fiber.StatusUnprocessableEntity, "channel_edit", &view{Title: s.tr(c, "channel.new_title"),
			Nav: "chat", Errors: errs, Data: v})
	}
	return c.Redirect(channelURL(ch.ID, "channel-created"), fiber.StatusSeeOther)
}

func channelURL(id int64, msg string) string {
	u := "/admin/channels/" + strconv.FormatInt(id, 10)
	if msg != "" {
		u += "?msg=" + url.QueryEscape(msg)
	}
	return u
}

// adminChannel returns the channel of the :id parameter.
func (s *Server) adminChannel(c *fiber.Ctx) (*formbuilder.Channel, error) {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return nil, err
	}
	ch, err := s.svc.Chat.FindChannelByID(c.UserContext(), id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgChannelMissing)
	}
	return ch, err
}

func (s *Server) handleChannelEdit(c *fiber.Ctx) error {
	ch, err := s.adminChannel(c)
	if err != nil {
		return err
	}
	v, err := s.channelView(c.UserContext(), ch, channelInputOf(ch))
	if err != nil {
		return err
	}
	unread, err := s.unreadByChannel(c.UserContext())
	if err != nil {
		return err
	}
	v.Unread = unread[ch.ID]
	return s.render(c, fiber.StatusOK, "channel_edit", &view{Title: ch.Name, Nav: "chat", Data: v})
}

func (s *Server) handleChannelSave(c *fiber.Ctx) error {
	old, err := s.adminChannel(c)
	if err != nil {
		return err
	}
	in := parseChannelInput(c)
	ch := &formbuilder.Channel{ID: old.ID, Key: old.Key}
	errs, created, err := s.saveChannel(c, ch, in)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		v, err := s.channelView(c.UserContext(), old, in)
		if err != nil {
			return err
		}
		return s.render(c, fiber.StatusUnprocessableEntity, "channel_edit", &view{Title: old.Name, Nav: "chat",
			Errors: errs, Data: v})
	}
	msg := "channel-saved"
	if created {
		msg = "channel-consent"
	}
	return c.Redirect(channelURL(ch.ID, msg), fiber.StatusSeeOther)
}

// conversationRow is one line of the conversation list.
type conversationRow struct {
	*formbuilder.Conversation
	Channel  string
	Assigned string
}

// conversationListView is the data of the conversation list.
type conversationListView struct {
	Rows      []conversationRow
	Channels  []*formbuilder.Channel
	ChannelID int64
	Channel   *formbuilder.Channel
	Script    string
}

func (s *Server) handleConversationList(c *fiber.Ctx) error {
	ctx := c.UserContext()
	v := &conversationListView{Script: s.chatJS}
	if q := c.Query("channel_id"); q != "" {
		id, err := strconv.ParseInt(q, 10, 64)
		if err != nil || id < 0 {
			return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgChannelIDFilter)
		}
		v.ChannelID = id
	}
	chs, err := s.svc.Chat.ListChannels(ctx)
	if err != nil {
		return err
	}
	byID := map[int64]*formbuilder.Channel{}
	for _, ch := range chs {
		byID[ch.ID] = ch
	}
	// The filter offers an operator their own channels; names of others'
	// channels still label conversations assigned to them.
	v.Channels, v.Channel = backoffice.VisibleChannels(c, chs), byID[v.ChannelID]
	convs, err := s.svc.Chat.ListConversations(ctx, backoffice.ConversationFilter(c,
		formbuilder.ConversationFilter{ChannelID: v.ChannelID, Limit: 200}))
	if err != nil {
		return err
	}
	names, err := s.userNames(ctx)
	if err != nil {
		return err
	}
	for _, cv := range convs {
		row := conversationRow{Conversation: cv, Assigned: names[cv.AssignedUserID]}
		if ch := byID[cv.ChannelID]; ch != nil {
			row.Channel = ch.Name
			if row.Assigned == "" {
				row.Assigned = names[ch.ResponsibleUserID()]
			}
		}
		v.Rows = append(v.Rows, row)
	}
	title := s.tr(c, "conversations.title")
	if v.Channel != nil {
		title = s.tr(c, "conversations.title_channel", "channel", v.Channel.Name)
	}
	return s.render(c, fiber.StatusOK, "conversations", &view{Title: title, Nav: "chat", Data: v})
}

// conversationView is the data of one conversation's page.
type conversationView struct {
	Conv     *formbuilder.Conversation
	Channel  *formbuilder.Channel
	Messages []*formbuilder.Message
	Users    []*formbuilder.User
	Names    map[int64]string
	LastID   int64
	Assigned string
	Script   string
}

// adminConversation returns the conversation of the :id parameter.
func (s *Server) adminConversation(c *fiber.Ctx) (*formbuilder.Conversation, error) {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return nil, err
	}
	return s.office.OperatorConversation(c, id)
}

func (s *Server) handleConversation(c *fiber.Ctx) error {
	ctx := c.UserContext()
	conv, err := s.adminConversation(c)
	if err != nil {
		return err
	}
	ch, err := s.svc.Chat.FindChannelByID(ctx, conv.ChannelID)
	if err != nil {
		return err
	}
	msgs, err := s.svc.Chat.ListMessages(ctx, conv.ID, 0, formbuilder.MaxPageSize)
	if err != nil {
		return err
	}
	users, err := s.svc.Users.ListUsers(ctx)
	if err != nil {
		return err
	}
	v := &conversationView{Conv: conv, Channel: ch, Messages: msgs, Users: users, Names: map[int64]string{},
		Script: s.chatJS}
	for _, u := range users {
		v.Names[u.ID] = u.DisplayName()
	}
	for _, m := range msgs {
		v.LastID = max(v.LastID, m.ID)
	}
	v.Assigned = v.Names[conv.AssignedUserID]
	if conv.UnreadOperator > 0 {
		if err := s.svc.Chat.MarkRead(ctx, conv.ID); err != nil {
			return err
		}
	}
	return s.render(c, fiber.StatusOK, "conversation", &view{Title: s.tr(c, "conversation.title", "channel", ch.Name), Nav: "chat", Data: v})
}

// handleConversationReply stores an operator's reply. A plain form post is
// redirected back to the conversation; chat_admin.js asks for JSON and gets
// the stored message.
func (s *Server) handleConversationReply(c *fiber.Ctx) error {
	conv, err := s.adminConversation(c)
	if err != nil {
		return err
	}
	m := &formbuilder.Message{ConversationID: conv.ID, UserID: currentAdmin(c).user.ID, Text: c.FormValue("text")}
	if err := s.svc.Chat.AddOperatorMessage(c.UserContext(), m); err != nil {
		if formbuilder.ErrorCode(err) == formbuilder.EINVALID || formbuilder.ErrorCode(err) == formbuilder.ETOOLARGE {
			return &formbuilder.Error{Code: formbuilder.EINVALID, Msg: formbuilder.M(formbuilder.MsgReplyProblem).With("problem", formbuilder.ErrorFieldMsgs(err)["text"])}
		}
		return err
	}
	if conv.AssignedUserID == 0 {
		conv.AssignedUserID = m.UserID
	}
	backoffice.NoteConversation(c, "reply", conv, "message_id", strconv.FormatInt(m.ID, 10))
	if strings.Contains(c.Get(fiber.HeaderAccept), fiber.MIMEApplicationJSON) {
		return c.Status(fiber.StatusCreated).JSON(m)
	}
	return c.Redirect("/admin/conversations/"+strconv.FormatInt(conv.ID, 10)+"?msg=reply-sent#reply", fiber.StatusSeeOther)
}

func (s *Server) handleConversationAssign(c *fiber.Ctx) error {
	conv, err := s.adminConversation(c)
	if err != nil {
		return err
	}
	uid, err := strconv.ParseInt(c.FormValue("assigned_user_id"), 10, 64)
	if err != nil || uid < 0 {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgChooseOperator)
	}
	if err := s.svc.Chat.AssignConversation(c.UserContext(), conv.ID, uid); err != nil {
		return err
	}
	backoffice.NoteConversation(c, "assign", conv, "from_user_id", strconv.FormatInt(conv.AssignedUserID, 10),
		"to_user_id", strconv.FormatInt(uid, 10))
	return c.Redirect("/admin/conversations/"+strconv.FormatInt(conv.ID, 10)+"?msg=conversation-set", fiber.StatusSeeOther)
}

// handleConversationRead marks the conversation read; chat_admin.js calls
// it when messages arrive while the page is in view.
func (s *Server) handleConversationRead(c *fiber.Ctx) error {
	conv, err := s.adminConversation(c)
	if err != nil {
		return err
	}
	if err := s.svc.Chat.MarkRead(c.UserContext(), conv.ID); err != nil {
		return err
	}
	// Reading is not a change of anything staff manage.
	backoffice.Unchanged(c)
	return c.SendStatus(fiber.StatusNoContent)
}

// handleConversationMessages is chat_admin.js's polling fallback: the
// messages after ?after=, as JSON (the one admin route that answers JSON:
// the script builds the new lines with textContent, never from HTML).
func (s *Server) handleConversationMessages(c *fiber.Ctx) error {
	conv, err := s.adminConversation(c)
	if err != nil {
		return err
	}
	msgs, err := s.office.MessagesAfter(c, conv.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"state": conv.State, "messages": msgs})
}

// handleConversationEvents streams one conversation to an operator.
func (s *Server) handleConversationEvents(c *fiber.Ctx) error {
	conv, err := s.adminConversation(c)
	if err != nil {
		return err
	}
	after := chatlive.LastEventID(c)
	return s.hub.Serve(c, s.Base, chatlive.Topic{Operator: true, ID: conv.ID}, chatlive.Replay(s.svc.Chat, conv.ID, after))
}

// handleChatListEvents tells the open conversation lists that a
// conversation changed; they reload their table.
func (s *Server) handleChatListEvents(c *fiber.Ctx) error {
	return s.hub.Serve(c, s.Base, chatlive.Topic{Operator: true}, nil)
}
