package sqlcore

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/consentforms/consentforms/formbuilder"
)

// The audit trail: appended in its own short transaction after the change
// it describes (not through the group-commit writer, which is for the
// consent log's chain), read by id keyset like the log.

var (
	_ formbuilder.AuditLog    = (*DB)(nil)
	_ formbuilder.GaugeReader = (*DB)(nil)
)

const auditColumns = "id, time, COALESCE(user_id, 0), actor, via, COALESCE(token_id, 0), ip, target, action, " +
	"COALESCE(target_id, 0), target_name, details"

func scanAudit(s scanner) (*formbuilder.AuditEvent, error) {
	var e formbuilder.AuditEvent
	var t, details string
	if err := s.Scan(&e.ID, &t, &e.UserID, &e.Actor, &e.Via, &e.TokenID, &e.IP, &e.Target, &e.Action,
		&e.TargetID, &e.TargetName, &details); err != nil {
		return nil, err
	}
	var err error
	if e.Time, err = parseTime(t); err != nil {
		return nil, err
	}
	if details != "" && details != "{}" {
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return nil, err
		}
	}
	return &e, nil
}

// AppendAudit implements formbuilder.AuditLog.
func (db *DB) AppendAudit(ctx context.Context, e *formbuilder.AuditEvent) error {
	if e == nil {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "audit event")
	}
	if err := e.Validate(); err != nil {
		return err
	}
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return formbuilder.Internal(err)
		}
		details = string(b)
	}
	now := db.now()
	err := db.writeTx(ctx, func(tx *Tx) error {
		var err error
		e.ID, err = insertID(ctx, db.d, tx, `INSERT INTO audit_events
			(time, user_id, actor, via, token_id, ip, target, action, target_id, target_name, details)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			fmtTime(now), nullID(e.UserID), e.Actor, e.Via, nullID(e.TokenID), e.IP, e.Target, e.Action,
			nullID(e.TargetID), e.TargetName, details)
		return err
	})
	if err != nil {
		e.ID = 0
		return err
	}
	e.Time = now
	return nil
}

// auditWhere turns f's filters (not its keyset) into conditions.
func auditWhere(f formbuilder.AuditFilter) ([]string, []any, error) {
	if err := f.Validate(); err != nil {
		return nil, nil, err
	}
	var conds []string
	var args []any
	if f.UserID > 0 {
		conds = append(conds, "user_id = ?")
		args = append(args, f.UserID)
	}
	if f.Target != "" {
		conds = append(conds, "target = ?")
		args = append(args, f.Target)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "time >= ?")
		args = append(args, fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time < ?")
		args = append(args, fmtTime(f.Until))
	}
	return conds, args, nil
}

// ListAudit implements formbuilder.AuditLog: newest first below BeforeID,
// or the page just above AfterID (read oldest first, then turned round).
func (db *DB) ListAudit(ctx context.Context, f formbuilder.AuditFilter) ([]*formbuilder.AuditEvent, error) {
	conds, args, err := auditWhere(f)
	if err != nil {
		return nil, err
	}
	order := " ORDER BY id DESC"
	if f.BeforeID > 0 {
		conds = append(conds, "id < ?")
		args = append(args, f.BeforeID)
	}
	if f.AfterID > 0 {
		conds = append(conds, "id > ?")
		args = append(args, f.AfterID)
		order = " ORDER BY id"
	}
	args = append(args, formbuilder.PageLimit(f.Limit))
	out, err := queryAudit(ctx, db.r, "SELECT "+auditColumns+" FROM audit_events"+and(conds...)+order+" LIMIT ?", args...)
	if err != nil {
		return nil, db.dbErr(err)
	}
	if f.AfterID > 0 {
		slices.Reverse(out)
	}
	return out, nil
}

func queryAudit(ctx context.Context, q queryer, query string, args ...any) ([]*formbuilder.AuditEvent, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*formbuilder.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ExportAudit implements formbuilder.AuditLog.
func (db *DB) ExportAudit(ctx context.Context, f formbuilder.AuditFilter, fn func(*formbuilder.AuditEvent) error) error {
	conds, args, err := auditWhere(f)
	if err != nil {
		return err
	}
	return exportKeyset(ctx, db, keysetExport[*formbuilder.AuditEvent]{
		table: "audit_events", columns: auditColumns, conds: conds, args: args,
		afterID: f.AfterID, beforeID: f.BeforeID, limit: f.Limit,
		search: func(ctx context.Context) (context.Context, context.CancelFunc) { return ctx, func() {} },
		query: func(ctx context.Context, q queryer, query string, args ...any) ([]*formbuilder.AuditEvent, error) {
			out, err := queryAudit(ctx, q, query, args...)
			return out, db.dbErr(err)
		},
		id: func(e *formbuilder.AuditEvent) int64 { return e.ID },
	}, fn)
}

// ReadGauges implements formbuilder.GaugeReader: the log's length is its
// newest id (ids run 1…n without gaps), the pending outbox a count over
// the partial index of unfinished messages.
func (db *DB) ReadGauges(ctx context.Context) (formbuilder.Gauges, error) {
	var g formbuilder.Gauges
	if err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM consent_records").Scan(&g.LogLength); err != nil {
		return g, db.dbErr(err)
	}
	err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL").
		Scan(&g.OutboxPending)
	return g, db.dbErr(err)
}
