package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// Polling bounds for require.Eventually.
const (
	waitLong = 10 * time.Second
	waitTick = time.Millisecond
)

// exportBatch is the batch size the backends read exports in; tests fill
// more than two batches to cross their borders.
const exportBatch = 1000

// testClock moves one second per reading, so every stored time is distinct
// and predictable.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)}
}

// Now returns the next second.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// env is one test's backend with the helpers the tests share.
type env struct {
	*Backend
	db  Store
	ctx context.Context
	// now reads the backend's clock.
	now func() time.Time
}

// newEnv opens a backend with the test clock unless o sets another.
func newEnv(t testing.TB, open Opener, o ...Options) *env {
	t.Helper()
	var opt Options
	if len(o) > 0 {
		opt = o[0]
	}
	if opt.Clock == nil {
		opt.Clock = newTestClock().Now
	}
	b := open(t, opt)
	return &env{Backend: b, db: b.Store, ctx: context.Background(), now: opt.Clock}
}

// count returns the number of rows in table.
func (e *env) count(t testing.TB, table string) int {
	t.Helper()
	n, err := e.QueryInt(e.ctx, "SELECT COUNT(*) FROM "+table)
	require.NoError(t, err)
	return int(n)
}

func requireCode(t testing.TB, code string, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, formbuilder.ErrorCode(err), "error: %v", err)
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fixture is a small installation: a user, two consents and two forms
// (A asks for both consents, B for the second only).
type fixture struct {
	*env
	user     *formbuilder.User
	c1, c2   *formbuilder.Consent
	formA    *formbuilder.Form
	formB    *formbuilder.Form
	submitNo int
}

func content(text string) formbuilder.ConsentContent {
	return formbuilder.ConsentContent{Text: "<p>" + text + "</p>", Label: "I agree to the %terms%.", Language: "en"}
}

func newFixture(t testing.TB, e *env) *fixture {
	t.Helper()
	db, ctx := e.db, e.ctx
	f := &fixture{env: e}
	f.user = &formbuilder.User{Email: "owner@example.com", Name: "Olga Owner"}
	require.NoError(t, db.CreateUser(ctx, f.user))
	f.c1 = &formbuilder.Consent{Name: "Newsletter", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, f.c1, content("We send you news."), "olga"))
	f.c2 = &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, f.c2, content("We process your data."), "olga"))
	f.formA = newForm("Contact A", f.user.ID, f.c1.ID, f.c2.ID)
	require.NoError(t, db.CreateForm(ctx, f.formA))
	f.formB = newForm("Contact B", 0, f.c2.ID)
	require.NoError(t, db.CreateForm(ctx, f.formB))
	return f
}

func newForm(name string, userID int64, consentIDs ...int64) *formbuilder.Form {
	f := &formbuilder.Form{
		Name:     name,
		Language: "en",
		Fields: []formbuilder.Field{
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		ResponsibleUserID: userID,
	}
	for _, id := range consentIDs {
		f.Consents = append(f.Consents, formbuilder.FormConsent{ConsentID: id, CheckedByDefault: true, Required: true})
	}
	return f
}

// submission builds a valid submission of form with every consent ticked,
// through formbuilder.ValidateSubmission as the web layer does.
func (f *fixture) submission(t testing.TB, form *formbuilder.Form, email, ip string) (*formbuilder.Submission, []*formbuilder.ConsentRecord) {
	t.Helper()
	in := formbuilder.SubmissionInput{
		Values:    map[string][]string{"email": {email}, "message": {"hello"}},
		Consents:  map[int64]formbuilder.ConsentInput{},
		PageURL:   "https://shop.example.com/contact",
		IP:        ip,
		UserAgent: "test-agent",
	}
	for _, fc := range form.Consents {
		in.Consents[fc.ConsentID] = formbuilder.ConsentInput{Checked: true, Initial: true}
	}
	sub, recs, err := formbuilder.ValidateSubmission(form, in)
	require.NoError(t, err)
	return sub, recs
}

// submit stores a submission and returns its records.
func (f *fixture) submit(t testing.TB, form *formbuilder.Form, ip string) []*formbuilder.ConsentRecord {
	t.Helper()
	f.submitNo++
	sub, recs := f.submission(t, form, fmt.Sprintf("visitor%d@example.com", f.submitNo), ip)
	require.NoError(t, f.db.CreateSubmission(f.ctx, sub, recs))
	return recs
}

// allRecords reads the whole log oldest first.
func allRecords(t testing.TB, db Store) []*formbuilder.ConsentRecord {
	t.Helper()
	var out []*formbuilder.ConsentRecord
	require.NoError(t, db.ExportRecords(context.Background(), formbuilder.RecordFilter{}, func(r *formbuilder.ConsentRecord) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func requireVerified(t testing.TB, db Store, checked int64) {
	t.Helper()
	vr, err := db.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, vr.OK(), "%+v", vr)
	if checked >= 0 {
		require.EqualValues(t, checked, vr.Checked)
	}
}

// benchSet is a set of consents and forms to generate many log entries for.
type benchSet struct {
	consents []*formbuilder.Consent
	forms    []*formbuilder.Form
}

func newBenchSet(t testing.TB, db Store, nConsents, nForms int) *benchSet {
	t.Helper()
	ctx := context.Background()
	s := &benchSet{}
	for i := 0; i < nConsents; i++ {
		c := &formbuilder.Consent{Name: fmt.Sprintf("Consent %d", i), Type: formbuilder.ConsentCustom}
		require.NoError(t, db.CreateConsent(ctx, c, content(fmt.Sprintf("text %d", i)), "bench"))
		s.consents = append(s.consents, c)
	}
	for i := 0; i < nForms; i++ {
		f := newForm(fmt.Sprintf("Form %d", i), 0, s.consents[0].ID)
		require.NoError(t, db.CreateForm(ctx, f))
		s.forms = append(s.forms, f)
	}
	return s
}

// record generates entry i: consents round-robin, forms in runs, visitor
// addresses scattered over 1,000.
func (s *benchSet) record(i int) *formbuilder.ConsentRecord {
	c := s.consents[i%len(s.consents)]
	f := s.forms[(i/len(s.consents))%len(s.forms)]
	ip := (i * 7919) % 1000
	return &formbuilder.ConsentRecord{
		Action:       formbuilder.ActionGiven,
		ConsentID:    c.ID,
		ConsentName:  c.Name,
		VersionID:    c.Current.ID,
		VersionNo:    c.Current.Number,
		TextHash:     c.Current.Hash,
		FormID:       f.ID,
		FormKey:      f.Key,
		Source:       f.Name,
		PageURL:      "https://shop.example.com/contact?ref=" + fmt.Sprint(i%97),
		IP:           fmt.Sprintf("10.0.%d.%d", ip/256, ip%256),
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64) bench",
		Subject:      fmt.Sprintf("visitor%d@example.com", i),
		InitialState: true,
		Interacted:   i%3 == 0,
		SubmissionID: int64(i + 1),
	}
}

// bulkAppend appends n entries built by gen through the writer, in jobs of
// a few hundred.
func bulkAppend(t testing.TB, e *env, n int, gen func(i int) *formbuilder.ConsentRecord) {
	t.Helper()
	const perJob = 500
	for start := 0; start < n; start += perJob {
		recs := make([]*formbuilder.ConsentRecord, 0, perJob)
		for i := start; i < min(start+perJob, n); i++ {
			recs = append(recs, gen(i))
		}
		require.NoError(t, e.Append(e.ctx, recs))
	}
}

// bulkSubmissions inserts n submissions of a form straight into the table,
// many rows per statement: a quick way to fill an inbox for export tests.
// Each message has a formula, a line break, a comma and quotes, the cells a
// CSV export must get right. Row i is created at + i ms.
func bulkSubmissions(t testing.TB, e *env, formID int64, key string, n int, at time.Time) {
	t.Helper()
	const perStmt = 400
	for start := 0; start < n; start += perStmt {
		end := min(start+perStmt, n)
		var q strings.Builder
		q.WriteString(`INSERT INTO submissions (form_id, form_key, "values", subject, page_url, ip, user_agent, created_at) VALUES `)
		args := make([]any, 0, 8*(end-start))
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			k := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8)
			email := fmt.Sprintf("visitor%d@example.com", i)
			msg := fmt.Sprintf(`=HYPERLINK("http://evil.example") line one`+"\n"+`line two, with a comma and "quotes" %d`, i)
			vals := fmt.Sprintf(`{"email":[%q],"message":[%q]}`, email, msg)
			ts := at.UTC().Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000000000Z07:00")
			args = append(args, formID, key, vals, email, fmt.Sprintf("https://shop.example.com/p?i=%d", i),
				"198.51.100.7", "bench-agent", ts)
		}
		require.NoError(t, e.Exec(e.ctx, q.String(), args...))
	}
}

func newVisitorID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
