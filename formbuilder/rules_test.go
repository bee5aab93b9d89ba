package formbuilder

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilterValidate(t *testing.T) {
	long := strings.Repeat("é", MaxQueryLength+1)
	for name, tc := range map[string]struct {
		err   error
		field string
	}{
		"record ok":          {(&RecordFilter{Action: ActionWithdrawn, Query: strings.Repeat("é", MaxQueryLength)}).Validate(), ""},
		"record action":      {(&RecordFilter{Action: "deleted"}).Validate(), "action"},
		"record long query":  {(&RecordFilter{Query: long}).Validate(), "query"},
		"record bad utf8":    {(&RecordFilter{Query: "\xff"}).Validate(), "query"},
		"submission ok":      {(&SubmissionFilter{FormID: 1, Query: "x"}).Validate(), ""},
		"submission no form": {(&SubmissionFilter{}).Validate(), "form_id"},
		"submission long":    {(&SubmissionFilter{FormID: 1, Query: long}).Validate(), "query"},
	} {
		if tc.field == "" {
			assert.NoError(t, tc.err, name)
			continue
		}
		require.Error(t, tc.err, name)
		assert.Equal(t, EINVALID, ErrorCode(tc.err), name)
		assert.Contains(t, ErrorFields(tc.err), tc.field, name)
	}
}

func TestChatStateRules(t *testing.T) {
	asks := &Channel{ID: 7, WarnPersonalData: true, ConsentID: 3}
	open := &Channel{ID: 7}
	rec := &ConsentRecord{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h", ChannelID: 7, Interacted: true}
	held := &Conversation{ChannelID: 7, State: ConvAwaitingConsent, HeldMessage: "hi"}

	cases := []struct {
		name string
		err  error
		code string
	}{
		{"accept", CheckAccept(held, rec, 5), ""},
		{"accept stale version", CheckAccept(held, rec, 6), ECONFLICT},
		{"accept nothing held", CheckAccept(&Conversation{ChannelID: 7, State: ConvAwaitingConsent}, rec, 5), ECONFLICT},
		{"accept open", CheckAccept(&Conversation{ChannelID: 7, State: ConvOpen}, rec, 5), ECONFLICT},
		{"accept other channel", CheckAccept(&Conversation{ChannelID: 8, State: ConvAwaitingConsent, HeldMessage: "x"}, rec, 5), EINVALID},
		{"decline pending", CheckDecline(held), ""},
		{"decline open", CheckDecline(&Conversation{State: ConvOpen}), ECONFLICT},
		{"reply open", CheckOperatorReply(&Conversation{State: ConvOpen}), ""},
		{"reply pending", CheckOperatorReply(held), ECONFLICT},
		{"reply declined", CheckOperatorReply(&Conversation{State: ConvDeclined}), ECONFLICT},
		{"record ok", ValidateChatConsentRecord(rec), ""},
		{"record nil", ValidateChatConsentRecord(nil), EINVALID},
		{"record form", ValidateChatConsentRecord(&ConsentRecord{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h", ChannelID: 7, FormID: 1}), EINVALID},
		{"record page", ValidateChatConsentRecord(&ConsentRecord{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h", ChannelID: 7, PageURL: "ftp://x"}), EINVALID},
		{"record withdrawal", ValidateChatConsentRecord(&ConsentRecord{Action: ActionWithdrawn, ConsentID: 3, VersionID: 5, TextHash: "h", ChannelID: 7}), EINVALID},
		{"record pre-ticked", ValidateChatConsentRecord(&ConsentRecord{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h", ChannelID: 7, InitialState: true, Interacted: true}), EINVALID},
		{"record untouched", ValidateChatConsentRecord(&ConsentRecord{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h", ChannelID: 7}), EINVALID},
	}
	for _, c := range cases {
		if c.code == "" {
			assert.NoError(t, c.err, c.name)
		} else {
			assert.Equal(t, c.code, ErrorCode(c.err), c.name)
		}
	}

	st, changed := ReopenedState(&Conversation{State: ConvDeclined}, asks)
	assert.True(t, changed)
	assert.Equal(t, ConvAwaitingConsent, st)
	st, changed = ReopenedState(&Conversation{State: ConvDeclined}, open)
	assert.True(t, changed)
	assert.Equal(t, ConvOpen, st)
	st, changed = ReopenedState(held, asks)
	assert.False(t, changed)
	assert.Equal(t, ConvAwaitingConsent, st)
}

func TestLogRules(t *testing.T) {
	orig := &ConsentRecord{ID: 4, Action: ActionGiven, ConsentID: 3, ConsentName: "Privacy", VersionID: 5, VersionNo: 2,
		TextHash: "h", FormID: 9, FormKey: "k", Source: "Contact", PageURL: "https://x.example/", UserID: 2, User: "Olga",
		IP: "192.0.2.1", UserAgent: "ua", Subject: "a@example.com", InitialState: true, Interacted: true, SubmissionID: 11}
	assert.NoError(t, CheckWithdrawal(orig, false))
	assert.Equal(t, ECONFLICT, ErrorCode(CheckWithdrawal(orig, true)))
	w := WithdrawalOf(orig, "198.51.100.1", "other")
	assert.Equal(t, EINVALID, ErrorCode(CheckWithdrawal(w, false)))
	assert.Equal(t, ActionWithdrawn, w.Action)
	assert.Equal(t, int64(4), w.WithdrawsID)
	assert.Equal(t, "198.51.100.1", w.IP)
	assert.Equal(t, "other", w.UserAgent)
	assert.Zero(t, w.SubmissionID, "a withdrawal is not part of a submission")
	assert.False(t, w.InitialState)
	for _, f := range []string{orig.ConsentName, orig.TextHash, orig.FormKey, orig.Source, orig.PageURL, orig.User, orig.Subject} {
		assert.Contains(t, string(w.Canonical()), f)
	}

	sub := &Submission{FormID: 9}
	given := &ConsentRecord{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h"}
	require.NoError(t, ValidateSubmissionRecords(sub, []*ConsentRecord{given}))
	assert.Equal(t, int64(9), given.FormID, "a record without a form gets the submission's")
	for name, recs := range map[string][]*ConsentRecord{
		"nil":        {nil},
		"withdrawal": {{Action: ActionWithdrawn, ConsentID: 3, VersionID: 5, TextHash: "h"}},
		"no version": {{Action: ActionGiven, ConsentID: 3, TextHash: "h"}},
		"other form": {{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h", FormID: 8}},
	} {
		assert.Equal(t, EINVALID, ErrorCode(ValidateSubmissionRecords(sub, recs)), name)
	}
	assert.Contains(t, ErrorFields(ValidateSubmissionRecords(&Submission{}, nil)), "form_id")

	cur := &ConsentVersion{Hash: ConsentContent{Text: "a", Label: "b", Language: "en"}.Hash()}
	assert.False(t, NeedsNewVersion(cur, ConsentContent{Text: "a", Label: "b", Language: "en"}))
	assert.True(t, NeedsNewVersion(cur, ConsentContent{Text: "a", Label: "b", Language: "de"}))
	assert.Equal(t, ECONFLICT, ErrorCode(CheckVersionCurrent(5, 6)))
	assert.NoError(t, CheckVersionCurrent(6, 6))
}

func TestTokenAndConsentValidation(t *testing.T) {
	h := strings.Repeat("ab", 32)
	assert.True(t, ValidTokenHash(h))
	for _, s := range []string{"", h[:63], strings.ToUpper(h), strings.Repeat("g", 64)} {
		assert.False(t, ValidTokenHash(s), s)
	}
	assert.NoError(t, (&Session{ID: h}).Validate())
	assert.Contains(t, ErrorFields((&Session{ID: "raw"}).Validate()), "id")
	assert.NoError(t, (&APIToken{Name: "ci", Hash: h, UserID: 1}).Validate())
	assert.NoError(t, (&APIToken{Name: "ci", Hash: h, UserID: 1, Scope: ScopeRead}).Validate())
	fields := ErrorFields((&APIToken{Hash: "raw", Scope: "root"}).Validate())
	assert.Contains(t, fields, "hash")
	assert.Contains(t, fields, "name")
	assert.Contains(t, fields, "user_id")
	assert.Contains(t, fields, "scope")

	err := ValidateConsentWithContent(&Consent{Type: "odd"}, &ConsentContent{Language: "xx"})
	require.Error(t, err)
	fields = ErrorFields(err)
	assert.Contains(t, fields, "name", "the consent's fields")
	assert.Contains(t, fields, "language", "and the content's, in one answer")
	assert.Equal(t, EINVALID, ErrorCode(ValidateConsentWithContent(nil, &ConsentContent{})))
}
