package admin

import (
	"context"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// The audit trail in the admin UI: every change staff made, newest first,
// with filters (who, what, date range), keyset pages and streamed
// downloads. Like the consent log it cannot be changed or deleted here or
// anywhere: there is no route for it, and the database refuses.

// auditRow is one line of the list.
type auditRow struct {
	*formbuilder.AuditEvent
	When, Datetime string
	Details        []string
}

// auditView is the data of audit.html.
type auditView struct {
	Q        backoffice.AuditQuery
	Users    []*formbuilder.User
	Targets  []string
	Rows     []auditRow
	Filtered bool
	// OlderURL and NewerURL page through the trail; FirstURL is the newest.
	OlderURL, NewerURL, FirstURL string
	CSVURL, NDJSONURL            string
}

func (s *Server) handleAuditList(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f, q, errs := backoffice.AuditFilter(c)
	users, err := s.svc.Users.ListUsers(ctx)
	if err != nil {
		return err
	}
	qs := q.Encode()
	v := &auditView{Q: q, Users: users, Targets: formbuilder.AuditTargets, Filtered: qs != ""}
	if qs != "" {
		qs = "?" + qs
	}
	v.CSVURL, v.NDJSONURL = "/admin/audit/export.csv"+qs, "/admin/audit/export.ndjson"+qs
	pv := &view{Title: s.tr(c, "audit.title"), Nav: "audit", Data: v}
	status := fiber.StatusOK
	if len(errs) == 0 {
		f.Limit = formbuilder.PageLimit(f.Limit)
		evs, err := s.svc.Audit.ListAudit(ctx, f)
		if formbuilder.ErrorCode(err) == formbuilder.EINVALID {
			errs = formbuilder.ErrorFieldMsgs(err)
		} else if err != nil {
			return err
		}
		if f.AfterID > 0 && len(evs) < f.Limit {
			// Fewer than a page above: that is the newest page.
			f.AfterID = 0
			if evs, err = s.svc.Audit.ListAudit(ctx, f); err != nil {
				return err
			}
		}
		for _, ev := range evs {
			row := auditRow{AuditEvent: ev, When: ev.Time.UTC().Format(s.tr(c, "format.second")),
				Datetime: ev.Time.UTC().Format(time.RFC3339Nano)}
			for _, k := range formbuilder.DetailKeys(ev.Details) {
				row.Details = append(row.Details, named(s.lang(c), "audit.detail.", k)+": "+ev.Details[k])
			}
			v.Rows = append(v.Rows, row)
		}
		link := func(k string, id int64) string {
			u, _ := url.ParseQuery(q.Encode())
			u.Set(k, strconv.FormatInt(id, 10))
			if c.Query("limit") != "" {
				u.Set("limit", strconv.Itoa(f.Limit))
			}
			return "/admin/audit?" + u.Encode()
		}
		if n := len(evs); n == f.Limit {
			v.OlderURL = link("before", evs[n-1].ID)
		}
		if len(evs) > 0 && (f.BeforeID > 0 || f.AfterID > 0) {
			v.NewerURL = link("after", evs[0].ID)
			v.FirstURL = "/admin/audit" + qs
		}
	}
	if len(errs) > 0 {
		status = fiber.StatusUnprocessableEntity
		pv.Errors = map[string]formbuilder.Msg{}
		for k, m := range errs {
			switch k {
			case "user_id", "target", "since", "until":
				pv.Errors["audit-"+k] = m
			default:
				pv.Error = badPageLink(k, m)
			}
		}
	}
	return s.render(c, status, "audit", pv)
}

// handleAuditExport downloads the trail of the filter, oldest first,
// streamed with constant memory.
func (s *Server) handleAuditExport(format string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		f, _, errs := backoffice.AuditFilter(c)
		if len(errs) > 0 {
			return formbuilder.FieldErrors(errs)
		}
		f.BeforeID, f.AfterID, f.Limit = 0, 0, 0
		if err := f.Validate(); err != nil {
			return err
		}
		name := "audit-trail-" + s.Now().Format("20060102T150405Z") + "." + format
		audit := s.svc.Audit
		return s.Streams.Download(c, "audit trail export", name, format, func(ctx context.Context, w io.Writer) (int64, error) {
			return formbuilder.ExportAudit(ctx, audit, f, format, w)
		})
	}
}
