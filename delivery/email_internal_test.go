package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
)

// The notification mail says which consent still waits for the visitor's
// confirmation by e-mail, so nobody mails them on it too early.
func TestNotificationMailNamesUnconfirmedConsents(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	d := &mailData{form: &formbuilder.Form{Name: "Contact"}, sub: &formbuilder.Submission{CreatedAt: now}, now: now,
		records: []*formbuilder.ConsentRecord{
			{Action: formbuilder.ActionGiven, ConsentName: "Privacy", VersionNo: 1, Interacted: true},
			{Action: formbuilder.ActionGiven, ConsentName: "Newsletter", VersionNo: 2, Interacted: true,
				ConfirmBy: now.Add(formbuilder.DefaultConfirmWithin)},
			{Action: formbuilder.ActionConfirmed, ConsentName: "Newsletter", VersionNo: 2, ConfirmsID: 2},
		}}
	text := mailText(d)
	assert.Contains(t, text, "Consents given:\n  - Privacy, version 1\n"+
		"  - Newsletter, version 2 – to be confirmed by the visitor by e-mail (double opt-in)\n")
	assert.Equal(t, 2, strings.Count(text, "  - "), "a confirmation is no consent of its own")
}
