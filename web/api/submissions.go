package api

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// apiSubmissionPage is the answer of GET /api/v1/forms/:id/submissions.
// NextBefore is the before= of the next (older) page, null on the last.
type apiSubmissionPage struct {
	Submissions []*formbuilder.Submission `json:"submissions"`
	NextBefore  *int64                    `json:"next_before"`
}

// apiInboxForm returns the form of the :id parameter for API calls.
func (s *Server) apiInboxForm(c *fiber.Ctx) (*formbuilder.Form, error) {
	if s.svc.Inbox == nil {
		return nil, backoffice.ErrInboxOff
	}
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return nil, err
	}
	f, err := s.svc.Forms.FindFormByID(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	return f, backoffice.CheckForm(c, f)
}

// apiInboxFilter returns the form of the :id parameter and the
// submission filter of the query string for API calls.
func (s *Server) apiInboxFilter(c *fiber.Ctx) (*formbuilder.Form, formbuilder.SubmissionFilter, error) {
	form, err := s.apiInboxForm(c)
	if err != nil {
		return nil, formbuilder.SubmissionFilter{}, err
	}
	f, _, errs := backoffice.InboxFilter(c, form.ID)
	if len(errs) > 0 {
		return nil, f, formbuilder.FieldErrors(errs)
	}
	return form, f, nil
}

// apiListSubmissions answers a keyset page of a form's submissions, newest
// first (q searches values and subject).
func (s *Server) apiListSubmissions(c *fiber.Ctx) error {
	_, f, err := s.apiInboxFilter(c)
	if err != nil {
		return err
	}
	page, err := s.office.InboxPage(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := apiSubmissionPage{Submissions: page.Subs}
	if out.Submissions == nil {
		out.Submissions = []*formbuilder.Submission{}
	}
	if page.OlderBefore > 0 {
		out.NextBefore = &page.OlderBefore
	}
	return c.JSON(out)
}

// apiGetSubmission answers one submission with the consent entries given
// with it and the state of its deliveries.
func (s *Server) apiGetSubmission(c *fiber.Ctx) error {
	if s.svc.Inbox == nil {
		return backoffice.ErrInboxOff
	}
	sub, recs, msgs, err := s.office.SubmissionDetail(c, nil, "id")
	if err != nil {
		return err
	}
	consents := make([]apiRecord, 0, len(recs))
	states, err := s.office.RecordStates(c.UserContext(), recs)
	if err != nil {
		return err
	}
	for _, r := range recs {
		consents = append(consents, s.apiRecordOf(r, states[r.ID]))
	}
	deliveries := []*formbuilder.OutboxMessage{}
	if msgs != nil {
		deliveries = msgs
	}
	return c.JSON(fiber.Map{"submission": sub, "consents": consents, "deliveries": deliveries})
}

// apiExportSubmissions streams every submission of a form, oldest first,
// as CSV or NDJSON (?format=, csv by default; q as in the list).
func (s *Server) apiExportSubmissions(c *fiber.Ctx) error {
	form, f, err := s.apiInboxFilter(c)
	if err != nil {
		return err
	}
	format, err := apiExportFormat(c)
	if err != nil {
		return err
	}
	return s.office.StreamSubmissions(c, form, f, format)
}
