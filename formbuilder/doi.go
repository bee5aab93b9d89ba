package formbuilder

import "time"

// Double opt-in: a consent marked "confirm by e-mail" (Consent.ConfirmByEmail,
// marketing mail being the usual case in Germany) is logged when given as
// "given, unconfirmed" (ConsentRecord.ConfirmBy set), and the subject gets a
// mail with a signed link; following it appends a confirmation entry. A
// consent nobody confirmed by ConfirmBy has expired. Nothing is ever
// changed or deleted for any of this: every state is an entry or derived
// from the entries.

// DefaultConfirmWithin is how long a visitor has to confirm by default.
const DefaultConfirmWithin = 7 * 24 * time.Hour

// Confirmation states of a given entry, as lists, exports and webhooks
// show them.
const (
	// ConfirmNotNeeded: the consent needs no confirmation.
	ConfirmNotNeeded = ""
	// ConfirmPending: given, unconfirmed, still in time.
	ConfirmPending = "unconfirmed"
	// ConfirmDone: a confirmation entry follows.
	ConfirmDone = "confirmed"
	// ConfirmExpired: given, never confirmed, too late now.
	ConfirmExpired = "expired"
)

// NeedsConfirmation reports whether the entry is a given consent that is
// valid only once confirmed.
func (r *ConsentRecord) NeedsConfirmation() bool {
	return r.Action == ActionGiven && !r.ConfirmBy.IsZero()
}

// ConfirmationState is the state of entry r at now, given whether a
// confirmation entry for it exists.
func (r *ConsentRecord) ConfirmationState(confirmed bool, now time.Time) string {
	switch {
	case !r.NeedsConfirmation():
		return ConfirmNotNeeded
	case confirmed:
		return ConfirmDone
	case now.Before(r.ConfirmBy):
		return ConfirmPending
	}
	return ConfirmExpired
}

// CheckConfirmation decides whether entry orig may be confirmed at now:
// EINVALID unless it is a given consent that needs confirmation, ECONFLICT
// when it was confirmed or withdrawn already, EGONE after its deadline.
func CheckConfirmation(orig *ConsentRecord, confirmed, withdrawn bool, now time.Time) error {
	switch {
	case !orig.NeedsConfirmation():
		return NewError(EINVALID, MsgConfirmNotNeeded)
	case confirmed:
		return NewError(ECONFLICT, MsgConfirmedAlready)
	case withdrawn:
		return NewError(ECONFLICT, MsgConfirmWithdrawn)
	case !now.Before(orig.ConfirmBy):
		return NewError(EGONE, MsgConfirmExpired)
	}
	return nil
}

// ConfirmationOf returns the entry that confirms orig: the consent,
// version, form, submission, source and subject of the original, the
// confirming visitor's ip and userAgent. Storage sets its id, time and
// hashes when it appends it.
//
// Unlike a withdrawal it keeps the submission: the confirmation completes
// what was given with it, and the form's webhooks send that submission
// again with the consent now confirmed.
func ConfirmationOf(orig *ConsentRecord, ip, userAgent string) *ConsentRecord {
	c := WithdrawalOf(orig, ip, userAgent)
	c.Action, c.WithdrawsID, c.ConfirmsID, c.SubmissionID = ActionConfirmed, 0, orig.ID, orig.SubmissionID
	return c
}
