package formbuilder

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doiForm is fixtureForm with its newsletter (12) needing confirmation.
func doiForm() *Form {
	f := fixtureForm()
	f.Consents[1].Consent.ConfirmByEmail = true
	return f
}

func TestSubmissionWithDoubleOptIn(t *testing.T) {
	deadline := keyTime.Add(DefaultConfirmWithin)
	in := validInput()
	in.Values["email"] = []string{"ada@example.com"}
	in.Consents[12] = ConsentInput{Checked: true}
	in.ConfirmBy = deadline
	_, recs, err := ValidateSubmission(doiForm(), in)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.True(t, recs[0].ConfirmBy.IsZero(), "the privacy consent needs no confirmation")
	assert.False(t, recs[0].NeedsConfirmation())
	assert.Equal(t, deadline, recs[1].ConfirmBy)
	assert.True(t, recs[1].NeedsConfirmation())
	assert.Equal(t, "ada@example.com", recs[1].Subject)

	// Without an e-mail address nobody could confirm: refused, naming it.
	in.Values = map[string][]string{"name": {"Ada"}, "phone": {"+49 30 1234567"}}
	sub, recs, err := ValidateSubmission(doiForm(), in)
	requireRejected(t, sub, recs, err, "consent.12", M(MsgNeedsEmail).String())

	// The transport must set the deadline.
	in.Values["email"] = []string{"ada@example.com"}
	in.ConfirmBy = time.Time{}
	_, _, err = ValidateSubmission(doiForm(), in)
	assert.Equal(t, EINTERNAL, ErrorCode(err))

	// A consent that was not ticked needs nothing.
	in.Consents[12] = ConsentInput{}
	_, recs, err = ValidateSubmission(doiForm(), in)
	require.NoError(t, err)
	require.Len(t, recs, 1)
}

func TestConfirmationStates(t *testing.T) {
	deadline := keyTime.Add(time.Hour)
	r := &ConsentRecord{ID: 5, Action: ActionGiven, ConfirmBy: deadline, ConsentID: 12, VersionID: 202, SubmissionID: 9,
		TextHash: "h", FormID: 7, FormKey: "k", Source: "Contact", Subject: "ada@example.com", IP: "203.0.113.7"}
	tests := []struct {
		confirmed bool
		at        time.Time
		want      string
	}{
		{false, keyTime, ConfirmPending},
		{true, keyTime, ConfirmDone},
		{false, deadline, ConfirmExpired},
		{true, deadline.Add(time.Hour), ConfirmDone},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, r.ConfirmationState(tt.confirmed, tt.at), "%+v", tt)
	}
	plain := &ConsentRecord{Action: ActionGiven}
	assert.Equal(t, ConfirmNotNeeded, plain.ConfirmationState(false, keyTime))

	assert.NoError(t, CheckConfirmation(r, false, false, keyTime))
	assert.Equal(t, ECONFLICT, ErrorCode(CheckConfirmation(r, true, false, keyTime)))
	assert.Equal(t, ECONFLICT, ErrorCode(CheckConfirmation(r, false, true, keyTime)))
	assert.Equal(t, EGONE, ErrorCode(CheckConfirmation(r, false, false, deadline)))
	assert.Equal(t, EINVALID, ErrorCode(CheckConfirmation(plain, false, false, keyTime)))

	c := ConfirmationOf(r, "198.51.100.1", "agent")
	assert.Equal(t, ActionConfirmed, c.Action)
	assert.Equal(t, int64(5), c.ConfirmsID)
	assert.Zero(t, c.WithdrawsID)
	assert.True(t, c.ConfirmBy.IsZero())
	assert.Equal(t, []any{r.ConsentID, r.VersionID, r.TextHash, r.FormID, r.SubmissionID, r.Subject, "198.51.100.1", "agent"},
		[]any{c.ConsentID, c.VersionID, c.TextHash, c.FormID, c.SubmissionID, c.Subject, c.IP, c.UserAgent})

	// Only given consents can be withdrawn; a confirmation cannot.
	assert.Equal(t, EINVALID, ErrorCode(CheckWithdrawal(c, false)))
	// A submission's records confirm nothing, a chat's need no e-mail.
	assert.Equal(t, EINVALID, ErrorCode(ValidateSubmissionRecords(&Submission{FormID: 7}, []*ConsentRecord{c})))
	chat := &ConsentRecord{Action: ActionGiven, ConsentID: 3, VersionID: 5, TextHash: "h", ChannelID: 7,
		Interacted: true, ConfirmBy: deadline}
	assert.Equal(t, EINVALID, ErrorCode(ValidateChatConsentRecord(chat)))
}
