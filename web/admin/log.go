package admin

import (
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// logRow is one line of the list, with display strings worked out in Go so
// the template stays free of logic.
type logRow struct {
	ID          int64
	When        string
	Datetime    string
	Consent     string
	ConsentID   int64
	User        string
	IP          string
	Source      string
	PageURL     string
	Subject     string
	Withdrawal  bool
	WithdrawsID int64
	// Confirmation marks a double opt-in confirmation of entry ConfirmsID.
	Confirmation bool
	ConfirmsID   int64
	// WithdrawnLater marks a given consent that a later entry withdrew.
	WithdrawnLater bool
	// DOI is the double opt-in state of a given consent that needs one:
	// unconfirmed, confirmed or expired.
	DOI string
	// PreTicked marks a box that was pre-ticked and never touched: weak
	// evidence of consent (CJEU C-673/17 Planet49).
	PreTicked bool
}

// logRowOf is r as a line of the list in lang. The time shows seconds
// (format.second): entries of one submission share a minute, and the log
// is evidence, so the list shows as much as fits; the column header says
// UTC.
func logRowOf(lang string, r *formbuilder.ConsentRecord, st backoffice.RecordState) logRow {
	return logRow{
		ID:             r.ID,
		When:           r.Time.UTC().Format(formbuilder.T(lang, "format.second")),
		Datetime:       r.Time.UTC().Format(time.RFC3339Nano),
		Consent:        r.ConsentName + " v" + strconv.Itoa(r.VersionNo),
		ConsentID:      r.ConsentID,
		User:           r.User,
		IP:             r.IP,
		Source:         r.Source,
		PageURL:        r.PageURL,
		Subject:        r.Subject,
		Withdrawal:     r.Action == formbuilder.ActionWithdrawn,
		WithdrawsID:    r.WithdrawsID,
		Confirmation:   r.Action == formbuilder.ActionConfirmed,
		ConfirmsID:     r.ConfirmsID,
		WithdrawnLater: st.Withdrawn,
		DOI:            st.Confirmation,
		PreTicked:      r.PreTickedUntouched(),
	}
}

// logListView is the data of log.html.
type logListView struct {
	// Heading and Crumb describe the scope: the whole log, one form or one
	// consent; Path is where the filter form and the pager point.
	Heading   string
	CrumbURL  string
	CrumbName string
	Path      string
	// Fixed names the filter the scope sets ("form_id" or "consent_id"),
	// which the filter form then leaves out.
	Fixed    string
	Q        backoffice.LogQuery
	Consents []*formbuilder.Consent
	Forms    []*formbuilder.Form
	Rows     []logRow
	Filtered bool
	// OlderURL and NewerURL page through the log; FirstURL is the newest page.
	OlderURL, NewerURL, FirstURL string
	CSVURL, NDJSONURL            string
}

func (s *Server) handleLogList(c *fiber.Ctx) error {
	return s.renderLog(c, &logListView{Heading: s.tr(c, "log.title"), Path: "/admin/log"})
}

// handleFormLog is the list of one form's consents, linked from its settings.
func (s *Server) handleFormLog(c *fiber.Ctx) error {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return err
	}
	form, err := s.svc.Forms.FindFormByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	ids := strconv.FormatInt(id, 10)
	return s.renderLog(c, &logListView{
		Heading: s.tr(c, "log.title_of", "name", form.Name), Path: "/admin/forms/" + ids + "/log",
		CrumbURL: "/admin/forms/" + ids, CrumbName: form.Name, Fixed: "form_id",
		Q: backoffice.LogQuery{FormID: ids},
	})
}

// handleConsentLog is the list of one consent's entries (every version),
// linked from the consent's settings.
func (s *Server) handleConsentLog(c *fiber.Ctx) error {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return err
	}
	co, err := s.svc.Consents.FindConsentByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	ids := strconv.FormatInt(id, 10)
	return s.renderLog(c, &logListView{
		Heading: s.tr(c, "log.title_of", "name", co.Name), Path: "/admin/consents/" + ids + "/log",
		CrumbURL: "/admin/consents/" + ids, CrumbName: co.Name, Fixed: "consent_id",
		Q: backoffice.LogQuery{ConsentID: ids},
	})
}

// renderLog renders a list page for the filter in the query string, with
// the scope's fixed filter on top. A filter that cannot be read shows the
// form again with the messages and no rows, status 422.
func (s *Server) renderLog(c *fiber.Ctx, v *logListView) error {
	ctx := c.UserContext()
	f, q, errs := backoffice.LogFilter(c)
	switch v.Fixed {
	case "form_id":
		q.FormID = v.Q.FormID
		f.FormID, _ = strconv.ParseInt(q.FormID, 10, 64)
		delete(errs, "form_id")
	case "consent_id":
		q.ConsentID = v.Q.ConsentID
		f.ConsentID, _ = strconv.ParseInt(q.ConsentID, 10, 64)
		delete(errs, "consent_id")
	}
	v.Q = q
	v.Filtered = q.Since != "" || q.Until != "" || q.IP != "" || q.Q != "" || q.Action != "" ||
		(v.Fixed != "form_id" && q.FormID != "") || q.ChannelID != "" || (v.Fixed != "consent_id" && q.ConsentID != "")
	var err error
	if v.Consents, err = s.svc.Consents.ListConsents(ctx); err != nil {
		return err
	}
	if v.Forms, err = s.svc.Forms.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true}); err != nil {
		return err
	}
	status := fiber.StatusOK
	if len(errs) == 0 {
		page, err := s.office.LogPage(ctx, f)
		switch {
		case formbuilder.ErrorCode(err) == formbuilder.EINVALID:
			// A free-text search that took too long, or a filter storage
			// refused: say so at the filter.
			errs = backoffice.LogFilterErrors(err)
			if len(errs) == 0 {
				errs["q"] = formbuilder.ErrorMsg(err)
			}
		case err != nil:
			return err
		default:
			for _, r := range page.Records {
				v.Rows = append(v.Rows, logRowOf(s.lang(c), r, page.States[r.ID]))
			}
			qs := q.Encode()
			if f.Limit > 0 {
				// A chosen page size stays for the following pages.
				qs = strings.TrimPrefix(qs+"&limit="+strconv.Itoa(f.Limit), "&")
			}
			link := func(k string, id int64) string {
				u := v.Path + "?" + k + "=" + strconv.FormatInt(id, 10)
				if qs != "" {
					u += "&" + qs
				}
				return u
			}
			if page.OlderBefore > 0 {
				v.OlderURL = link("before", page.OlderBefore)
			}
			if page.NewerAfter > 0 {
				v.NewerURL = link("after", page.NewerAfter)
				v.FirstURL = v.Path
				if qs != "" {
					v.FirstURL += "?" + qs
				}
			}
		}
	}
	exportQS := q.Encode()
	if exportQS != "" {
		exportQS = "?" + exportQS
	}
	v.CSVURL = "/admin/log/export.csv" + exportQS
	v.NDJSONURL = "/admin/log/export.ndjson" + exportQS
	view := &view{Title: v.Heading, Nav: "log", Data: v}
	if len(errs) > 0 {
		status = fiber.StatusUnprocessableEntity
		view.Errors = map[string]formbuilder.Msg{}
		for k, m := range errs {
			switch k {
			case "before", "after", "limit":
				// Pager parameters have no input to point at.
				view.Error = badPageLink(k, m)
			default:
				// Input ids of the filter form are "filter-" + parameter.
				view.Errors["filter-"+k] = m
			}
		}
	}
	view.Wide = true
	return s.render(c, status, "log", view)
}

// logDetailView is the data of log_detail.html.
type logDetailView struct {
	Rec  *formbuilder.ConsentRecord
	When string
	// Version is the consent version the visitor was shown; HashOK says
	// whether its stored hash still matches its text, and TextHashOK
	// whether the entry's text hash names this very content.
	Version    *formbuilder.ConsentVersion
	Label      formbuilder.Label
	HashOK     bool
	TextHashOK bool
	// Withdrawn is set for a given consent that a later entry withdrew;
	// Withdraws is, for a withdrawal or a confirmation, the entry it
	// withdrew or confirmed. DOI is the double opt-in state of a given
	// consent that needs one.
	Withdrawn bool
	DOI       string
	Withdraws *formbuilder.ConsentRecord
	PreTicked bool
}

// handleLogDetail shows one entry with the exact text and label the
// visitor saw, the hashes that prove them and the entry's metadata.
func (s *Server) handleLogDetail(c *fiber.Ctx) error {
	rec, ver, st, err := s.office.RecordVersion(c)
	if err != nil {
		return err
	}
	v := &logDetailView{
		Rec: rec, When: rec.Time.UTC().Format(time.RFC3339Nano), Version: ver,
		Label: formbuilder.ParseLabel(ver.Label), HashOK: ver.VerifyHash(), TextHashOK: ver.Hash == rec.TextHash,
		PreTicked: rec.PreTickedUntouched(), Withdrawn: st.Withdrawn, DOI: st.Confirmation,
	}
	if of := rec.WithdrawsID + rec.ConfirmsID; rec.Action != formbuilder.ActionGiven && of > 0 {
		if v.Withdraws, err = s.svc.Log.FindRecord(c.UserContext(), of); err != nil {
			return err
		}
	}
	return s.render(c, fiber.StatusOK, "log_detail", &view{Title: s.tr(c, "entry.title", "id", strconv.FormatInt(rec.ID, 10)),
		Nav: "log", Data: v})
}

// handleLogExport downloads the entries of the filter in the query string
// (the list's current filter) as CSV or NDJSON.
func (s *Server) handleLogExport(format string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		f, _, errs := backoffice.LogFilter(c)
		if len(errs) > 0 {
			return formbuilder.FieldErrors(errs)
		}
		return s.office.StreamLog(c, f, format)
	}
}
