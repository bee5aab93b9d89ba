package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
)

// recordColumns reads every field of a formbuilder.ConsentRecord; absent
// references are NULL in the table and 0 in Go.
const recordColumns = `id, time, action, consent_id, consent_name, version_id, version_no, text_hash,
	COALESCE(form_id, 0), form_key, COALESCE(channel_id, 0), source, page_url,
	COALESCE(user_id, 0), user_name, ip, user_agent, subject, initial_state, interacted,
	COALESCE(submission_id, 0), COALESCE(withdraws_id, 0), prev_hash, hash, confirm_by,
	COALESCE(confirms_id, 0)`

const insertRecordSQL = `INSERT INTO consent_records (id, time, action, consent_id, consent_name,
	version_id, version_no, text_hash, form_id, form_key, channel_id, source, page_url, user_id,
	user_name, ip, user_agent, subject, initial_state, interacted, submission_id, withdraws_id,
	prev_hash, hash, confirm_by, confirms_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
	?, ?, ?, ?, ?, ?)`

func recordArgs(r *formbuilder.ConsentRecord) []any {
	return []any{r.ID, fmtTime(r.Time), r.Action, r.ConsentID, r.ConsentName,
		r.VersionID, r.VersionNo, r.TextHash, nullID(r.FormID), r.FormKey, nullID(r.ChannelID),
		r.Source, r.PageURL, nullID(r.UserID), r.User, r.IP, r.UserAgent, r.Subject,
		r.InitialState, r.Interacted, nullID(r.SubmissionID), nullID(r.WithdrawsID),
		r.PrevHash, r.Hash, formbuilder.FormatConfirmBy(r.ConfirmBy), nullID(r.ConfirmsID)}
}

type scanner interface{ Scan(dest ...any) error }

func scanRecord(s scanner) (*formbuilder.ConsentRecord, error) {
	var r formbuilder.ConsentRecord
	var t, confirmBy string
	err := s.Scan(&r.ID, &t, &r.Action, &r.ConsentID, &r.ConsentName, &r.VersionID, &r.VersionNo,
		&r.TextHash, &r.FormID, &r.FormKey, &r.ChannelID, &r.Source, &r.PageURL, &r.UserID,
		&r.User, &r.IP, &r.UserAgent, &r.Subject, &r.InitialState, &r.Interacted,
		&r.SubmissionID, &r.WithdrawsID, &r.PrevHash, &r.Hash, &confirmBy, &r.ConfirmsID)
	if err != nil {
		return nil, err
	}
	if r.Time, err = parseTime(t); err != nil {
		return nil, err
	}
	// Stored as FormatConfirmBy writes it (RFC 3339 with nanoseconds),
	// which parseTime reads back exactly: the hash covers the text.
	if r.ConfirmBy, err = parseTime(confirmBy); err != nil {
		return nil, err
	}
	return &r, nil
}

// exportBatch is how many entries ExportRecords and Verify hold at a time.
const exportBatch = 1000

// where builds the WHERE clause for f. Keyset bounds (BeforeID, AfterID) are
// left to the callers.
//
// The query planner sees no statistics about how selective each filter is,
// so the clause steers it: with several equality filters, the usually most
// selective one (ip, then form, channel, consent) keeps its index and the
// others are written as +column, which SQLite does not use an index for.
// Each of those indexes is (column, id), so the page comes out in id order
// and the scan stops after Limit rows.
func recordWhere(d Dialect, f formbuilder.RecordFilter) (string, []any, error) {
	if err := f.Validate(); err != nil {
		return "", nil, err
	}
	var conds []string
	var args []any
	indexed := false
	eq := func(col string, v any) {
		if indexed {
			col = d.NoIndex(col)
		}
		indexed = true
		conds = append(conds, col+" = ?")
		args = append(args, v)
	}
	if f.Subject != "" {
		// The expression of the subject index (see the migrations), which
		// is the most selective of all: one person's entries.
		indexed = true
		conds = append(conds, d.LowerASCII("subject")+" = ?")
		args = append(args, formbuilder.FoldSubject(f.Subject))
	}
	if f.IP != "" {
		eq("ip", f.IP)
	}
	if f.FormID != 0 {
		eq("form_id", f.FormID)
	}
	if f.ChannelID != 0 {
		eq("channel_id", f.ChannelID)
	}
	if f.ConsentID != 0 {
		eq("consent_id", f.ConsentID)
	}
	if f.Action != "" {
		conds = append(conds, "action = ?")
		args = append(args, f.Action)
	}

	// With an equality filter its index already yields id order; a time
	// range is then checked per row rather than sorted by the time index.
	tcol := "time"
	if indexed {
		tcol = d.NoIndex("time")
	}
	// Entry times never decrease with the id (the writer sees to it), so a
	// date bound is also an id bound, found with one probe of the time
	// index. With it, "consent X until last March" walks the consent index
	// from March down instead of from today, and the cost no longer grows
	// with the log. The time condition stays for exactness.
	if !f.Since.IsZero() {
		conds = append(conds, tcol+" >= ?",
			"id >= coalesce((SELECT id FROM consent_records WHERE time >= ? ORDER BY time, id LIMIT 1), 9223372036854775807)")
		args = append(args, fmtTime(f.Since), fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, tcol+" < ?",
			"id < coalesce((SELECT id FROM consent_records WHERE time >= ? ORDER BY time, id LIMIT 1), 9223372036854775807)")
		args = append(args, fmtTime(f.Until), fmtTime(f.Until))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		p := "%" + escapeLike(q) + "%"
		like := " " + d.ILike() + ` ? ESCAPE '\'`
		conds = append(conds, "(subject"+like+" OR page_url"+like+" OR source"+like+
			" OR consent_name"+like+" OR user_name"+like+")")
		args = append(args, p, p, p, p, p)
	}
	return strings.Join(conds, " AND "), args, nil
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func and(conds ...string) string {
	var out []string
	for _, c := range conds {
		if c != "" {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(out, " AND ")
}

// searchContext bounds a free-text search, which may scan the whole log.
func (db *DB) searchContext(ctx context.Context, f formbuilder.RecordFilter) (context.Context, context.CancelFunc) {
	if strings.TrimSpace(f.Query) == "" {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.opts.SearchTimeout)
}

func (db *DB) searchErr(ctx context.Context, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &formbuilder.Error{Code: formbuilder.EINVALID, Msg: formbuilder.M(formbuilder.MsgSearchNarrow),
			Fields: map[string]formbuilder.Msg{"query": formbuilder.M(formbuilder.MsgSearchTooLong)}, Err: err}
	}
	return db.dbErr(err)
}

// ListRecords implements formbuilder.ConsentLog: a page newest first, below
// f.BeforeID (and above f.AfterID when set).
func (db *DB) ListRecords(ctx context.Context, f formbuilder.RecordFilter) ([]*formbuilder.ConsentRecord, error) {
	q, args, err := listQuery(db.d, f)
	if err != nil {
		return nil, err
	}
	ctx, cancel := db.searchContext(ctx, f)
	defer cancel()
	out, err := queryRecords(ctx, db.r, q, args...)
	if err != nil {
		return nil, db.searchErr(ctx, err)
	}
	return out, db.dbErr(db.attachDocuments(ctx, out))
}

func listQuery(d Dialect, f formbuilder.RecordFilter) (string, []any, error) {
	where, args, err := recordWhere(d, f)
	if err != nil {
		return "", nil, err
	}
	var keys []string
	if f.BeforeID > 0 {
		keys = append(keys, "id < ?")
		args = append(args, f.BeforeID)
	}
	if f.AfterID > 0 {
		keys = append(keys, "id > ?")
		args = append(args, f.AfterID)
	}
	args = append(args, formbuilder.PageLimit(f.Limit))
	q := "SELECT " + recordColumns + " FROM consent_records" +
		and(append([]string{where}, keys...)...) + " ORDER BY id DESC LIMIT ?"
	return q, args, nil
}

func queryRecords(ctx context.Context, q queryer, query string, args ...any) ([]*formbuilder.ConsentRecord, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*formbuilder.ConsentRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// FindRecord implements formbuilder.ConsentLog.
func (db *DB) FindRecord(ctx context.Context, id int64) (*formbuilder.ConsentRecord, error) {
	r, err := findRecord(ctx, db.r, id)
	if err == nil {
		err = db.attachDocuments(ctx, []*formbuilder.ConsentRecord{r})
	}
	return r, db.dbErr(err)
}

func findRecord(ctx context.Context, q queryer, id int64) (*formbuilder.ConsentRecord, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, "SELECT "+recordColumns+" FROM consent_records WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgRecordNotFound)
	}
	return r, err
}

// ExportRecords implements formbuilder.ConsentLog: every entry matching f,
// oldest first, from f.AfterID on and up to the newest entry at the time of
// the call (entries appended meanwhile are left for the next export).
// f.BeforeID bounds from above; f.Limit > 0 caps the count (no page-size
// ceiling). Each batch is read completely before fn sees it, so a slow fn
// (a network writer) does not hold a read snapshot open.
func (db *DB) ExportRecords(ctx context.Context, f formbuilder.RecordFilter, fn func(*formbuilder.ConsentRecord) error) error {
	where, args, err := recordWhere(db.d, f)
	if err != nil {
		return err
	}
	return exportKeyset(ctx, db, keysetExport[*formbuilder.ConsentRecord]{
		table: "consent_records", columns: recordColumns, conds: []string{where}, args: args,
		afterID: f.AfterID, beforeID: f.BeforeID, limit: f.Limit,
		search: func(ctx context.Context) (context.Context, context.CancelFunc) { return db.searchContext(ctx, f) },
		query: func(ctx context.Context, q queryer, query string, args ...any) ([]*formbuilder.ConsentRecord, error) {
			recs, err := queryRecords(ctx, q, query, args...)
			if err != nil {
				return nil, err
			}
			return recs, db.attachDocuments(ctx, recs)
		},
		id: func(r *formbuilder.ConsentRecord) int64 { return r.ID },
	}, fn)
}

// keysetExport describes one table's export for exportKeyset.
type keysetExport[T any] struct {
	table, columns    string
	conds             []string
	args              []any
	afterID, beforeID int64
	limit             int
	// search bounds each batch's query (free-text search may scan).
	search func(context.Context) (context.Context, context.CancelFunc)
	query  func(ctx context.Context, q queryer, query string, args ...any) ([]T, error)
	id     func(T) int64
}

// exportKeyset calls fn for every row matching e, oldest first, from
// e.afterID up to the newest row at the time of the call, in batches of
// exportBatch read by id keyset. Each batch is read completely before fn
// sees it, so a slow fn (a network writer) does not hold a read snapshot
// open, and at most one batch is in memory.
func exportKeyset[T any](ctx context.Context, db *DB, e keysetExport[T], fn func(T) error) error {
	var maxID int64
	if err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM "+e.table).Scan(&maxID); err != nil {
		return db.dbErr(err)
	}
	if e.beforeID > 0 && e.beforeID-1 < maxID {
		maxID = e.beforeID - 1
	}
	q := "SELECT " + e.columns + " FROM " + e.table +
		and(append(e.conds[:len(e.conds):len(e.conds)], "id > ?", "id <= ?")...) + " ORDER BY id LIMIT ?"
	after := e.afterID
	sent := 0
	for {
		n := exportBatch
		if e.limit > 0 && e.limit-sent < n {
			n = e.limit - sent
		}
		if n <= 0 {
			return nil
		}
		bctx, cancel := e.search(ctx)
		rows, err := e.query(bctx, db.r, q, append(e.args[:len(e.args):len(e.args)], after, maxID, n)...)
		if err != nil {
			err = db.searchErr(bctx, err)
		}
		cancel()
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
		sent += len(rows)
		if len(rows) < n {
			return nil
		}
		after = e.id(rows[len(rows)-1])
	}
}

// Withdraw implements formbuilder.ConsentLog. The withdrawal is appended by
// the writer like any entry, so the chain stays linear. It copies the
// consent, form and subject of the original; ip and userAgent are the
// withdrawing visitor's, ip stored as the settings' IP mode says.
func (db *DB) Withdraw(ctx context.Context, id int64, ip, userAgent string) (*formbuilder.ConsentRecord, error) {
	userAgent = truncateBytes(userAgent, formbuilder.MaxUserAgent)
	return db.followUp(ctx, id, func(ctx context.Context, b *batch, orig *formbuilder.ConsentRecord, _ time.Time) (*formbuilder.ConsentRecord, error) {
		withdrawn, err := referenced(ctx, b.tx, "withdraws_id", id)
		if err != nil {
			return nil, err
		}
		if err := formbuilder.CheckWithdrawal(orig, withdrawn); err != nil {
			return nil, err
		}
		return formbuilder.WithdrawalOf(orig, ip, userAgent), nil
	}, nil)
}

// Confirm implements formbuilder.ConsentLog: the confirmation is appended
// like a withdrawal (ip stored as the settings' IP mode says), and the form's webhooks learn of it in the same
// transaction (when the submission is still there: retention may have
// deleted it, and then there is nothing to send).
func (db *DB) Confirm(ctx context.Context, id int64, ip, userAgent string) (*formbuilder.ConsentRecord, error) {
	userAgent = truncateBytes(userAgent, formbuilder.MaxUserAgent)
	var queued int64
	out, err := db.followUp(ctx, id, func(ctx context.Context, b *batch, orig *formbuilder.ConsentRecord, now time.Time) (*formbuilder.ConsentRecord, error) {
		confirmed, err := referenced(ctx, b.tx, "confirms_id", id)
		if err != nil {
			return nil, err
		}
		withdrawn, err := referenced(ctx, b.tx, "withdraws_id", id)
		if err != nil {
			return nil, err
		}
		if err := formbuilder.CheckConfirmation(orig, confirmed, withdrawn, now); err != nil {
			return nil, err
		}
		return formbuilder.ConfirmationOf(orig, ip, userAgent), nil
	}, func(ctx context.Context, b *batch, r *formbuilder.ConsentRecord) error {
		queued = 0
		if r.FormID == 0 || r.SubmissionID == 0 {
			return nil
		}
		ok, err := exists(ctx, b.tx, "submissions", r.SubmissionID)
		if err != nil || !ok {
			return err
		}
		queued, err = insertOutbox(ctx, b, outboxOf{formID: r.FormID, subID: r.SubmissionID, refID: r.ID,
			webhooksOnly: true}, r.Time)
		return err
	})
	if err == nil && queued > 0 {
		db.wakeOutbox()
	}
	return out, err
}

// followUp appends the entry that decide makes of entry id (a withdrawal,
// a confirmation) in a writer job that reads the entry and what refers to
// it under the chain lock, so two racing follow-ups cannot both pass the
// check; then runs after, if any, in the same transaction.
func (db *DB) followUp(ctx context.Context, id int64,
	decide func(ctx context.Context, b *batch, orig *formbuilder.ConsentRecord, now time.Time) (*formbuilder.ConsentRecord, error),
	after func(ctx context.Context, b *batch, r *formbuilder.ConsentRecord) error) (*formbuilder.ConsentRecord, error) {
	if id <= 0 {
		return nil, notFound(formbuilder.MsgRecordNotFound)
	}
	var out *formbuilder.ConsentRecord
	j := &job{rowLocks: true, run: func(ctx context.Context, b *batch) error {
		out = nil
		orig, err := findRecord(ctx, b.tx, id)
		if err != nil {
			return err
		}
		now := b.db.now()
		r, err := decide(ctx, b, orig, now)
		if err != nil {
			return err
		}
		// The address as the settings' IP mode says, read in this
		// transaction (see storedIP).
		if r.IP, err = b.storedIP(ctx, r.IP); err != nil {
			return err
		}
		r.Time = now
		if err := b.appendRecord(ctx, r); err != nil {
			return err
		}
		if after != nil {
			if err := after(ctx, b, r); err != nil {
				return err
			}
		}
		out = r
		return nil
	}}
	if err := db.writer.do(ctx, j); err != nil {
		return nil, err
	}
	return out, nil
}

// referenced reports whether an entry's column (withdraws_id, confirms_id)
// names entry id.
func referenced(ctx context.Context, q queryer, col string, id int64) (bool, error) {
	return existsWhere(ctx, q, "consent_records", col, id)
}

// truncateBytes cuts s to at most n bytes on a rune boundary.
func truncateBytes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Withdrawn implements formbuilder.ConsentLog.
func (db *DB) Withdrawn(ctx context.Context, ids []int64) (map[int64]bool, error) {
	return db.referencedOf(ctx, "withdraws_id", ids)
}

// Confirmed implements formbuilder.ConsentLog.
func (db *DB) Confirmed(ctx context.Context, ids []int64) (map[int64]bool, error) {
	return db.referencedOf(ctx, "confirms_id", ids)
}

// referencedOf returns which of ids an entry's column (withdraws_id,
// confirms_id) names.
func (db *DB) referencedOf(ctx context.Context, col string, ids []int64) (map[int64]bool, error) {
	out := make(map[int64]bool, len(ids))
	// SQLite limits bound parameters; a page is at most MaxPageSize anyway.
	for len(ids) > 0 {
		n := min(len(ids), formbuilder.MaxPageSize)
		chunk := ids[:n]
		ids = ids[n:]
		ph := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := db.r.QueryContext(ctx, "SELECT "+col+" FROM consent_records WHERE "+col+" IN ("+ph+")", args...)
		if err != nil {
			return nil, db.dbErr(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, db.dbErr(err)
			}
			out[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, db.dbErr(err)
		}
	}
	return out, nil
}

// Verify implements formbuilder.ConsentLog. It walks the log in id order up
// to the newest entry at the time of the call and stops at the first entry
// whose hash does not match its content, whose PrevHash does not match the
// entry before (an entry was changed, inserted or removed), whose id is not
// the next one, or whose text hash does not match the consent version it
// points at. Removing entries from the end cannot be seen from the chain
// alone; compare Checked and the last hash with an earlier verification.
// A document a version links to that is missing or changed breaks the
// first entry given under such a version, or, when no entry was, the
// result names the document alone (BrokenID 0, Reason set).
func (db *DB) Verify(ctx context.Context) (formbuilder.VerifyResult, error) {
	var res formbuilder.VerifyResult
	versions, err := db.versionHashes(ctx)
	if err != nil {
		return res, err
	}
	docProblems, err := db.verifyDocuments(ctx)
	if err != nil {
		return res, db.dbErr(err)
	}
	var maxID int64
	if err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM consent_records").Scan(&maxID); err != nil {
		return res, db.dbErr(err)
	}
	q := "SELECT " + recordColumns + " FROM consent_records WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"
	prevID, prevHash := int64(0), formbuilder.GenesisHash
	broken := func(id int64, format string, args ...any) (formbuilder.VerifyResult, error) {
		res.BrokenID = id
		res.Reason = fmt.Sprintf(format, args...)
		return res, nil
	}
	for {
		recs, err := queryRecords(ctx, db.r, q, prevID, maxID, exportBatch)
		if err != nil {
			return res, db.dbErr(err)
		}
		for _, r := range recs {
			res.Checked++
			if r.ComputeHash() != r.Hash {
				return broken(r.ID, "entry %d does not match its hash: it was changed", r.ID)
			}
			if r.PrevHash != prevHash {
				if r.ID != prevID+1 {
					return broken(r.ID, "entries %s before %d are missing: the chain link is broken", idRange(prevID+1, r.ID-1), r.ID)
				}
				return broken(r.ID, "entry %d does not link to entry %d: one of them was changed and rehashed, or replaced", r.ID, prevID)
			}
			if r.ID != prevID+1 {
				return broken(r.ID, "entry %d follows entry %d: ids are not consecutive", r.ID, prevID)
			}
			v, ok := versions[r.VersionID]
			switch {
			case !ok:
				return broken(r.ID, "entry %d points at consent version %d, which does not exist", r.ID, r.VersionID)
			case !v.ok:
				return broken(r.ID, "consent version %d (used by entry %d) does not match its hash: its text was changed", r.VersionID, r.ID)
			case v.hash != r.TextHash:
				return broken(r.ID, "entry %d's text hash differs from consent version %d", r.ID, r.VersionID)
			case docProblems[v.doc] != "":
				return broken(r.ID, "document %s of consent version %d (used by entry %d) does not verify: %s",
					v.doc, r.VersionID, r.ID, docProblems[v.doc])
			}
			prevID, prevHash = r.ID, r.Hash
		}
		if len(recs) < exportBatch {
			break
		}
	}
	// Documents of versions no entry was given under yet: the next entry
	// would point at a file that is not what its version's hash says.
	shas := make([]string, 0, len(docProblems))
	for sha := range docProblems {
		shas = append(shas, sha)
	}
	sort.Strings(shas)
	if len(shas) > 0 {
		return broken(0, "document %s does not verify: %s", shas[0], docProblems[shas[0]])
	}
	return res, nil
}

func idRange(a, b int64) string {
	if a == b {
		return strconv.FormatInt(a, 10)
	}
	return strconv.FormatInt(a, 10) + "-" + strconv.FormatInt(b, 10)
}

type versionCheck struct {
	hash string
	ok   bool   // the stored hash matches the stored content
	doc  string // the SHA-256 of its document, if any
}

// versionHashes loads and checks every consent version; there are few.
func (db *DB) versionHashes(ctx context.Context) (map[int64]versionCheck, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id, text, label, link_url, language, hash, COALESCE(document_sha256, '') FROM consent_versions")
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	out := map[int64]versionCheck{}
	for rows.Next() {
		var id int64
		var c formbuilder.ConsentContent
		var h, doc string
		if err := rows.Scan(&id, &c.Text, &c.Label, &c.LinkURL, &c.Language, &h, &doc); err != nil {
			return nil, db.dbErr(err)
		}
		if doc != "" {
			c.Document = &formbuilder.Document{SHA256: doc}
		}
		out[id] = versionCheck{hash: h, ok: c.Hash() == h, doc: doc}
	}
	return out, db.dbErr(rows.Err())
}
