package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
)

// logEnv is the shared env with a signed-in admin session, an API token,
// two consents and two forms: A asks for both consents (Privacy
// pre-ticked), B for Newsletter only. Storage's clock moves seven hours at
// every reading, so entries spread over days and date filters have
// something to cut.
type logEnv struct {
	*testenv.Env
	token    string
	user     *formbuilder.User
	privacy  *formbuilder.Consent
	news     *formbuilder.Consent
	formA    *formbuilder.Form
	formB    *formbuilder.Form
	nSubmits int
}

func newLogEnv(t *testing.T) *logEnv {
	t.Helper()
	storageClock := testenv.NewSteppingClock(time.Date(2026, 2, 28, 23, 30, 0, 0, time.UTC), 7*time.Hour)
	e := &logEnv{Env: testenv.New(t, testenv.WithStorageClock(storageClock.Now))}
	ctx := context.Background()
	e.user = &formbuilder.User{Email: "olga@example.com", Name: "=Olga Owner"}
	require.NoError(t, e.DB.CreateUser(ctx, e.user))
	e.privacy = e.SeedConsentContent("Privacy", formbuilder.ConsentContent{Language: "en",
		Text:  `<p>We process your data for <b>answering</b> you. <a href="https://example.com/privacy">Details</a></p>`,
		Label: "I agree to the %privacy terms%."})
	e.news = e.SeedConsentContent("@Newsletter, monthly", formbuilder.ConsentContent{Language: "en",
		Text: "<p>Monthly news by e-mail.</p>", Label: "Send me the %newsletter%."})
	e.formA = e.SeedForm(&formbuilder.Form{
		Name: "Contact A", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		Consents: []formbuilder.FormConsent{
			{ConsentID: e.privacy.ID, CheckedByDefault: true, Required: true},
			{ConsentID: e.news.ID},
		},
		ResponsibleUserID: e.user.ID,
	})
	e.formB = e.SeedForm(&formbuilder.Form{
		Name: "-Shop, \"B\"", Language: "en",
		Fields:   []formbuilder.Field{{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.news.ID, Required: true}},
	})
	e.Login()
	e.token = e.APIToken("log-tests")
	return e
}

// logSubmit is one submission of the test log.
type logSubmit struct {
	form                *formbuilder.Form
	subject             string // e-mail for A, phone for B
	ip, ua, page        string
	initial, interacted bool
	news                bool // tick the optional newsletter on A
}

// submit stores s through the real submission path: ValidateSubmission,
// then CreateSubmission, which appends the consent records.
func (e *logEnv) submit(s logSubmit) []*formbuilder.ConsentRecord {
	e.T.Helper()
	e.nSubmits++
	in := formbuilder.SubmissionInput{
		Values:    map[string][]string{},
		Consents:  map[int64]formbuilder.ConsentInput{},
		PageURL:   s.page,
		IP:        s.ip,
		UserAgent: s.ua,
	}
	// The box is shown as s says (the render token's record) and the
	// client claims what s says about touching it.
	ci := formbuilder.ConsentInput{Checked: true, Touched: formbuilder.TouchOf(s.interacted)}
	if s.form.ID == e.formA.ID {
		in.Values["email"] = []string{s.subject}
		in.Values["message"] = []string{"hello"}
		in.Consents[e.privacy.ID] = ci
		in.Shown = map[int64]bool{e.privacy.ID: s.initial}
		if s.news {
			in.Consents[e.news.ID] = formbuilder.ConsentInput{Checked: true, Touched: formbuilder.TouchChanged}
		}
	} else {
		in.Values["phone"] = []string{s.subject}
		in.Consents[e.news.ID] = ci
		in.Shown = map[int64]bool{e.news.ID: s.initial}
	}
	sub, recs, err := formbuilder.ValidateSubmission(s.form, in)
	require.NoError(e.T, err, "submission %d", e.nSubmits)
	require.NoError(e.T, e.DB.CreateSubmission(context.Background(), sub, recs))
	return recs
}

// seed writes a varied log: formula-like and non-ASCII subjects, user
// agents with commas, quotes and line breaks, IPv4 and IPv6 addresses,
// pre-ticked untouched and actively ticked boxes, both forms, and one
// withdrawal. It returns the log as ListRecords sees it, oldest first.
func (e *logEnv) seed() []*formbuilder.ConsentRecord {
	e.T.Helper()
	subs := []logSubmit{
		{form: e.formA, subject: "=HYPERLINK@example.com", ip: "203.0.113.7", ua: `=HYPERLINK("http://evil.example","x")`, page: "https://shop.example/contact", initial: true},
		{form: e.formA, subject: "+1@example.com", ip: "203.0.113.8", ua: "Mozilla/5.0, \"quoted\"\nsecond line", page: "https://shop.example/a?x=1,2", interacted: true, news: true},
		{form: e.formB, subject: "+49 30 1234567", ip: "2001:db8::1", ua: "@SUM(A1:A2)", page: "https://shop.example/b", initial: true, interacted: true},
		{form: e.formA, subject: "-2@example.com", ip: "198.51.100.1", ua: "-cmd|' /C calc'!A0", initial: true},
		{form: e.formA, subject: "jürgen.müller@exämple.com", ip: "203.0.113.7", ua: "Agent\twith tab, ünïcödé 日本語", page: "https://shop.example/ä", interacted: true, news: true},
		{form: e.formB, subject: "(030) 1234567", ip: "198.51.100.2", ua: "'apostrophe", interacted: true},
		{form: e.formA, subject: "'quote@example.com", ip: "203.0.113.9", ua: "plain", initial: true},
		{form: e.formA, subject: "plain@example.com", ip: "203.0.113.10", ua: "\rcarriage", interacted: true},
	}
	var first []*formbuilder.ConsentRecord
	for _, s := range subs {
		recs := e.submit(s)
		if first == nil {
			first = recs
		}
	}
	_, err := e.DB.Withdraw(context.Background(), first[0].ID, "192.0.2.50", "withdrawing agent")
	require.NoError(e.T, err)
	return e.all()
}

// all returns the whole log oldest first, read with ListRecords pages.
func (e *logEnv) all() []*formbuilder.ConsentRecord {
	e.T.Helper()
	var out []*formbuilder.ConsentRecord
	f := formbuilder.RecordFilter{Limit: formbuilder.MaxPageSize}
	for {
		page, err := e.DB.ListRecords(context.Background(), f)
		require.NoError(e.T, err)
		out = append(out, page...)
		if len(page) < f.Limit {
			break
		}
		f.BeforeID = page[len(page)-1].ID
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// admin sends method path with the admin's session.
func (e *logEnv) admin(method, path string) (*http.Response, string) {
	e.T.Helper()
	resp := e.Do(testenv.Request(method, path, nil))
	return resp, testenv.ReadBody(e.T, resp)
}

// api sends method path with the bearer token.
func (e *logEnv) api(method, path string) (*http.Response, string) {
	e.T.Helper()
	return e.API(method, path, e.token, "")
}

func (e *logEnv) verifyOK() {
	e.T.Helper()
	res, err := e.DB.Verify(context.Background())
	require.NoError(e.T, err)
	require.True(e.T, res.OK(), "%+v", res)
}

func idsOf(recs []*formbuilder.ConsentRecord) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func entryID(id int64) string { return fmt.Sprintf(`id="entry-%d"`, id) }
