// Package backoffice holds what the two staff audiences, the admin UI
// (web/admin) and the JSON API (web/api), both read and check: filters and
// keyset pages of the consent log and of a form's inbox, their streamed
// exports, a submission with its entries and deliveries, an entry with the
// version it was given under, and the chat's conversations as operators see
// them. It attaches no routes and checks no credentials: each audience
// does that for its own routes.
package backoffice

import (
	"context"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// Office reads for the staff audiences.
type Office struct {
	base *httpx.Base
	svc  httpx.Services
}

// New returns an Office over svc.
func New(base *httpx.Base, svc httpx.Services) *Office { return &Office{base: base, svc: svc} }

// LogQuery is a log filter as it came in the query string, kept as typed
// so the filter form shows it back.
type LogQuery struct {
	ConsentID, FormID, Since, Until, IP, Q, Action string
	// ChannelID selects the consents given in one chat channel.
	ChannelID string
}

// Encode returns the query string of the filter (without pagination),
// for pager and download links.
func (q LogQuery) Encode() string {
	v := url.Values{}
	for k, x := range map[string]string{"consent_id": q.ConsentID, "form_id": q.FormID, "channel_id": q.ChannelID, "since": q.Since,
		"until": q.Until, "ip": q.IP, "q": q.Q, "action": q.Action} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

// MaxQuery bounds the free-text filter; storage refuses longer ones too,
// this only gives the message a name the form knows.
const MaxQuery = 200

// LogFilter reads the filter parameters shared by the admin pages, the
// API and the exports: consent_id, form_id, channel_id, since, until (RFC 3339 or
// YYYY-MM-DD; until includes that day), ip, q, action, before, after and
// limit. It returns per-parameter messages for what cannot be read.
func LogFilter(c *fiber.Ctx) (formbuilder.RecordFilter, LogQuery, map[string]formbuilder.Msg) {
	var f formbuilder.RecordFilter
	r := newQuery(c)
	q := LogQuery{ConsentID: r.get("consent_id"), FormID: r.get("form_id"), ChannelID: r.get("channel_id"),
		Since: r.get("since"), Until: r.get("until"), IP: r.get("ip"), Q: r.get("q"), Action: r.get("action")}
	errs := r.errs
	f.ConsentID = r.id("consent_id", q.ConsentID)
	f.FormID = r.id("form_id", q.FormID)
	f.ChannelID = r.id("channel_id", q.ChannelID)
	f.BeforeID = r.id("before", r.get("before"))
	f.AfterID = r.id("after", r.get("after"))
	f.Since, f.Until = r.timeRange(q.Since, q.Until)
	if q.IP != "" {
		// Stored addresses are in netip's canonical form; so is the filter,
		// so "2001:DB8::1" finds "2001:db8::1".
		a, err := netip.ParseAddr(q.IP)
		if err != nil {
			errs["ip"] = formbuilder.M(formbuilder.MsgIPAsListed)
		} else {
			f.IP = a.Unmap().String()
		}
	}
	if len([]rune(q.Q)) > MaxQuery {
		errs["q"] = formbuilder.M(formbuilder.MsgTooLongMax, "max", strconv.Itoa(MaxQuery))
	}
	f.Query = q.Q
	switch q.Action {
	case "", formbuilder.ActionGiven, formbuilder.ActionWithdrawn, formbuilder.ActionConfirmed:
		f.Action = q.Action
	default:
		errs["action"] = formbuilder.M(formbuilder.MsgOneOf, "values", "given, withdrawn, confirmed")
	}
	f.Limit = r.limit()
	return f, q, errs
}

// LogFilterErrors renames storage's field names to the query parameters.
func LogFilterErrors(err error) map[string]formbuilder.Msg {
	out := map[string]formbuilder.Msg{}
	for k, m := range formbuilder.ErrorFieldMsgs(err) {
		if k == "query" {
			k = "q"
		}
		out[k] = m
	}
	return out
}

// LogPage is one keyset page of the log with what the pager needs.
type LogPage struct {
	Records []*formbuilder.ConsentRecord
	// States are what later entries say about given ones (withdrawn, the
	// double opt-in state), by entry id; the current state per subject
	// and consent.
	States map[int64]RecordState
	// OlderBefore is the before= of the next older page, 0 when none.
	OlderBefore int64
	// NewerAfter is the after= of the next newer page, 0 when none.
	NewerAfter int64
}

// LogPage reads the page of f, newest first. With f.AfterID it is the
// page just above that id (the "newer" direction); otherwise the page below
// f.BeforeID, or the newest. It never counts or skips rows (no OFFSET), so
// its cost does not depend on how deep the page lies or how long the log is.
func (o *Office) LogPage(ctx context.Context, f formbuilder.RecordFilter) (*LogPage, error) {
	f.Limit = formbuilder.PageLimit(f.Limit)
	p := &LogPage{}
	if f.AfterID > 0 {
		// The entries just above AfterID, oldest first, are the ones the
		// newer page shows; one more says whether a page beyond exists.
		up := f
		up.BeforeID = 0
		up.Limit = f.Limit + 1
		var above []*formbuilder.ConsentRecord
		if err := o.svc.Log.ExportRecords(ctx, up, func(r *formbuilder.ConsentRecord) error {
			above = append(above, r)
			return nil
		}); err != nil {
			return nil, err
		}
		if len(above) <= f.Limit {
			// Fewer than a page above: that is the newest page.
			f.AfterID, f.BeforeID = 0, 0
			return o.LogPage(ctx, f)
		}
		above = above[:f.Limit]
		for i := len(above) - 1; i >= 0; i-- {
			p.Records = append(p.Records, above[i])
		}
		p.NewerAfter = p.Records[0].ID
	} else {
		recs, err := o.svc.Log.ListRecords(ctx, f)
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
				newer, err := o.svc.Log.ListRecords(ctx, up)
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
			more, err := o.svc.Log.ListRecords(ctx, older)
			if err != nil {
				return nil, err
			}
			if len(more) == 0 {
				p.OlderBefore = 0
			}
		}
	}
	states, err := o.RecordStates(ctx, p.Records)
	if err != nil {
		return nil, err
	}
	p.States = states
	return p, nil
}

// RecordStates reads what later entries say about the given entries among
// recs: which were withdrawn, and the confirmation state, at the server's
// now, of those that need one. Entries with nothing to say are left out.
func (o *Office) RecordStates(ctx context.Context, recs []*formbuilder.ConsentRecord) (map[int64]RecordState, error) {
	var given, needs []int64
	for _, r := range recs {
		if r.Action != formbuilder.ActionGiven {
			continue
		}
		given = append(given, r.ID)
		if r.NeedsConfirmation() {
			needs = append(needs, r.ID)
		}
	}
	out := map[int64]RecordState{}
	if len(given) == 0 {
		return out, nil
	}
	withdrawn, err := o.svc.Log.Withdrawn(ctx, given)
	if err != nil {
		return nil, err
	}
	confirmed := map[int64]bool{}
	if len(needs) > 0 {
		if confirmed, err = o.svc.Log.Confirmed(ctx, needs); err != nil {
			return nil, err
		}
	}
	now := o.base.Now()
	for _, r := range recs {
		if r.Action != formbuilder.ActionGiven {
			continue
		}
		st := RecordState{Withdrawn: withdrawn[r.ID], Confirmation: r.ConfirmationState(confirmed[r.ID], now)}
		if st != (RecordState{}) {
			out[r.ID] = st
		}
	}
	return out, nil
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

// StreamLog answers with the entries of f in format, streamed as they are
// read (chunked; constant memory whatever the log's size). The filter was
// checked before; an error after the first byte cannot change the status
// any more, so the download ends with an explicit error line.
func (o *Office) StreamLog(c *fiber.Ctx, f formbuilder.RecordFilter, format string) error {
	name := "consent-log-" + o.base.Now().Format("20060102T150405Z") + "." + format
	f = exportFilter(f)
	logSvc := o.svc.Log
	return o.base.Streams.Download(c, "consent log export", name, format, func(ctx context.Context, w io.Writer) (int64, error) {
		return formbuilder.Export(ctx, logSvc, f, format, o.base.BaseURL, w, nil)
	})
}

// ErrInboxOff answers routes whose services the app was built without.
var ErrInboxOff = formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgInboxOff)

// InboxQuery is the list's query string as typed.
type InboxQuery struct {
	Q string
}

// InboxFilter reads q, before, after and limit; unreadable parameters
// are named in the returned map.
func InboxFilter(c *fiber.Ctx, formID int64) (formbuilder.SubmissionFilter, InboxQuery, map[string]formbuilder.Msg) {
	f := formbuilder.SubmissionFilter{FormID: formID}
	r := newQuery(c)
	q := InboxQuery{Q: r.get("q")}
	f.BeforeID = r.id("before", r.get("before"))
	f.AfterID = r.id("after", r.get("after"))
	if utf8.RuneCountInString(q.Q) > MaxQuery || !utf8.ValidString(q.Q) {
		r.errs["q"] = formbuilder.M(formbuilder.MsgTooLongMax, "max", strconv.Itoa(MaxQuery))
	}
	f.Query = q.Q
	f.Limit = r.limit()
	return f, q, r.errs
}

// InboxPage is one keyset page with the ids the pager needs.
type InboxPage struct {
	Subs []*formbuilder.Submission
	// OlderBefore is the before= of the next older page, NewerAfter the
	// after= of the next newer one; 0 when there is none.
	OlderBefore, NewerAfter int64
}

// InboxPage reads the page of f, newest first, and asks one row beyond
// each end whether more pages exist; it never counts or skips rows.
func (o *Office) InboxPage(ctx context.Context, f formbuilder.SubmissionFilter) (*InboxPage, error) {
	f.Limit = formbuilder.PageLimit(f.Limit)
	subs, err := o.svc.Inbox.ListSubmissions(ctx, f)
	if err != nil {
		return nil, err
	}
	if f.AfterID > 0 && len(subs) < f.Limit {
		// Fewer than a page above: that is the newest page.
		f.AfterID, f.BeforeID = 0, 0
		return o.InboxPage(ctx, f)
	}
	p := &InboxPage{Subs: subs}
	if len(subs) == 0 {
		return p, nil
	}
	probe := func(g formbuilder.SubmissionFilter) (bool, error) {
		g.Limit = 1
		more, err := o.svc.Inbox.ListSubmissions(ctx, g)
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

// findSubmission returns the submission of the :sid parameter, which must
// belong to form: ids are sequential, so a wrong pairing is a missing page,
// never another form's data.
func (o *Office) findSubmission(c *fiber.Ctx, form *formbuilder.Form, param string) (*formbuilder.Submission, error) {
	sid, err := ParamID(c, param)
	if err != nil {
		return nil, err
	}
	sub, err := o.svc.Submissions.FindSubmission(c.UserContext(), sid)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND || (err == nil && form != nil && sub.FormID != form.ID) {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgSubmissionMissing)
	}
	return sub, err
}

// SubmissionDetail finds the submission of path parameter param (of form
// unless nil), the consent entries given with it and, when deliveries are
// on, its messages in the outbox.
func (o *Office) SubmissionDetail(c *fiber.Ctx, form *formbuilder.Form, param string) (
	*formbuilder.Submission, []*formbuilder.ConsentRecord, []*formbuilder.OutboxMessage, error) {
	sub, err := o.findSubmission(c, form, param)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx := c.UserContext()
	if form == nil {
		// Found by its own id (the API): the principal must be allowed
		// its form, or it does not exist for them.
		f, err := o.svc.Forms.FindFormByID(ctx, sub.FormID)
		if err != nil {
			return nil, nil, nil, err
		}
		if CheckForm(c, f) != nil {
			return nil, nil, nil, errNotYours(formbuilder.MsgSubmissionNotYours)
		}
	}
	recs, err := o.svc.Inbox.RecordsOfSubmission(ctx, sub.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	var outbox []*formbuilder.OutboxMessage
	// Deliveries belong to the form's settings (webhook URLs can carry
	// the receiver's secret): admins only.
	if p := httpx.PrincipalOf(c); o.svc.Outbox != nil && p != nil && p.User.IsAdmin() {
		if outbox, err = o.svc.Outbox.ListOutbox(ctx, formbuilder.OutboxFilter{SubmissionID: sub.ID}); err != nil {
			return nil, nil, nil, err
		}
	}
	return sub, recs, outbox, nil
}

// StreamSubmissions answers with every submission of f in format, oldest
// first, streamed as it is read: constant memory whatever the inbox's size.
// The filter is checked before the first byte; an error after that ends
// the download with an explicit error line and a cut chunked stream, as
// the consent log's export does.
func (o *Office) StreamSubmissions(c *fiber.Ctx, form *formbuilder.Form, f formbuilder.SubmissionFilter, format string) error {
	if strings.TrimSpace(f.Query) != "" {
		// A bad search fails here, with a status, not mid-stream.
		g := f
		g.Limit, g.BeforeID, g.AfterID = 1, 0, 0
		if _, err := o.svc.Inbox.ListSubmissions(c.UserContext(), g); err != nil {
			return err
		}
	}
	name := "submissions-" + form.Key + "-" + o.base.Now().Format("20060102T150405Z") + "." + format
	f.BeforeID, f.AfterID, f.Limit = 0, 0, 0
	inbox := o.svc.Inbox
	return o.base.Streams.Download(c, "submission export of form "+form.Key, name, format, func(ctx context.Context, w io.Writer) (int64, error) {
		return formbuilder.ExportSubmissions(ctx, inbox, f, form, format, w, nil)
	})
}

// RecordState is what later entries say about a given one.
type RecordState struct {
	// Withdrawn: a later entry withdrew it.
	Withdrawn bool
	// Confirmation is its double opt-in state, "" when it needs none.
	Confirmation string
}

// RecordVersion finds the entry of the path's :id, the consent version
// it was recorded on and, for a consent given, whether it was withdrawn
// since.
func (o *Office) RecordVersion(c *fiber.Ctx) (*formbuilder.ConsentRecord, *formbuilder.ConsentVersion, RecordState, error) {
	id, err := ParamID(c, "id")
	if err != nil {
		return nil, nil, RecordState{}, err
	}
	ctx := c.UserContext()
	rec, err := o.svc.Log.FindRecord(ctx, id)
	if err != nil {
		return nil, nil, RecordState{}, err
	}
	ver, err := o.svc.Consents.FindConsentVersion(ctx, rec.VersionID)
	if err != nil {
		return nil, nil, RecordState{}, err
	}
	st, err := o.RecordStates(ctx, []*formbuilder.ConsentRecord{rec})
	if err != nil {
		return nil, nil, RecordState{}, err
	}
	return rec, ver, st[rec.ID], nil
}

// OperatorConversation returns conversation id as the request's operator
// may see it. One without a delivered message holds nothing an operator may
// see (its held message waits for the visitor's consent), so it is not
// found, and so is one an operator may not see (User.MaySeeConversation);
// the held message is cleared from the copy, though no page or answer
// shows it.
func (o *Office) OperatorConversation(c *fiber.Ctx, id int64) (*formbuilder.Conversation, error) {
	ctx := c.UserContext()
	conv, err := o.svc.Chat.FindConversation(ctx, id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND || (err == nil && conv.LastMessageAt.IsZero()) {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgConversationMissing)
	}
	if err != nil {
		return nil, err
	}
	if p := httpx.PrincipalOf(c); p == nil || !p.User.IsAdmin() {
		ch, err := o.svc.Chat.FindChannelByID(ctx, conv.ChannelID)
		if err != nil {
			return nil, err
		}
		if p == nil || !p.User.MaySeeConversation(conv, ch) {
			return nil, errNotYours(formbuilder.MsgConversationNotYours)
		}
	}
	conv.HeldMessage = ""
	return conv, nil
}

// CheckOperators returns a message when one of ids is not a user.
func (o *Office) CheckOperators(ctx context.Context, ids []int64) (formbuilder.Msg, error) {
	for _, id := range ids {
		_, err := o.svc.Users.FindUserByID(ctx, id)
		if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
			return formbuilder.M(formbuilder.MsgUnknownUserID), nil
		}
		if err != nil {
			return formbuilder.Msg{}, err
		}
	}
	return formbuilder.Msg{}, nil
}

// MessagesAfter lists a page of conversation convID's messages after the
// message id of ?after= (from the start when it is missing or invalid).
func (o *Office) MessagesAfter(c *fiber.Ctx, convID int64) ([]*formbuilder.Message, error) {
	after, _ := strconv.ParseInt(c.Query("after"), 10, 64)
	return o.svc.Chat.ListMessages(c.UserContext(), convID, max(after, 0), formbuilder.MaxPageSize)
}

// ParamID reads a positive integer route parameter; anything else is a
// page that does not exist.
func ParamID(c *fiber.Ctx, name string) (int64, error) {
	n, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, fiber.ErrNotFound
	}
	return n, nil
}

// ErrChatOff answers the chat's routes of an app wired without a chat
// service (tests of other parts build such apps).
var ErrChatOff = formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgChatOff)
