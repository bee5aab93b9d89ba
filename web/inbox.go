package web

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// The inbox: a form's submissions in the admin UI (list, search, detail,
// downloads) and in the JSON API. Values are visitor input: they reach the
// page only through html/template's escaping and the downloads only through
// the neutralising CSV encoder or JSON.

// routesInbox registers the inbox and the delivery settings. Like
// routesLog it runs after routesAdmin and routesAPI, whose prefix
// middleware (adminFrame; apiFrame and the token check) must run first.
// The routes exist even when the app was built without the inbox services
// (tests of other parts), so the OpenAPI document always matches; they
// answer 404 then.
func (s *Server) routesInbox(app *fiber.App) {
	get := func(p string, h fiber.Handler) { app.Get("/admin"+p, s.requireSession, h) }
	post := func(p string, h fiber.Handler) {
		app.Post("/admin"+p, s.checkSameOrigin, s.requireSession, s.checkCSRF, h)
	}
	// Static paths before /submissions/:sid.
	get("/forms/:id/submissions", s.handleInbox)
	get("/forms/:id/submissions/export.csv", s.handleInboxExport(formbuilder.FormatCSV))
	get("/forms/:id/submissions/export.ndjson", s.handleInboxExport(formbuilder.FormatNDJSON))
	get("/forms/:id/submissions/:sid", s.handleSubmission)

	get("/forms/:id/deliveries", s.handleDeliveries)
	post("/forms/:id/webhooks", s.handleWebhookAdd)
	post("/forms/:id/webhooks/:n/delete", s.handleReceiverDelete(formbuilder.DeliveryWebhook))
	post("/forms/:id/webhooks/:n/secret", s.handleWebhookSecret)
	post("/forms/:id/webhooks/:n/test", s.handleReceiverTest(formbuilder.DeliveryWebhook))
	post("/forms/:id/emails", s.handleEmailAdd)
	post("/forms/:id/emails/:n/delete", s.handleReceiverDelete(formbuilder.DeliveryEmail))
	post("/forms/:id/emails/:n/test", s.handleReceiverTest(formbuilder.DeliveryEmail))

	app.Get("/api/v1/forms/:id/submissions", s.apiListSubmissions)
	app.Get("/api/v1/forms/:id/submissions/export", s.apiExportSubmissions)
	app.Get("/api/v1/submissions/:id", s.apiGetSubmission)
}

func init() {
	for k, v := range map[string]string{
		"webhook-added":   "Webhook added. Use “Send test” to check that it arrives.",
		"webhook-removed": "Webhook removed. Messages still queued for it will not be sent.",
		"webhook-secret":  "New signing secret made. Update the receiver: from now on every delivery is signed with it.",
		"email-added":     "Address added. Use “Send test” to check that mail arrives.",
		"email-removed":   "Address removed. Mails still queued for it will not be sent.",
		"test-queued":     "Test queued. Its result appears in the delivery log below in a few seconds; reload the page to see it.",
	} {
		notices[k] = v
	}
	for k, v := range map[string]string{
		"inbox-q": "Search", "webhook-url": "Webhook URL", "webhook-secret": "Signing secret", "email": "E-mail address",
	} {
		errorLabels[k] = v
	}
}

// errInboxOff answers routes whose services the app was built without.
var errInboxOff = formbuilder.Errorf(formbuilder.ENOTFOUND, "submissions are not available on this server")

// inboxQuery is the list's query string as typed.
type inboxQuery struct {
	Q string
}

// parseInboxFilter reads q, before, after and limit; unreadable parameters
// are named in the returned map.
func parseInboxFilter(c *fiber.Ctx, formID int64) (formbuilder.SubmissionFilter, inboxQuery, map[string]string) {
	f := formbuilder.SubmissionFilter{FormID: formID}
	q := inboxQuery{Q: strings.TrimSpace(c.Query("q"))}
	errs := map[string]string{}
	id := func(name string) int64 {
		v := strings.TrimSpace(c.Query(name))
		if v == "" || v == "0" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs[name] = "must be a positive id"
		}
		return n
	}
	f.BeforeID = id("before")
	f.AfterID = id("after")
	if utf8.RuneCountInString(q.Q) > maxLogQuery || !utf8.ValidString(q.Q) {
		errs["q"] = "is too long (at most 200 characters)"
	}
	f.Query = q.Q
	if l := strings.TrimSpace(c.Query("limit")); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > formbuilder.MaxPageSize {
			errs["limit"] = "must be between 1 and " + strconv.Itoa(formbuilder.MaxPageSize)
		}
		f.Limit = n
	}
	return f, q, errs
}

// inboxPage is one keyset page with the ids the pager needs.
type inboxPage struct {
	Subs []*formbuilder.Submission
	// OlderBefore is the before= of the next older page, NewerAfter the
	// after= of the next newer one; 0 when there is none.
	OlderBefore, NewerAfter int64
}

// loadInboxPage reads the page of f, newest first, and asks one row beyond
// each end whether more pages exist; it never counts or skips rows.
func (s *Server) loadInboxPage(ctx context.Context, f formbuilder.SubmissionFilter) (*inboxPage, error) {
	f.Limit = formbuilder.PageLimit(f.Limit)
	subs, err := s.svc.Inbox.ListSubmissions(ctx, f)
	if err != nil {
		return nil, err
	}
	if f.AfterID > 0 && len(subs) < f.Limit {
		// Fewer than a page above: that is the newest page.
		f.AfterID, f.BeforeID = 0, 0
		return s.loadInboxPage(ctx, f)
	}
	p := &inboxPage{Subs: subs}
	if len(subs) == 0 {
		return p, nil
	}
	probe := func(g formbuilder.SubmissionFilter) (bool, error) {
		g.Limit = 1
		more, err := s.svc.Inbox.ListSubmissions(ctx, g)
		return len(more) > 0, err
	}
	if f.BeforeID > 0 || f.AfterID > 0 {
		g := f
		g.BeforeID, g.AfterID = 0, subs[0].ID
		newer, err := probe(g)
		if err != nil {
			return nil, err
		}
		if newer {
			p.NewerAfter = subs[0].ID
		}
	}
	if len(subs) == f.Limit {
		g := f
		g.AfterID, g.BeforeID = 0, subs[len(subs)-1].ID
		older, err := probe(g)
		if err != nil {
			return nil, err
		}
		if older {
			p.OlderBefore = subs[len(subs)-1].ID
		}
	}
	return p, nil
}

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

func inboxRowOf(f *formbuilder.Form, sub *formbuilder.Submission) inboxRow {
	row := inboxRow{ID: sub.ID, When: sub.CreatedAt.UTC().Format(logTimeFormat), Subject: sub.Subject,
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
	Q        inboxQuery
	Rows     []inboxRow
	Filtered bool
	// OlderURL and NewerURL page through the list; FirstURL is the newest.
	OlderURL, NewerURL, FirstURL string
	CSVURL, NDJSONURL            string
}

// inboxForm returns the form of the :id parameter for inbox pages.
func (s *Server) inboxForm(c *fiber.Ctx) (*formbuilder.Form, error) {
	if s.svc.Inbox == nil {
		return nil, errInboxOff
	}
	return s.adminForm(c)
}

func (s *Server) handleInbox(c *fiber.Ctx) error {
	form, err := s.inboxForm(c)
	if err != nil {
		return err
	}
	f, q, errs := parseInboxFilter(c, form.ID)
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
	pv := &view{Title: "Submissions: " + form.Name, Nav: "forms", Data: v}
	status := fiber.StatusOK
	if len(errs) == 0 {
		page, err := s.loadInboxPage(c.UserContext(), f)
		switch {
		case formbuilder.ErrorCode(err) == formbuilder.EINVALID:
			errs["q"] = formbuilder.ErrorMessage(err)
		case err != nil:
			return err
		default:
			for _, sub := range page.Subs {
				v.Rows = append(v.Rows, inboxRowOf(form, sub))
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
		pv.Errors = map[string]string{}
		for k, m := range errs {
			if k == "q" || k == "query" {
				pv.Errors["inbox-q"] = m
			} else {
				pv.Error = "This page link is not valid (" + k + " " + m + "). Start again from the first page."
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
	Outbox  []*formbuilder.OutboxMessage
}

// findSubmission returns the submission of the :sid parameter, which must
// belong to form: ids are sequential, so a wrong pairing is a missing page,
// never another form's data.
func (s *Server) findSubmission(c *fiber.Ctx, form *formbuilder.Form, param string) (*formbuilder.Submission, error) {
	sid, err := paramID(c, param)
	if err != nil {
		return nil, err
	}
	sub, err := s.svc.Submissions.FindSubmission(c.UserContext(), sid)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND || (err == nil && form != nil && sub.FormID != form.ID) {
		return nil, formbuilder.Errorf(formbuilder.ENOTFOUND,
			"This submission does not exist (any more). Submissions older than the form's retention period are deleted.")
	}
	return sub, err
}

// submissionDetail finds the submission of path parameter param (of form
// unless nil), the consent entries given with it and, when deliveries are
// on, its messages in the outbox.
func (s *Server) submissionDetail(c *fiber.Ctx, form *formbuilder.Form, param string) (
	*formbuilder.Submission, []*formbuilder.ConsentRecord, []*formbuilder.OutboxMessage, error) {
	sub, err := s.findSubmission(c, form, param)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx := c.UserContext()
	recs, err := s.svc.Inbox.RecordsOfSubmission(ctx, sub.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	var outbox []*formbuilder.OutboxMessage
	if s.svc.Outbox != nil {
		if outbox, err = s.svc.Outbox.ListOutbox(ctx, formbuilder.OutboxFilter{SubmissionID: sub.ID}); err != nil {
			return nil, nil, nil, err
		}
	}
	return sub, recs, outbox, nil
}

func (s *Server) handleSubmission(c *fiber.Ctx) error {
	form, err := s.inboxForm(c)
	if err != nil {
		return err
	}
	sub, recs, outbox, err := s.submissionDetail(c, form, "sid")
	if err != nil {
		return err
	}
	v := &submissionView{Form: form, Sub: sub, When: sub.CreatedAt.UTC().Format(time.RFC3339),
		Values: formbuilder.LabeledValues(form, sub, true), Records: recs, Outbox: outbox}
	return s.render(c, fiber.StatusOK, "inbox_detail", &view{
		Title: "Submission " + strconv.FormatInt(sub.ID, 10) + ": " + form.Name, Nav: "forms", Data: v})
}

// handleInboxExport downloads the form's submissions (of the search in the
// query string) as CSV or NDJSON.
func (s *Server) handleInboxExport(format string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		form, err := s.inboxForm(c)
		if err != nil {
			return err
		}
		f, _, errs := parseInboxFilter(c, form.ID)
		if len(errs) > 0 {
			return formbuilder.FieldErrors(errs)
		}
		return s.streamSubmissions(c, form, f, format)
	}
}

// streamSubmissions answers with every submission of f in format, oldest
// first, streamed as it is read: constant memory whatever the inbox's size.
// The filter is checked before the first byte; an error after that ends
// the download with an explicit error line and a cut chunked stream, as
// the consent log's export does (writeExportAbort).
func (s *Server) streamSubmissions(c *fiber.Ctx, form *formbuilder.Form, f formbuilder.SubmissionFilter, format string) error {
	if strings.TrimSpace(f.Query) != "" {
		// A bad search fails here, with a status, not mid-stream.
		g := f
		g.Limit, g.BeforeID, g.AfterID = 1, 0, 0
		if _, err := s.svc.Inbox.ListSubmissions(c.UserContext(), g); err != nil {
			return err
		}
	}
	name := "submissions-" + form.Key + "-" + s.now().Format("20060102T150405Z") + "." + format
	c.Set(fiber.HeaderContentType, formbuilder.ExportContentType(format))
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if c.Method() == fiber.MethodHead {
		return nil
	}
	f.BeforeID, f.AfterID, f.Limit = 0, 0, 0
	inbox := s.svc.Inbox
	s.exportBody(c, "submission export of form "+form.Key, format, func(w io.Writer) (int64, error) {
		return formbuilder.ExportSubmissions(context.Background(), inbox, f, form, format, w, nil)
	})
	return nil
}
