package api

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// apiRecord is a consent log entry in the API: the ConsentRecord JSON plus
// two derived flags, so clients need not know the rules behind them.
type apiRecord struct {
	*formbuilder.ConsentRecord
	// PreTickedUntouched: the box was ticked in advance and never touched.
	PreTickedUntouched bool `json:"pre_ticked_untouched"`
	// WithdrawnLater: a later entry withdrew this consent (given entries
	// only), the current state per subject and consent.
	WithdrawnLater bool `json:"withdrawn_later"`
	// Confirmation is the double opt-in state of a given entry that needs
	// one: unconfirmed, confirmed or expired (left out when none is needed).
	Confirmation string `json:"confirmation,omitempty"`
	// DocumentURL is the URL of exactly the file the label linked to, when
	// the version had a document.
	DocumentURL string `json:"document_url,omitempty"`
}

func (s *Server) apiRecordOf(r *formbuilder.ConsentRecord, st backoffice.RecordState) apiRecord {
	return apiRecord{ConsentRecord: r, PreTickedUntouched: r.PreTickedUntouched(), WithdrawnLater: st.Withdrawn,
		Confirmation: st.Confirmation, DocumentURL: r.DocumentURL(s.BaseURL)}
}

// apiRecordPage is the answer of GET /api/v1/consent-records. NextBefore is
// the before= of the next (older) page, null on the last page.
type apiRecordPage struct {
	Records    []apiRecord `json:"records"`
	NextBefore *int64      `json:"next_before"`
}

// apiLogFilter reads the filter of an API call; unreadable parameters are
// one EINVALID error naming each of them.
func apiLogFilter(c *fiber.Ctx) (formbuilder.RecordFilter, error) {
	f, _, errs := backoffice.LogFilter(c)
	if len(errs) > 0 {
		return f, formbuilder.FieldErrors(errs)
	}
	return f, nil
}

// apiListRecords answers a keyset page of the log, newest first.
func (s *Server) apiListRecords(c *fiber.Ctx) error {
	f, err := apiLogFilter(c)
	if err != nil {
		return err
	}
	page, err := s.office.LogPage(c.UserContext(), f)
	if err != nil {
		if formbuilder.ErrorCode(err) == formbuilder.EINVALID {
			return &formbuilder.Error{Code: formbuilder.EINVALID, Msg: formbuilder.ErrorMsg(err),
				Fields: backoffice.LogFilterErrors(err)}
		}
		return err
	}
	out := apiRecordPage{Records: make([]apiRecord, 0, len(page.Records))}
	for _, r := range page.Records {
		out.Records = append(out.Records, s.apiRecordOf(r, page.States[r.ID]))
	}
	if page.OlderBefore > 0 {
		out.NextBefore = &page.OlderBefore
	}
	return c.JSON(out)
}

// apiVersion is the consent version an entry points at, with the result of
// checking its hash against its content.
type apiVersion struct {
	*formbuilder.ConsentVersion
	HashOK bool `json:"hash_ok"`
}

// apiGetRecord answers one entry with the text and label the visitor saw.
func (s *Server) apiGetRecord(c *fiber.Ctx) error {
	rec, ver, st, err := s.office.RecordVersion(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{
		"record":  s.apiRecordOf(rec, st),
		"version": apiVersion{ConsentVersion: ver, HashOK: ver.VerifyHash() && ver.Hash == rec.TextHash},
	})
}

// apiExportFormat reads the ?format= of an API export, csv by default.
func apiExportFormat(c *fiber.Ctx) (string, error) {
	format := c.Query("format", formbuilder.FormatCSV)
	if !formbuilder.ValidExportFormat(format) {
		return "", formbuilder.FieldError("format", formbuilder.MsgEither, "a", "csv", "b", "ndjson")
	}
	return format, nil
}

// apiExportRecords streams every entry of the filter, oldest first, as CSV
// or NDJSON (?format=, csv by default).
func (s *Server) apiExportRecords(c *fiber.Ctx) error {
	f, err := apiLogFilter(c)
	if err != nil {
		return err
	}
	format, err := apiExportFormat(c)
	if err != nil {
		return err
	}
	return s.office.StreamLog(c, f, format)
}
