package web_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
)

// inboxEnv is the shared env with a signed-in admin, a consent, a form with
// four fields and another form.
type inboxEnv struct {
	*testenv.Env
	consent *formbuilder.Consent
	f       *formbuilder.Form
	other   *formbuilder.Form
}

func newInboxEnv(t *testing.T, opts ...testenv.Option) *inboxEnv {
	t.Helper()
	e := &inboxEnv{Env: testenv.New(t, opts...)}
	e.consent = e.SeedConsent("Privacy", "<p>We process your data.</p>", "I agree to the %privacy terms%.")
	e.f = e.SeedForm(&formbuilder.Form{Name: "Contact <us>",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Your name", Kind: formbuilder.KindName},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
			{Key: "topics", Label: "Topics", Kind: formbuilder.KindCheckbox, Options: []string{"Sales", "Support"}},
		},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: false, Required: true}},
	})
	e.other = e.SeedForm(&formbuilder.Form{Name: "Other",
		Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	e.Login()
	return e
}

// submit stores a submission of form as the public route would.
func (e *inboxEnv) submit(form *formbuilder.Form, vals map[string][]string) *formbuilder.Submission {
	e.T.Helper()
	in := formbuilder.SubmissionInput{Values: vals, Consents: map[int64]formbuilder.ConsentInput{},
		PageURL: "https://shop.example/contact?x=<b>", IP: "203.0.113.9", UserAgent: "Mozilla/5.0 <script>"}
	for _, fc := range form.Consents {
		in.Consents[fc.ConsentID] = formbuilder.ConsentInput{Checked: true, Touched: formbuilder.TouchChanged}
	}
	sub, recs, err := formbuilder.ValidateSubmission(form, in)
	require.NoError(e.T, err)
	require.NoError(e.T, e.DB.CreateSubmission(context.Background(), sub, recs))
	return sub
}

// submitN stores n simple submissions and returns them oldest first.
func (e *inboxEnv) submitN(n int) []*formbuilder.Submission {
	e.T.Helper()
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
