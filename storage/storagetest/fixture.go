package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// The fixtures below are shared by the suite and the backends' own tests
// and benchmarks.

// TestClock moves one second per reading, so every stored time is distinct
// and predictable.
type TestClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewTestClock starts at 2026-03-01 12:00:00.123456789 UTC.
func NewTestClock() *TestClock {
	return &TestClock{t: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)}
}

// Now returns the next second.
func (c *TestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// Content is consent content with text wrapped in a paragraph.
func Content(text string) formbuilder.ConsentContent {
	return formbuilder.ConsentContent{Text: "<p>" + text + "</p>", Label: "I agree to the %terms%.", Language: "en"}
}

// NewForm returns a form with an e-mail and a message field asking for
// the consents (pre-ticked, required), for userID (0: nobody).
func NewForm(name string, userID int64, consentIDs ...int64) *formbuilder.Form {
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

// Fixture is a small installation: a user, two consents and two forms
// (A asks for both consents, B for the second only).
type Fixture struct {
	Store        Store
	User         *formbuilder.User
	C1, C2       *formbuilder.Consent
	FormA, FormB *formbuilder.Form
	submitNo     int
}

// NewFixture creates the installation in db.
func NewFixture(t testing.TB, db Store) *Fixture {
	t.Helper()
	ctx := context.Background()
	f := &Fixture{Store: db}
	f.User = &formbuilder.User{Email: "owner@example.com", Name: "Olga Owner"}
	require.NoError(t, db.CreateUser(ctx, f.User))
	f.C1 = &formbuilder.Consent{Name: "Newsletter", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, f.C1, Content("We send you news."), "olga"))
	f.C2 = &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, f.C2, Content("We process your data."), "olga"))
	f.FormA = NewForm("Contact A", f.User.ID, f.C1.ID, f.C2.ID)
	require.NoError(t, db.CreateForm(ctx, f.FormA))
	f.FormB = NewForm("Contact B", 0, f.C2.ID)
	require.NoError(t, db.CreateForm(ctx, f.FormB))
	return f
}

// Submission builds a valid submission of form with every consent ticked,
// through formbuilder.ValidateSubmission as the web layer does.
func (f *Fixture) Submission(t testing.TB, form *formbuilder.Form, email, ip string) (*formbuilder.Submission, []*formbuilder.ConsentRecord) {
	t.Helper()
	in := formbuilder.SubmissionInput{
		Values:    map[string][]string{"email": {email}, "message": {"hello"}},
		Consents:  map[int64]formbuilder.ConsentInput{},
		PageURL:   "https://shop.example.com/contact",
		IP:        ip,
		UserAgent: "test-agent",
	}
	for _, fc := range form.Consents {
		in.Consents[fc.ConsentID] = formbuilder.ConsentInput{Checked: true}
	}
	sub, recs, err := formbuilder.ValidateSubmission(form, in)
	require.NoError(t, err)
	return sub, recs
}

// Submit stores a submission and returns its records.
func (f *Fixture) Submit(t testing.TB, form *formbuilder.Form, ip string) []*formbuilder.ConsentRecord {
	t.Helper()
	f.submitNo++
	sub, recs := f.Submission(t, form, fmt.Sprintf("visitor%d@example.com", f.submitNo), ip)
	require.NoError(t, f.Store.CreateSubmission(context.Background(), sub, recs))
	return recs
}

// BenchSet is a set of consents and forms to generate many log entries for.
type BenchSet struct {
	Consents []*formbuilder.Consent
	Forms    []*formbuilder.Form
}

// NewBenchSet creates nConsents consents and nForms forms asking for the
// first.
func NewBenchSet(t testing.TB, db Store, nConsents, nForms int) *BenchSet {
	t.Helper()
	ctx := context.Background()
	s := &BenchSet{}
	for i := 0; i < nConsents; i++ {
		c := &formbuilder.Consent{Name: fmt.Sprintf("Consent %d", i), Type: formbuilder.ConsentCustom}
		require.NoError(t, db.CreateConsent(ctx, c, Content(fmt.Sprintf("text %d", i)), "bench"))
		s.Consents = append(s.Consents, c)
	}
	for i := 0; i < nForms; i++ {
		f := NewForm(fmt.Sprintf("Form %d", i), 0, s.Consents[0].ID)
		require.NoError(t, db.CreateForm(ctx, f))
		s.Forms = append(s.Forms, f)
	}
	return s
}

// BenchIPs is the number of distinct visitor addresses Record uses.
const BenchIPs = 1000

// Record generates entry i: consents round-robin, forms in runs, visitor
// addresses scattered over BenchIPs.
func (s *BenchSet) Record(i int) *formbuilder.ConsentRecord {
	c := s.Consents[i%len(s.Consents)]
	f := s.Forms[(i/len(s.Consents))%len(s.Forms)]
	ip := (i * 7919) % BenchIPs
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
