package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Retention deletes the submissions older than the form keeps them and
// their undelivered messages; the consent log keeps every entry and its
// chain verifies.
func TestRetentionDeletesOldSubmissionsKeepsConsents(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	e := newEnv(t, withClock(clock.Now))
	e.form.RetentionDays = 30
	e.setNotifications(formbuilder.Notifications{Emails: []string{"sales@example.com"}})
	other := &formbuilder.Form{Name: "Keeps all", Language: "en",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, Required: true}}}
	require.NoError(t, e.db.CreateForm(e.ctx, other))

	var old []*formbuilder.Submission
	for i := 0; i < 3; i++ {
		old = append(old, e.submit("old@example.com", "old"))
		clock.Add(time.Hour)
	}
	in := formbuilder.SubmissionInput{Values: map[string][]string{"email": {"keep@example.com"}},
		Consents: map[int64]formbuilder.ConsentInput{e.consent.ID: {Checked: true}}, IP: "192.0.2.1"}
	keepSub, keepRecs, err := formbuilder.ValidateSubmission(other, in)
	require.NoError(t, err)
	require.NoError(t, e.db.CreateSubmission(e.ctx, keepSub, keepRecs))

	clock.Add(31 * 24 * time.Hour)
	fresh := e.submit("new@example.com", "new")
	before, err := e.db.Verify(e.ctx)
	require.NoError(t, err)
	require.True(t, before.OK())

	r := &delivery.Retention{Forms: e.db, Inbox: e.db, Outbox: e.db, Now: clock.Now, Logger: quiet}
	res, err := r.RunOnce(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.Submissions)

	for _, s := range old {
		_, err := e.db.FindSubmission(e.ctx, s.ID)
		assert.Equal(t, formbuilder.ENOTFOUND, formbuilder.ErrorCode(err), "old submission deleted")
		recs, err := e.db.RecordsOfSubmission(e.ctx, s.ID)
		require.NoError(t, err)
		assert.Len(t, recs, 1, "its consent entry stays")
	}
	_, err = e.db.FindSubmission(e.ctx, fresh.ID)
	assert.NoError(t, err, "a new submission stays")
	_, err = e.db.FindSubmission(e.ctx, keepSub.ID)
	assert.NoError(t, err, "a form without retention keeps everything")
	msgs := e.messages()
	require.Len(t, msgs, 1, "the deleted submissions' mails are dropped")
	assert.Equal(t, fresh.ID, msgs[0].SubmissionID)

	after, err := e.db.Verify(e.ctx)
	require.NoError(t, err)
	assert.True(t, after.OK(), "the consent log still verifies: %+v", after)
	assert.Equal(t, before.Checked, after.Checked, "no entry was removed")

	// A second run has nothing to do; archived forms are included.
	require.NoError(t, e.db.ArchiveForm(e.ctx, e.form.ID, true))
	clock.Add(31 * 24 * time.Hour)
	res, err = r.RunOnce(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(1), res.Submissions, "the archived form's last submission expired too")
}

// Run applies retention at start, without waiting for the first interval.
func TestRetentionRunsAtStart(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	e := newEnv(t, withClock(clock.Now))
	e.form.RetentionDays = 1
	e.setNotifications(formbuilder.Notifications{})
	s := e.submit("old@example.com", "")
	clock.Add(49 * time.Hour)
	r := &delivery.Retention{Forms: e.db, Inbox: e.db, Now: clock.Now, Interval: time.Hour, Logger: quiet}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	require.Eventually(t, func() bool {
		_, err := e.db.FindSubmission(e.ctx, s.ID)
		return formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND
	}, waitLong, waitTick)
	cancel()
	<-done
}
