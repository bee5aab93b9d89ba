package backoffice

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// query reads the parameters of a list's filter from the query string,
// keeping a message per parameter that cannot be read (keyed by the
// parameter's name), so a page can show them and an API can answer 422.
type query struct {
	c    *fiber.Ctx
	errs map[string]formbuilder.Msg
}

func newQuery(c *fiber.Ctx) *query { return &query{c: c, errs: map[string]formbuilder.Msg{}} }

// get is the trimmed value of parameter name.
func (q *query) get(name string) string { return strings.TrimSpace(q.c.Query(name)) }

// id reads v, the value of parameter name, as a positive id; empty and 0
// mean none.
func (q *query) id(name, v string) int64 {
	if v == "" || v == "0" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		q.errs[name] = formbuilder.M(formbuilder.MsgPositiveID)
	}
	return n
}

// timeRange reads the values of since and until (RFC 3339 or YYYY-MM-DD;
// until includes that day).
func (q *query) timeRange(since, until string) (from, to time.Time) {
	var err error
	if from, err = formbuilder.ParseTimeBound(since, false); err != nil {
		q.errs["since"] = formbuilder.ErrorMsg(err)
	}
	if to, err = formbuilder.ParseTimeBound(until, true); err != nil {
		q.errs["until"] = formbuilder.ErrorMsg(err)
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		q.errs["until"] = formbuilder.M(formbuilder.MsgAfterSince)
	}
	return from, to
}

// limit reads the page size; empty means the default.
func (q *query) limit() int {
	l := q.get("limit")
	if l == "" {
		return 0
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > formbuilder.MaxPageSize {
		q.errs["limit"] = formbuilder.M(formbuilder.MsgPageSize, "max", strconv.Itoa(formbuilder.MaxPageSize))
	}
	return n
}

// AuditQuery is an audit trail filter as it came in the query string,
// kept as typed so the filter form shows it back.
type AuditQuery struct {
	UserID, Target, Since, Until string
}

// Encode returns the query string of the filter (without pagination).
func (q AuditQuery) Encode() string {
	v := url.Values{}
	for k, x := range map[string]string{"user_id": q.UserID, "target": q.Target, "since": q.Since, "until": q.Until} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

// AuditFilter reads user_id, target, since, until, before, after and
// limit of the audit trail's list and exports, with a message per
// parameter that cannot be read.
func AuditFilter(c *fiber.Ctx) (formbuilder.AuditFilter, AuditQuery, map[string]formbuilder.Msg) {
	r := newQuery(c)
	q := AuditQuery{UserID: r.get("user_id"), Target: r.get("target"), Since: r.get("since"), Until: r.get("until")}
	var f formbuilder.AuditFilter
	f.UserID = r.id("user_id", q.UserID)
	f.BeforeID = r.id("before", r.get("before"))
	f.AfterID = r.id("after", r.get("after"))
	if q.Target != "" && !formbuilder.ValidAuditTarget(q.Target) {
		r.errs["target"] = formbuilder.M(formbuilder.MsgNotAChangeKind)
	}
	f.Target = q.Target
	f.Since, f.Until = r.timeRange(q.Since, q.Until)
	f.Limit = r.limit()
	return f, q, r.errs
}
