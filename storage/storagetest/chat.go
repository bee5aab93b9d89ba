package storagetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chatFixture is the storage fixture plus a second user and a channel that
// asks for consent c2, with the second user as responsible operator.
type chatFixture struct {
	*fixture
	operator *formbuilder.User
	ch       *formbuilder.Channel
}

func newChatFixture(t testing.TB, e *env) *chatFixture {
	t.Helper()
	db := e.db
	f := &chatFixture{fixture: newFixture(t, e)}
	f.operator = &formbuilder.User{Email: "otto@example.com", Name: "Otto Operator"}
	require.NoError(t, db.CreateUser(f.ctx, f.operator))
	f.ch = &formbuilder.Channel{Name: "Website chat", Language: "en", OperatorIDs: []int64{f.operator.ID, f.User.ID},
		WarnPersonalData: true, ConsentID: f.C2.ID, AllowedOrigins: []string{"https://Shop.Example.com:443"}}
	require.NoError(t, db.CreateChannel(f.ctx, f.ch))
	return f
}

// record builds the consent entry the web layer builds on acceptance.
func (f *chatFixture) record(conv *formbuilder.Conversation) *formbuilder.ConsentRecord {
	v := f.ch.Consent.Current
	return &formbuilder.ConsentRecord{
		Action: formbuilder.ActionGiven, ConsentID: f.ch.ConsentID, ConsentName: f.ch.Consent.Name,
		VersionID: v.ID, VersionNo: v.Number, TextHash: v.Hash,
		ChannelID: f.ch.ID, Source: f.ch.Name, PageURL: "https://shop.example.com/help",
		UserID: f.operator.ID, User: f.operator.DisplayName(), IP: "203.0.113.9", UserAgent: "test-agent",
		InitialState: false, Interacted: true,
	}
}

func (f *chatFixture) post(t testing.TB, visitor, text string) (*formbuilder.VisitorPostResult, error) {
	t.Helper()
	return f.db.PostVisitorMessage(f.ctx, f.ch, formbuilder.VisitorPost{VisitorID: visitor, Text: text, PageURL: "https://shop.example.com/help"})
}

func testChannelCRUD(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newChatFixture(t, e)
	ch := f.ch
	require.True(t, formbuilder.ValidFormKey(ch.Key))
	assert.Equal(t, []int64{f.operator.ID, f.User.ID}, ch.OperatorIDs)
	assert.Equal(t, f.operator.ID, ch.ResponsibleUserID())
	assert.Equal(t, []string{"https://shop.example.com"}, ch.AllowedOrigins, "origins are stored normalised")
	require.NotNil(t, ch.Consent)
	require.NotNil(t, ch.Consent.Current)
	assert.Equal(t, f.C2.Current.ID, ch.Consent.Current.ID)

	byKey, err := db.FindChannelByKey(f.ctx, ch.Key)
	require.NoError(t, err)
	assert.Equal(t, ch, byKey)
	_, err = db.FindChannelByKey(f.ctx, "nosuchkeyatall")
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindChannelByKey(f.ctx, "BAD KEY")
	requireCode(t, formbuilder.ENOTFOUND, err)

	ch.Name = "Support"
	ch.OperatorIDs = []int64{f.User.ID}
	ch.WarnPersonalData = false
	ch.ConsentID = 0
	key := ch.Key
	require.NoError(t, db.UpdateChannel(f.ctx, ch))
	assert.Equal(t, key, ch.Key, "the key never changes")
	assert.Equal(t, []int64{f.User.ID}, ch.OperatorIDs)
	assert.Nil(t, ch.Consent)

	other := &formbuilder.Channel{Name: "Another", Language: "de"}
	require.NoError(t, db.CreateChannel(f.ctx, other))
	list, err := db.ListChannels(f.ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "Another", list[0].Name)
	assert.Equal(t, []int64{}, list[0].OperatorIDs)
	assert.Equal(t, "Support", list[1].Name)

	for name, tc := range map[string]struct {
		c     formbuilder.Channel
		field string
	}{
		"no name":          {formbuilder.Channel{Language: "en"}, "name"},
		"bad language":     {formbuilder.Channel{Name: "x", Language: "fr"}, "language"},
		"warn no consent":  {formbuilder.Channel{Name: "x", Language: "en", WarnPersonalData: true}, "consent_id"},
		"unknown consent":  {formbuilder.Channel{Name: "x", Language: "en", ConsentID: 999}, "consent_id"},
		"unknown operator": {formbuilder.Channel{Name: "x", Language: "en", OperatorIDs: []int64{999}}, "operator_ids"},
		"twice":            {formbuilder.Channel{Name: "x", Language: "en", OperatorIDs: []int64{f.User.ID, f.User.ID}}, "operator_ids"},
		"bad origin":       {formbuilder.Channel{Name: "x", Language: "en", AllowedOrigins: []string{"javascript:alert(1)"}}, "allowed_origins.0"},
	} {
		c := tc.c
		err := db.CreateChannel(f.ctx, &c)
		requireCode(t, formbuilder.EINVALID, err)
		assert.Contains(t, formbuilder.ErrorFields(err), tc.field, name)
		assert.Zero(t, c.ID, name)
	}
	missing := &formbuilder.Channel{ID: 999, Name: "x", Language: "en"}
	requireCode(t, formbuilder.ENOTFOUND, db.UpdateChannel(f.ctx, missing))
}

// testChatConsentAccepted walks the whole happy path: the first message is
// held and invisible, acceptance delivers it and logs the consent in the
// same transaction, and the log still verifies.
func testChatConsentAccepted(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newChatFixture(t, e)
	f.Submit(t, f.FormA, "198.51.100.1") // the chain already has entries
	visitor := newVisitorID(t)

	res, err := f.post(t, visitor, "  Hello, my number is 0301234567  ")
	require.NoError(t, err)
	assert.True(t, res.Created)
	assert.Empty(t, res.Delivered)
	conv := res.Conversation
	assert.Equal(t, formbuilder.ConvAwaitingConsent, conv.State)
	assert.Equal(t, "Hello, my number is 0301234567", conv.HeldMessage)

	// Held means invisible: not a message, not in the operators' list.
	msgs, err := db.ListMessages(f.ctx, conv.ID, 0, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs)
	list, err := db.ListConversations(f.ctx, formbuilder.ConversationFilter{})
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Equal(t, 0, e.count(t, "chat_messages"))

	// Nothing more passes while the answer is pending.
	_, err = f.post(t, visitor, "are you there?")
	requireCode(t, formbuilder.ECONFLICT, err)

	rec := f.record(conv)
	msg, err := db.AcceptConsent(f.ctx, conv.ID, rec)
	require.NoError(t, err)
	assert.Equal(t, "Hello, my number is 0301234567", msg.Text)
	assert.Equal(t, formbuilder.SenderVisitor, msg.Sender)
	assert.NotZero(t, rec.ID)
	assert.Equal(t, msg.CreatedAt, rec.Time, "message and entry share the transaction's time")

	got, err := db.FindVisitorConversation(f.ctx, f.ch.ID, visitor)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ConvOpen, got.State)
	assert.Empty(t, got.HeldMessage)
	assert.Equal(t, rec.ID, got.ConsentRecordID)
	assert.Equal(t, 1, got.UnreadOperator)
	assert.Equal(t, msg.CreatedAt, got.LastMessageAt)

	logged, err := db.ListRecords(f.ctx, formbuilder.RecordFilter{ChannelID: f.ch.ID})
	require.NoError(t, err)
	require.Len(t, logged, 1)
	r := logged[0]
	assert.Equal(t, rec.ID, r.ID)
	assert.Equal(t, f.ch.ID, r.ChannelID)
	assert.Zero(t, r.FormID)
	assert.Equal(t, "Website chat", r.Source)
	assert.Equal(t, "https://shop.example.com/help", r.PageURL)
	assert.Equal(t, f.operator.ID, r.UserID)
	assert.Equal(t, "Otto Operator", r.User)
	assert.Equal(t, f.C2.Current.Hash, r.TextHash)
	assert.False(t, r.InitialState)
	assert.True(t, r.Interacted)

	// A second acceptance has nothing to deliver and logs nothing.
	_, err = db.AcceptConsent(f.ctx, conv.ID, f.record(conv))
	requireCode(t, formbuilder.ECONFLICT, err)

	// From now on messages flow both ways.
	res, err = f.post(t, visitor, "second")
	require.NoError(t, err)
	require.Len(t, res.Delivered, 1)
	reply := &formbuilder.Message{ConversationID: conv.ID, UserID: f.User.ID, Text: "Hi, how can I help?"}
	require.NoError(t, db.AddOperatorMessage(f.ctx, reply))
	assert.NotZero(t, reply.ID)
	msgs, err = db.ListMessages(f.ctx, conv.ID, 0, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 3)
	assert.Equal(t, []string{"Hello, my number is 0301234567", "second", "Hi, how can I help?"},
		[]string{msgs[0].Text, msgs[1].Text, msgs[2].Text})
	assert.Equal(t, formbuilder.SenderOperator, msgs[2].Sender)
	after, err := db.ListMessages(f.ctx, conv.ID, msgs[0].ID, 0)
	require.NoError(t, err)
	assert.Len(t, after, 2)

	got, err = db.FindConversation(f.ctx, conv.ID)
	require.NoError(t, err)
	assert.Equal(t, f.User.ID, got.AssignedUserID, "the first operator to answer takes the conversation")
	assert.Equal(t, 2, got.UnreadOperator)
	require.NoError(t, db.MarkRead(f.ctx, conv.ID))
	got, err = db.FindConversation(f.ctx, conv.ID)
	require.NoError(t, err)
	assert.Zero(t, got.UnreadOperator)

	list, err = db.ListConversations(f.ctx, formbuilder.ConversationFilter{ChannelID: f.ch.ID})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, conv.ID, list[0].ID)

	res2, err := db.Verify(f.ctx)
	require.NoError(t, err)
	assert.True(t, res2.OK(), "%+v", res2)
	assert.EqualValues(t, 3, res2.Checked)

	// The visitor id is a secret: only its hash is stored.
	n, err := e.QueryInt(f.ctx, "SELECT COUNT(*) FROM conversations WHERE visitor_hash = $1", formbuilder.VisitorHash(visitor))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	n, err = e.QueryInt(f.ctx, "SELECT COUNT(*) FROM conversations WHERE visitor_hash LIKE '%' || $1 || '%'", visitor)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func testChatConsentDeclinedAndReopened(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newChatFixture(t, e)
	visitor := newVisitorID(t)
	res, err := f.post(t, visitor, "my secret question")
	require.NoError(t, err)
	conv := res.Conversation

	declined, err := db.DeclineConsent(f.ctx, conv.ID)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ConvDeclined, declined.State)
	assert.Empty(t, declined.HeldMessage)

	// The held text is gone from the database, and nothing was logged.
	held, err := e.QueryInt(f.ctx, "SELECT length(held_message) FROM conversations WHERE id = $1", conv.ID)
	require.NoError(t, err)
	assert.Zero(t, held)
	assert.Equal(t, 0, e.count(t, "chat_messages"))
	assert.Equal(t, 0, e.count(t, "consent_records"))

	// Every further message is refused, and so is a late acceptance.
	_, err = f.post(t, visitor, "hello?")
	requireCode(t, formbuilder.EFORBIDDEN, err)
	_, err = db.AcceptConsent(f.ctx, conv.ID, f.record(conv))
	requireCode(t, formbuilder.ECONFLICT, err)
	_, err = db.DeclineConsent(f.ctx, conv.ID)
	requireCode(t, formbuilder.ECONFLICT, err)
	requireCode(t, formbuilder.ECONFLICT, db.AddOperatorMessage(f.ctx, &formbuilder.Message{ConversationID: conv.ID, Text: "hi"}))
	assert.Equal(t, 0, e.count(t, "chat_messages"))

	// Changing one's mind asks again: the next message is held again.
	reopened, err := db.ReopenConversation(f.ctx, f.ch, conv.ID)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ConvAwaitingConsent, reopened.State)
	res, err = f.post(t, visitor, "second try")
	require.NoError(t, err)
	assert.False(t, res.Created)
	assert.Empty(t, res.Delivered)
	assert.Equal(t, "second try", res.Conversation.HeldMessage)
	msg, err := db.AcceptConsent(f.ctx, conv.ID, f.record(conv))
	require.NoError(t, err)
	assert.Equal(t, "second try", msg.Text)

	// Reopening an open conversation changes nothing.
	again, err := db.ReopenConversation(f.ctx, f.ch, conv.ID)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ConvOpen, again.State)
	v, err := db.Verify(f.ctx)
	require.NoError(t, err)
	assert.True(t, v.OK())
	assert.EqualValues(t, 1, v.Checked)
}

func testChatWithoutConsentStep(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newChatFixture(t, e)
	visitor := newVisitorID(t)
	res, err := f.post(t, visitor, "first")
	require.NoError(t, err)
	conv := res.Conversation

	// The admin turns the warning off while the first message is held: the
	// next message delivers both, in order.
	f.ch.WarnPersonalData = false
	require.NoError(t, db.UpdateChannel(f.ctx, f.ch))
	res, err = f.post(t, visitor, "second")
	require.NoError(t, err)
	require.Len(t, res.Delivered, 2)
	assert.Equal(t, "first", res.Delivered[0].Text)
	assert.Equal(t, "second", res.Delivered[1].Text)
	assert.Equal(t, formbuilder.ConvOpen, res.Conversation.State)
	assert.Equal(t, conv.ID, res.Conversation.ID)

	// New conversations start open and deliver at once.
	res, err = f.post(t, newVisitorID(t), "straight through")
	require.NoError(t, err)
	assert.True(t, res.Created)
	require.Len(t, res.Delivered, 1)
	assert.Equal(t, formbuilder.ConvOpen, res.Conversation.State)
	assert.Equal(t, 0, e.count(t, "consent_records"))
}

func testChatValidation(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newChatFixture(t, e)
	visitor := newVisitorID(t)
	for _, bad := range []string{"", "short", strings.ToUpper(visitor), visitor + "0", strings.Repeat("g", 32)} {
		_, err := f.post(t, bad, "hi")
		requireCode(t, formbuilder.EINVALID, err)
	}
	_, err := f.post(t, visitor, " \t\n ")
	requireCode(t, formbuilder.EINVALID, err)
	_, err = f.post(t, visitor, strings.Repeat("é", formbuilder.MaxMessageLength+1))
	requireCode(t, formbuilder.ETOOLARGE, err)
	_, err = db.PostVisitorMessage(f.ctx, f.ch, formbuilder.VisitorPost{VisitorID: visitor, Text: "x", PageURL: "javascript:alert(1)"})
	requireCode(t, formbuilder.EINVALID, err)
	assert.Equal(t, 0, e.count(t, "conversations"))

	res, err := f.post(t, visitor, strings.Repeat("é", formbuilder.MaxMessageLength))
	require.NoError(t, err)
	conv := res.Conversation

	// Records that are not a given consent of this channel are refused
	// before anything is queued.
	for name, mod := range map[string]func(r *formbuilder.ConsentRecord){
		"withdrawal":    func(r *formbuilder.ConsentRecord) { r.Action = formbuilder.ActionWithdrawn },
		"no version":    func(r *formbuilder.ConsentRecord) { r.VersionID = 0 },
		"form entry":    func(r *formbuilder.ConsentRecord) { r.FormID = f.FormA.ID },
		"no channel":    func(r *formbuilder.ConsentRecord) { r.ChannelID = 0 },
		"other channel": func(r *formbuilder.ConsentRecord) { r.ChannelID = f.ch.ID + 1 },
		"bad page":      func(r *formbuilder.ConsentRecord) { r.PageURL = "ftp://x" },
	} {
		r := f.record(conv)
		mod(r)
		_, err := db.AcceptConsent(f.ctx, conv.ID, r)
		requireCode(t, formbuilder.EINVALID, err)
		assert.Zero(t, r.ID, name)
	}

	// A consent edited after the widget showed it: the visitor must see the
	// new text; nothing is delivered or logged.
	stale := f.record(conv)
	_, err = db.UpdateConsent(f.ctx, f.C2, Content("We process your data, differently."), "olga")
	require.NoError(t, err)
	_, err = db.AcceptConsent(f.ctx, conv.ID, stale)
	requireCode(t, formbuilder.ECONFLICT, err)
	assert.Zero(t, stale.ID)
	assert.Equal(t, 0, e.count(t, "chat_messages"))
	assert.Equal(t, 0, e.count(t, "consent_records"))

	_, err = db.AcceptConsent(f.ctx, 9999, f.record(conv))
	requireCode(t, formbuilder.ENOTFOUND, err)
	requireCode(t, formbuilder.ENOTFOUND, db.AssignConversation(f.ctx, 9999, f.User.ID))
	requireCode(t, formbuilder.EINVALID, db.AssignConversation(f.ctx, conv.ID, 9999))
	require.NoError(t, db.AssignConversation(f.ctx, conv.ID, f.User.ID))
	got, err := db.FindConversation(f.ctx, conv.ID)
	require.NoError(t, err)
	assert.Equal(t, f.User.ID, got.AssignedUserID)
	_, err = db.FindVisitorConversation(f.ctx, f.ch.ID, newVisitorID(t))
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindVisitorConversation(f.ctx, f.ch.ID, "nope")
	requireCode(t, formbuilder.ENOTFOUND, err)
}

// testChatConcurrentFirstMessages: however many first messages race, one
// is held and the rest are refused; nothing slips past the consent step.
func testChatConcurrentFirstMessages(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newChatFixture(t, e)
	visitor := newVisitorID(t)
	ok := raceConflicts(t, 16, func(i int) error {
		_, err := f.post(t, visitor, fmt.Sprintf("message %d", i))
		return err
	})
	assert.Equal(t, 1, ok)
	assert.Equal(t, 1, e.count(t, "conversations"))
	assert.Equal(t, 0, e.count(t, "chat_messages"))
}

// testChatConsentsInterleavedWithForms: chat acceptances and form
// submissions append to one chain through the one writer, concurrently,
// and the log verifies afterwards.
func testChatConsentsInterleavedWithForms(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newChatFixture(t, e)
	const n = 12
	convs := make([]*formbuilder.Conversation, n)
	for i := range convs {
		res, err := f.post(t, newVisitorID(t), fmt.Sprintf("hello %d", i))
		require.NoError(t, err)
		convs[i] = res.Conversation
	}
	subs := make([]*formbuilder.Submission, n)
	recs := make([][]*formbuilder.ConsentRecord, n)
	for i := range subs {
		subs[i], recs[i] = f.Submission(t, f.FormA, fmt.Sprintf("v%d@example.com", i), "192.0.2.1")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := db.AcceptConsent(context.Background(), convs[i].ID, f.record(convs[i]))
			errs <- err
		}()
		go func() {
			defer wg.Done()
			errs <- db.CreateSubmission(context.Background(), subs[i], recs[i])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	chatRecs, err := db.ListRecords(f.ctx, formbuilder.RecordFilter{ChannelID: f.ch.ID})
	require.NoError(t, err)
	assert.Len(t, chatRecs, n)
	assert.Equal(t, n, e.count(t, "chat_messages"))
	v, err := db.Verify(f.ctx)
	require.NoError(t, err)
	assert.True(t, v.OK(), "%+v", v)
	assert.EqualValues(t, n+2*n, v.Checked)
}

func init() {
	register("ChannelCRUD", testChannelCRUD)
	register("ChatConsentAccepted", testChatConsentAccepted)
	register("ChatConsentDeclinedAndReopened", testChatConsentDeclinedAndReopened)
	register("ChatWithoutConsentStep", testChatWithoutConsentStep)
	register("ChatValidation", testChatValidation)
	register("ChatConcurrentFirstMessages", testChatConcurrentFirstMessages)
	register("ChatConsentsInterleavedWithForms", testChatConsentsInterleavedWithForms)
}
