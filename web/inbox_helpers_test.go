package web_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// inboxEnv is the admin env with the inbox and outbox services wired in,
// a signed-in admin, a consent and a form with three fields.
type inboxEnv struct {
	*admEnv
	consent *formbuilder.Consent
	f       *formbuilder.Form
	other   *formbuilder.Form
}

func newInboxEnv(t *testing.T, mod ...func(*web.Config)) *inboxEnv {
	t.Helper()
	var cfg web.Config
	e := newAdmEnv(t, append(mod, func(c *web.Config) { cfg = *c })...)
	srv, err := web.New(cfg, web.Services{
		Forms: e.db, Consents: e.db, Submissions: e.db, Log: e.db,
		Users: e.db, Sessions: e.db, Tokens: e.db, Settings: e.db,
		Inbox: e.db, Outbox: e.db,
	})
	require.NoError(t, err)
	e.srv = srv
	ie := &inboxEnv{admEnv: e}
	ie.consent = e.seedConsent("Privacy", "<p>We process your data.</p>", "I agree to the %privacy terms%.")
	ie.f = e.seedForm(&formbuilder.Form{Name: "Contact <us>",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Your name", Kind: formbuilder.KindName},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
			{Key: "topics", Label: "Topics", Kind: formbuilder.KindCheckbox, Options: []string{"Sales", "Support"}},
		},
		Consents: []formbuilder.FormConsent{{ConsentID: ie.consent.ID, CheckedByDefault: false, Required: true}},
	})
	ie.other = e.seedForm(&formbuilder.Form{Name: "Other",
		Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	e.login()
	return ie
}

// submit stores a submission of the env's form as the public route would.
func (e *inboxEnv) submit(form *formbuilder.Form, vals map[string][]string) *formbuilder.Submission {
	e.t.Helper()
	in := formbuilder.SubmissionInput{Values: vals, Consents: map[int64]formbuilder.ConsentInput{},
		PageURL: "https://shop.example/contact?x=<b>", IP: "203.0.113.9", UserAgent: "Mozilla/5.0 <script>"}
	for _, fc := range form.Consents {
		in.Consents[fc.ConsentID] = formbuilder.ConsentInput{Checked: true, Interacted: true}
	}
	sub, recs, err := formbuilder.ValidateSubmission(form, in)
	require.NoError(e.t, err)
	require.NoError(e.t, e.db.CreateSubmission(context.Background(), sub, recs))
	return sub
}

// submitN stores n simple submissions and returns them oldest first.
func (e *inboxEnv) submitN(n int) []*formbuilder.Submission {
	e.t.Helper()
	out := make([]*formbuilder.Submission, n)
	for i := range out {
		out[i] = e.submit(e.f, map[string][]string{"email": {fmt.Sprintf("v%d@example.com", i)},
			"message": {fmt.Sprintf("note %d", i)}})
	}
	return out
}

func (e *inboxEnv) formPath(suffix string) string {
	return fmt.Sprintf("/admin/forms/%d%s", e.f.ID, suffix)
}
