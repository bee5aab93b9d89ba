package web_test

import (
	"context"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
)

// teamEnv is an installation with an admin (user 1) and an operator (user
// 2), where id 1 of everything an operator may reach is theirs: form 1
// (they are responsible for it, with submission 1, a webhook and a
// notification address), channel 1 (they operate it) with conversation 1;
// form 2 is the admin's, channel 2 and its conversation 2 too.
type teamEnv struct {
	*testenv.Env
	operator           *formbuilder.User
	consent            *formbuilder.Consent
	mine, theirs       *formbuilder.Form
	myConv, theirConv  *formbuilder.Conversation
	myChan, theirChan  *formbuilder.Channel
	mySub, theirSub    *formbuilder.Submission
	opToken, opReadTok string
}

func newTeamEnv(t *testing.T) *teamEnv {
	t.Helper()
	e := &teamEnv{Env: testenv.New(t)}
	ctx := context.Background()
	e.operator = e.AddUser("otto@example.com", "Otto Operator", formbuilder.RoleOperator)
	e.consent = e.SeedConsent("Privacy", "<p>We process your data.</p>", "I agree to the %privacy terms%.")
	mk := func(name string, owner int64) *formbuilder.Form {
		return e.SeedForm(&formbuilder.Form{Name: name, ResponsibleUserID: owner,
			Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
			Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, Required: true}},
			Notifications: formbuilder.Notifications{
				Webhooks: []formbuilder.Webhook{{URL: "https://hooks.example.com/" + name, Secret: formbuilder.NewWebhookSecret()}},
				Emails:   []string{"owner@example.com"}},
		})
	}
	e.mine, e.theirs = mk("Mine", e.operator.ID), mk("Theirs", e.Admin.ID)
	require.EqualValues(t, 1, e.mine.ID)
	submit := func(f *formbuilder.Form) *formbuilder.Submission {
		sub, recs, err := formbuilder.ValidateSubmission(f, formbuilder.SubmissionInput{
			Values:   map[string][]string{"email": {"visitor@example.com"}},
			Consents: map[int64]formbuilder.ConsentInput{e.consent.ID: {Checked: true, Touched: formbuilder.TouchChanged}}, IP: "203.0.113.9"})
		require.NoError(t, err)
		require.NoError(t, e.DB.CreateSubmission(ctx, sub, recs))
		return sub
	}
	e.mySub, e.theirSub = submit(e.mine), submit(e.theirs)
	chat := func(name string, ops ...int64) (*formbuilder.Channel, *formbuilder.Conversation) {
		ch := &formbuilder.Channel{Name: name, Language: "en", OperatorIDs: ops}
		require.NoError(t, e.DB.CreateChannel(ctx, ch))
		res, err := e.DB.PostVisitorMessage(ctx, ch, formbuilder.VisitorPost{VisitorID: newVisitor(t), Text: "Hello " + name})
		require.NoError(t, err)
		return ch, res.Conversation
	}
	e.myChan, e.myConv = chat("Sales chat", e.operator.ID, e.Admin.ID)
	e.theirChan, e.theirConv = chat("Support chat", e.Admin.ID)
	require.EqualValues(t, 1, e.myConv.ID)
	e.opToken = e.TokenOf(e.operator, "otto's script", formbuilder.ScopeWrite)
	e.opReadTok = e.TokenOf(e.operator, "otto's reader", formbuilder.ScopeRead)
	return e
}
