package admin

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// The inbox: a form's submissions in the admin UI (list, search, detail,
// downloads) and in the JSON API. Values are visitor input: they reach the
// page only through html/template's escaping and the downloads only through
// the neutralising CSV encoder or JSON.

// inboxRow is a line of the list, worked out in Go.
type inboxRow struct {
	ID      int64
	When    string
	Subject string
	// Summary shows the first answers, shortened.
	Summary []string
	PageURL string
}

// shorten cuts s to n runes on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// inboxRowOf is sub as a line of the inbox in lang: its time, who sent it
// and the first answers, shortened.
func inboxRowOf(lang string, f *formbuilder.Form, sub *formbuilder.Submission) inboxRow {
	row := inboxRow{ID: sub.ID, When: sub.CreatedAt.UTC().Format(formbuilder.T(lang, "format.second")), Subject: sub.Subject,
		PageURL: shorten(sub.PageURL, 60)}
	for _, v := range formbuilder.LabeledValues(f, sub, false) {
		if len(row.Summary) == 3 {
			break
		}
		if len(v.Values) == 1 && v.Values[0] == sub.Subject {
			continue
		}
		row.Summary = append(row.Summary, shorten(v.Label, 30)+": "+shorten(strings.Join(v.Values, ", "), 60))
	}
	return row
}

// inboxView is the data of inbox.html.
type inboxView struct {
	Form     *formbuilder.Form
	Q        backoffice.InboxQuery
	Rows     []inboxRow
	Filtered bool
	// OlderURL and NewerURL page through the list; FirstURL is the newest.
	OlderURL, NewerURL, FirstURL string
	CSVURL, NDJSONURL            string
}

// inboxForm returns the form of the :id parameter for inbox pages.
func (s *Server) inboxForm(c *fiber.Ctx) (*formbuilder.Form, error) {
	if s.svc.Inbox == nil {
		return nil, backoffice.ErrInboxOff
	}
	f, err := s.adminForm(c)
	if err != nil {
		return nil, err
	}
	return f, backoffice.CheckForm(c, f)
}

func (s *Server) handleInbox(c *fiber.Ctx) error {
	form, err := s.inboxForm(c)
	if err != nil {
		return err
	}
	f, q, errs := backoffice.InboxFilter(c, form.ID)
	ids := strconv.FormatInt(form.ID, 10)
	path := "/admin/forms/" + ids + "/submissions"
	v := &inboxView{Form: form, Q: q, Filtered: q.Q != ""}
	qs := url.Values{}
	if q.Q != "" {
		qs.Set("q", q.Q)
	}
	exportQS := ""
	if len(qs) > 0 {
		exportQS = "?" + qs.Encode()
	}
	v.CSVURL = path + "/export.csv" + exportQS
	v.NDJSONURL = path + "/export.ndjson" + exportQS
	pv := &view{Title: s.tr(c, "inbox.title", "form", form.Name), Nav: "forms", Data: v}
	status := fiber.StatusOK
	if len(errs) == 0 {
		page, err := s.office.InboxPage(c.UserContext(), f)
		switch {
		case formbuilder.ErrorCode(err) == formbuilder.EINVALID:
			errs["q"] = formbuilder.ErrorMsg(err)
		case err != nil:
			return err
		default:
			for _, sub := range page.Subs {
				v.Rows = append(v.Rows, inboxRowOf(s.lang(c), form, sub))
			}
			if f.Limit > 0 {
				qs.Set("limit", strconv.Itoa(f.Limit))
			}
			link := func(k string, id int64) string {
				u := url.Values{}
				for key, vals := range qs {
					u[key] = vals
				}
				u.Set(k, strconv.FormatInt(id, 10))
				return path + "?" + u.Encode()
			}
			if page.OlderBefore > 0 {
				v.OlderURL = link("before", page.OlderBefore)
			}
			if page.NewerAfter > 0 {
				v.NewerURL = link("after", page.NewerAfter)
				v.FirstURL = path
				if len(qs) > 0 {
					v.FirstURL += "?" + qs.Encode()
				}
			}
		}
	}
	if len(errs) > 0 {
		status = fiber.StatusUnprocessableEntity
		pv.Errors = map[string]formbuilder.Msg{}
		for k, m := range errs {
			if k == "q" || k == "query" {
				pv.Errors["inbox-q"] = m
			} else {
				pv.Error = badPageLink(k, m)
			}
		}
	}
	return s.render(c, status, "inbox", pv)
}

// submissionView is the data of inbox_detail.html.
type submissionView struct {
	Form    *formbuilder.Form
	Sub     *formbuilder.Submission
	When    string
	Values  []formbuilder.LabeledValue
	Records []*formbuilder.ConsentRecord
	// States are what later entries say about the given ones (withdrawn,
	// double opt-in state), by entry id.
	States map[int64]backoffice.RecordState
	Outbox []*formbuilder.OutboxMessage
}

func (s *Server) handleSubmission(c *fiber.Ctx) error {
	form, err := s.inboxForm(c)
	if err != nil {
		return err
	}
	sub, recs, outbox, err := s.office.SubmissionDetail(c, form, "sid")
	if err != nil {
		return err
	}
	states, err := s.office.RecordStates(c.UserContext(), recs)
	if err != nil {
		return err
	}
	v := &submissionView{Form: form, Sub: sub, When: sub.CreatedAt.UTC().Format(time.RFC3339),
		Values: formbuilder.LabeledValues(form, sub, true), Records: recs, States: states, Outbox: outbox}
	return s.render(c, fiber.StatusOK, "inbox_detail", &view{
		Title: s.tr(c, "submission.title", "id", strconv.FormatInt(sub.ID, 10), "form", form.Name), Nav: "forms", Data: v})
}

// handleInboxExport downloads the form's submissions (of the search in the
// query string) as CSV or NDJSON.
func (s *Server) handleInboxExport(format string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		form, err := s.inboxForm(c)
		if err != nil {
			return err
		}
		f, _, errs := backoffice.InboxFilter(c, form.ID)
		if len(errs) > 0 {
			return formbuilder.FieldErrors(errs)
		}
		return s.office.StreamSubmissions(c, form, f, format)
	}
}
