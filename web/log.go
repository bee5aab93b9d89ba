package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// The consent log ("received consents") in the admin UI and the JSON API.
// Every route here is GET: no route, in either place, changes or deletes
// an entry. Write verbs on these paths get Fiber's 405 with an Allow
// header, because no route for them exists (log_test walks the routes).

// routesLog registers the consent log pages and API routes. It must run
// after routesAdmin and routesAPI: their prefix middleware (adminFrame;
// apiFrame and the bearer-token check of the /api/v1 group) then runs
// before these handlers, as Fiber matches in registration order.
func (s *Server) routesLog(app *fiber.App) {
	admin := func(p string, h fiber.Handler) { app.Get("/admin"+p, s.requireSession, h) }
	// Static paths before /log/:id, which would otherwise take "export.csv".
	admin("/log", s.handleLogList)
	admin("/log/export.csv", s.handleLogExport(formbuilder.FormatCSV))
	admin("/log/export.ndjson", s.handleLogExport(formbuilder.FormatNDJSON))
	admin("/log/:id", s.handleLogDetail)
	admin("/forms/:id/log", s.handleFormLog)
	admin("/consents/:id/log", s.handleConsentLog)

	app.Get("/api/v1/consent-records", s.apiListRecords)
	app.Get("/api/v1/consent-records/export", s.apiExportRecords)
	app.Get("/api/v1/consent-records/:id", s.apiGetRecord)
}

// logQuery is a log filter as it came in the query string, kept as typed
// so the filter form shows it back.
type logQuery struct {
	ConsentID, FormID, Since, Until, IP, Q, Action string
	// ChannelID selects the consents given in one chat channel.
	ChannelID string
}

// encode returns the query string of the filter (without pagination),
// for pager and download links.
func (q logQuery) encode() string {
	v := url.Values{}
	for k, x := range map[string]string{"consent_id": q.ConsentID, "form_id": q.FormID, "channel_id": q.ChannelID, "since": q.Since,
		"until": q.Until, "ip": q.IP, "q": q.Q, "action": q.Action} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

// maxLogQuery bounds the free-text filter; storage refuses longer ones too,
// this only gives the message a name the form knows.
const maxLogQuery = 200

// parseLogFilter reads the filter parameters shared by the admin pages, the
// API and the exports: consent_id, form_id, channel_id, since, until (RFC 3339 or
// YYYY-MM-DD; until includes that day), ip, q, action, before, after and
// limit. It returns per-parameter messages for what cannot be read.
func parseLogFilter(c *fiber.Ctx) (formbuilder.RecordFilter, logQuery, map[string]string) {
	var f formbuilder.RecordFilter
	q := logQuery{
		ConsentID: strings.TrimSpace(c.Query("consent_id")),
		FormID:    strings.TrimSpace(c.Query("form_id")),
		ChannelID: strings.TrimSpace(c.Query("channel_id")),
		Since:     strings.TrimSpace(c.Query("since")),
		Until:     strings.TrimSpace(c.Query("until")),
		IP:        strings.TrimSpace(c.Query("ip")),
		Q:         strings.TrimSpace(c.Query("q")),
		Action:    strings.TrimSpace(c.Query("action")),
	}
	errs := map[string]string{}
	id := func(name, v string) int64 {
		if v == "" || v == "0" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs[name] = "must be a positive id"
		}
		return n
	}
	f.ConsentID = id("consent_id", q.ConsentID)
	f.FormID = id("form_id", q.FormID)
	f.ChannelID = id("channel_id", q.ChannelID)
	f.BeforeID = id("before", strings.TrimSpace(c.Query("before")))
	f.AfterID = id("after", strings.TrimSpace(c.Query("after")))
	var err error
	if f.Since, err = formbuilder.ParseTimeBound(q.Since, false); err != nil {
		errs["since"] = err.Error()
	}
	if f.Until, err = formbuilder.ParseTimeBound(q.Until, true); err != nil {
		errs["until"] = err.Error()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		errs["until"] = "must be after since"
	}
	if q.IP != "" {
		// Stored addresses are in netip's canonical form; so is the filter,
		// so "2001:DB8::1" finds "2001:db8::1".
		a, err := netip.ParseAddr(q.IP)
		if err != nil {
			errs["ip"] = "must be an IP address, as shown in the list"
		} else {
			f.IP = a.Unmap().String()
		}
	}
	if len([]rune(q.Q)) > maxLogQuery {
		errs["q"] = "is too long (at most 200 characters)"
	}
	f.Query = q.Q
	switch q.Action {
	case "", formbuilder.ActionGiven, formbuilder.ActionWithdrawn:
		f.Action = q.Action
	default:
		errs["action"] = "must be given or withdrawn"
	}
	if l := strings.TrimSpace(c.Query("limit")); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > formbuilder.MaxPageSize {
			errs["limit"] = "must be between 1 and " + strconv.Itoa(formbuilder.MaxPageSize)
		}
		f.Limit = n
	}
	return f, q, errs
}

// logFilterErrors renames storage's field names to the query parameters.
func logFilterErrors(err error) map[string]string {
	out := map[string]string{}
	for k, m := range formbuilder.ErrorFields(err) {
		if k == "query" {
			k = "q"
		}
		out[k] = m
	}
	return out
}

// logPage is one keyset page of the log with what the pager needs.
type logPage struct {
	Records []*formbuilder.ConsentRecord
	// Withdrawn marks given entries that a later entry withdrew: the
	// current state per subject and consent.
	Withdrawn map[int64]bool
	// OlderBefore is the before= of the next older page, 0 when none.
	OlderBefore int64
	// NewerAfter is the after= of the next newer page, 0 when none.
	NewerAfter int64
}

// loadLogPage reads the page of f, newest first. With f.AfterID it is the
// page just above that id (the "newer" direction); otherwise the page below
// f.BeforeID, or the newest. It never counts or skips rows (no OFFSET), so
// its cost does not depend on how deep the page lies or how long the log is.
func (s *Server) loadLogPage(ctx context.Context, f formbuilder.RecordFilter) (*logPage, error) {
	f.Limit = formbuilder.PageLimit(f.Limit)
	p := &logPage{}
	if f.AfterID > 0 {
		// The entries just above AfterID, oldest first, are the ones the
		// newer page shows; one more says whether a page beyond exists.
		up := f
		up.BeforeID = 0
		up.Limit = f.Limit + 1
		var above []*formbuilder.ConsentRecord
		if err := s.svc.Log.ExportRecords(ctx, up, func(r *formbuilder.ConsentRecord) error {
			above = append(above, r)
			return nil
		}); err != nil {
			return nil, err
		}
		if len(above) <= f.Limit {
			// Fewer than a page above: that is the newest page.
			f.AfterID, f.BeforeID = 0, 0
			return s.loadLogPage(ctx, f)
		}
		above = above[:f.Limit]
		for i := len(above) - 1; i >= 0; i-- {
			p.Records = append(p.Records, above[i])
		}
		p.NewerAfter = p.Records[0].ID
	} else {
		recs, err := s.svc.Log.ListRecords(ctx, f)
		if err != nil {
			return nil, err
		}
		p.Records = recs
		if f.BeforeID > 0 && len(recs) > 0 {
			p.NewerAfter = recs[0].ID
			if cheapProbe(f) {
				// Is there anything newer than this page? One row tells.
				up := f
				up.BeforeID, up.AfterID, up.Limit = 0, recs[0].ID, 1
				newer, err := s.svc.Log.ListRecords(ctx, up)
				if err != nil {
					return nil, err
				}
				if len(newer) == 0 {
					p.NewerAfter = 0
				}
			}
		}
	}
	if n := len(p.Records); n == f.Limit {
		p.OlderBefore = p.Records[n-1].ID
		if cheapProbe(f) {
			older := f
			older.AfterID, older.BeforeID, older.Limit = 0, p.Records[n-1].ID, 1
			more, err := s.svc.Log.ListRecords(ctx, older)
			if err != nil {
				return nil, err
			}
			if len(more) == 0 {
				p.OlderBefore = 0
			}
		}
	}
	ids := make([]int64, 0, len(p.Records))
	for _, r := range p.Records {
		if r.Action == formbuilder.ActionGiven {
			ids = append(ids, r.ID)
		}
	}
	w, err := s.svc.Log.Withdrawn(ctx, ids)
	if err != nil {
		return nil, err
	}
	p.Withdrawn = w
	return p, nil
}

// cheapProbe reports whether asking for one more row beyond a page is an
// index seek: with no filter or only equality filters (consent, form, IP),
// each of which storage serves from a (column, id) index. With a time
// range, an action or a text search, the row beyond may lie far away or
// nowhere, and looking for it could scan the rest of the log on every page
// view; then a full page simply offers the next one, which may be empty.
func cheapProbe(f formbuilder.RecordFilter) bool {
	return strings.TrimSpace(f.Query) == "" && f.Since.IsZero() && f.Until.IsZero() && f.Action == ""
}

// exportFilter is f without pagination: a download covers the whole
// filter, not the page on screen.
func exportFilter(f formbuilder.RecordFilter) formbuilder.RecordFilter {
	f.BeforeID, f.AfterID, f.Limit = 0, 0, 0
	return f
}

// exportWriteTimeout is how long one flush of an export may take. Fiber's
// WriteTimeout is set once for the whole response, which would cut off any
// download longer than that; the export pushes the deadline on at each
// flush instead, so a slow but live client gets the whole file and a stalled
// one is dropped.
const exportWriteTimeout = 30 * time.Second

// deadlineWriter is the stream writer of an export: each Flush extends the
// connection's write deadline before pushing the data on.
type deadlineWriter struct {
	w    *bufio.Writer
	conn net.Conn
}

func (d *deadlineWriter) Write(p []byte) (int, error) { return d.w.Write(p) }

func (d *deadlineWriter) Flush() error {
	if d.conn != nil {
		_ = d.conn.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	}
	return d.w.Flush()
}

// writeExportAbort ends a failed export with a line that marks it
// incomplete: a comment line for CSV, an object with an "error" member for
// NDJSON (export rows never have one).
func writeExportAbort(w *deadlineWriter, format, reqID string) {
	msg := "export incomplete: internal error (request " + reqID + ")"
	if format == formbuilder.FormatNDJSON {
		b, _ := json.Marshal(map[string]string{"error": msg})
		_, _ = w.Write(append(b, '\n'))
	} else {
		_, _ = w.Write([]byte("\n# ERROR " + msg + "\n"))
	}
	_ = w.Flush()
	// A write deadline in the past makes fasthttp's next write on the
	// connection fail, so the chunked response never gets its final chunk
	// and clients report a broken download. Unlike Close, it cannot panic
	// the server. The stream writer runs beside the handler, and fasthttp
	// sets its own deadline once the handler has returned, just before it
	// writes the response; an export that fails at once could be first, so
	// the past deadline is set again for a while. The final chunk only goes
	// out after this function returns, into the past deadline. Should the
	// server still be slower than that, the marker line above tells.
	if w.conn != nil {
		for i := 0; i < 25; i++ {
			_ = w.conn.SetWriteDeadline(time.Unix(1, 0))
			time.Sleep(10 * time.Millisecond)
		}
		_ = w.conn.SetWriteDeadline(time.Unix(1, 0))
	}
}

// streamExport answers with the entries of f in format, streamed as they
// are read (chunked; constant memory whatever the log's size). The filter
// is checked before the first byte; an error after that cannot change the
// status any more, so the download ends with an explicit error line.
func (s *Server) streamExport(c *fiber.Ctx, f formbuilder.RecordFilter, format string) error {
	name := "consent-log-" + s.now().Format("20060102T150405Z") + "." + format
	c.Set(fiber.HeaderContentType, formbuilder.ExportContentType(format))
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if c.Method() == fiber.MethodHead {
		return nil
	}
	f = exportFilter(f)
	logSvc := s.svc.Log
	s.exportBody(c, "consent log export", format, func(w io.Writer) (int64, error) {
		return formbuilder.Export(context.Background(), logSvc, f, format, w, nil)
	})
	return nil
}

// exportBody sends what export writes as the response body, streamed.
// The stream runs after the handler returned, when c is back in Fiber's
// pool, so everything it needs is taken from c now. A failed export ends
// with writeExportAbort's marker line and a broken chunked response; so
// does a panic in it, which is recovered here because fasthttp runs stream
// writers in a goroutine of their own, outside frame's recover, where a
// panic would end the whole server.
func (s *Server) exportBody(c *fiber.Ctx, what, format string, export func(w io.Writer) (int64, error)) {
	logger, conn, reqID := s.log, c.Context().Conn(), requestID(c)
	// One response per connection: a failed export must not be followed by
	// another request on a connection in an unknown state.
	c.Context().SetConnectionClose()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		dw := &deadlineWriter{w: w, conn: conn}
		var n int64
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
				}
			}()
			n, err = export(dw)
			return err
		}()
		if err != nil {
			logger.Error(what+" aborted", "format", format, "rows", n, "err", err.Error(), "request_id", reqID)
			// Closing the connection from here would race fasthttp's own
			// use of it (the stream writer runs in its own goroutine, and a
			// SetWriteDeadline on a closed conn panics the server).
			writeExportAbort(dw, format, reqID)
		}
	})
}
