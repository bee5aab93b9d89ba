package sqlcore

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
)

// The inbox: reading a form's submissions page by page, searching and
// exporting them. Deleting (retention) is DeleteSubmissionsBefore in
// submissions.go.

const submissionColumns = `id, form_id, form_key, "values", subject, page_url, ip, user_agent, created_at`

func scanSubmission(s scanner) (*formbuilder.Submission, error) {
	var sub formbuilder.Submission
	var vals, created string
	err := s.Scan(&sub.ID, &sub.FormID, &sub.FormKey, &vals, &sub.Subject, &sub.PageURL, &sub.IP,
		&sub.UserAgent, &created)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(vals), &sub.Values); err != nil {
		return nil, err
	}
	if sub.Values == nil {
		sub.Values = map[string][]string{}
	}
	if sub.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &sub, nil
}

// submissionWhere builds the conditions of f without the keyset bounds.
// The search looks at the subject and at every value, decoded by SQLite's
// json_each: matching the JSON text instead would also match field keys
// (every submission has "email") and miss values JSON escapes.
func submissionWhere(d Dialect, f formbuilder.SubmissionFilter) ([]string, []any, error) {
	if err := f.Validate(); err != nil {
		return nil, nil, err
	}
	conds := []string{"form_id = ?"}
	args := []any{f.FormID}
	if q := strings.TrimSpace(f.Query); q != "" {
		p := "%" + escapeLike(q) + "%"
		conds = append(conds, "(subject "+d.ILike()+` ? ESCAPE '\' OR `+d.ValuesLike()+")")
		args = append(args, p, p)
	}
	return conds, args, nil
}

// submissionSearchContext bounds a search the way the consent log's is bounded.
func (db *DB) submissionSearchContext(ctx context.Context, f formbuilder.SubmissionFilter) (context.Context, context.CancelFunc) {
	return db.searchContext(ctx, formbuilder.RecordFilter{Query: f.Query})
}

func querySubmissions(ctx context.Context, q queryer, query string, args ...any) ([]*formbuilder.Submission, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*formbuilder.Submission
	for rows.Next() {
		s, err := scanSubmission(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ListSubmissions implements formbuilder.SubmissionReader: a page newest
// first. With AfterID it is the page just above AfterID (the "newer"
// direction of a pager), otherwise the page below BeforeID or the newest.
// Both walk the (form_id, id) index and stop after a page.
func (db *DB) ListSubmissions(ctx context.Context, f formbuilder.SubmissionFilter) ([]*formbuilder.Submission, error) {
	conds, args, err := submissionWhere(db.d, f)
	if err != nil {
		return nil, err
	}
	if f.BeforeID > 0 {
		conds = append(conds, "id < ?")
		args = append(args, f.BeforeID)
	}
	order := " ORDER BY id DESC LIMIT ?"
	if f.AfterID > 0 {
		conds = append(conds, "id > ?")
		args = append(args, f.AfterID)
		order = " ORDER BY id LIMIT ?"
	}
	args = append(args, formbuilder.PageLimit(f.Limit))
	ctx, cancel := db.submissionSearchContext(ctx, f)
	defer cancel()
	out, err := querySubmissions(ctx, db.r, "SELECT "+submissionColumns+" FROM submissions"+and(conds...)+order, args...)
	if err != nil {
		return nil, db.searchErr(ctx, err)
	}
	if f.AfterID > 0 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// ExportSubmissions implements formbuilder.SubmissionReader: oldest first
// from f.AfterID up to the newest submission at the time of the call,
// below f.BeforeID when set, at most f.Limit when positive. Each batch is
// read completely before fn sees it, so a slow fn (a network writer) does
// not hold a read snapshot open, and at most one batch is in memory.
func (db *DB) ExportSubmissions(ctx context.Context, f formbuilder.SubmissionFilter, fn func(*formbuilder.Submission) error) error {
	conds, args, err := submissionWhere(db.d, f)
	if err != nil {
		return err
	}
	return exportKeyset(ctx, db, keysetExport[*formbuilder.Submission]{
		table: "submissions", columns: submissionColumns, conds: conds, args: args,
		afterID: f.AfterID, beforeID: f.BeforeID, limit: f.Limit,
		search: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return db.submissionSearchContext(ctx, f)
		},
		query: querySubmissions,
		id:    func(s *formbuilder.Submission) int64 { return s.ID },
	}, fn)
}

// RecordsOfSubmission implements formbuilder.SubmissionReader. The entries
// outlive the submission (retention), so this also answers for a deleted
// submission's id.
func (db *DB) RecordsOfSubmission(ctx context.Context, submissionID int64) ([]*formbuilder.ConsentRecord, error) {
	recs, err := queryRecords(ctx, db.r, "SELECT "+recordColumns+
		" FROM consent_records WHERE submission_id = ? ORDER BY id", submissionID)
	if err == nil {
		err = db.attachDocuments(ctx, recs)
	}
	return recs, db.dbErr(err)
}
