package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// The outbox: deliveries of submissions to webhooks and e-mail addresses.
// Messages of a submission are inserted by its writer job (insertOutbox),
// in the savepoint that stores the submission, so a submission is stored
// with all its deliveries or not at all. The worker's claims and attempts
// go through the same group-commit writer: under load they share the
// batches' fsyncs instead of adding their own.

var (
	_ formbuilder.OutboxService    = (*DB)(nil)
	_ formbuilder.SubmissionReader = (*DB)(nil)
)

// Statements of insertOutbox. The notifications are read where the
// submission is written, inside its transaction (once per form and batch:
// forms change only in transactions of their own), so no cache can make a
// submission miss a receiver that was just added. Forms without receivers
// (stored as '{}') cost one primary-key lookup: decoding the JSON in SQL
// (json_each) costs some ten times more per submission, on the writer
// everyone waits for.
const (
	selectNotificationsSQL = `SELECT notifications FROM forms WHERE id = ? AND notifications <> '{}'`
	insertOutboxSQL        = `INSERT INTO outbox (form_id, submission_id, kind, target, next_attempt, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`
	insertRefOutboxSQL = `INSERT INTO outbox (form_id, submission_id, kind, target, ref_id, next_attempt, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
)

// outboxOf says whose deliveries insertOutbox queues: submission subID of
// form formID; with refID, the event of that entry (a confirmation), for
// the webhooks only.
type outboxOf struct {
	formID, subID, refID int64
	webhooksOnly         bool
}

// insertOutbox queues the deliveries of o inside the writer's batch, one
// per webhook and one per distinct address, and returns how many it
// queued.
func insertOutbox(ctx context.Context, b *batch, o outboxOf, now time.Time) (int64, error) {
	formID := o.formID
	raw, ok := b.notifications[formID]
	if !ok {
		row, err := b.queryRow(ctx, selectNotificationsSQL, formID)
		if err != nil {
			return 0, err
		}
		if err := row.Scan(&raw); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
		// "" (no receivers) is cached too.
		b.notifications[formID] = raw
	}
	if raw == "" {
		return 0, nil
	}
	// The outbox rows refer to the submission: its row goes in first.
	if err := b.flushSubmissions(ctx); err != nil {
		return 0, err
	}
	var n formbuilder.Notifications
	if err := json.Unmarshal([]byte(raw), &n); err != nil {
		return 0, fmt.Errorf("notifications of form %d: %w", formID, err)
	}
	t := fmtTime(now)
	var queued int64
	seen := map[string]bool{}
	add := func(kind, target string) error {
		if target == "" || seen[kind+" "+target] {
			return nil
		}
		seen[kind+" "+target] = true
		var err error
		if o.refID != 0 {
			_, err = b.exec(ctx, insertRefOutboxSQL, formID, o.subID, kind, target, o.refID, t, t)
		} else {
			_, err = b.exec(ctx, insertOutboxSQL, formID, o.subID, kind, target, t, t)
		}
		if err != nil {
			return err
		}
		queued++
		return nil
	}
	for _, w := range n.Webhooks {
		if err := add(formbuilder.DeliveryWebhook, w.URL); err != nil {
			return queued, err
		}
	}
	if o.webhooksOnly {
		return queued, nil
	}
	for _, e := range n.Emails {
		if err := add(formbuilder.DeliveryEmail, e); err != nil {
			return queued, err
		}
	}
	return queued, nil
}

// insertConfirmMail queues the double opt-in mail of submission sub, whose
// records need confirmation, to its subject (validated as an e-mail
// address with the submission).
func insertConfirmMail(ctx context.Context, b *batch, sub *formbuilder.Submission, now time.Time) error {
	// The outbox row refers to the submission: its row goes in first
	// (a form with no other receivers has not flushed it yet).
	if err := b.flushSubmissions(ctx); err != nil {
		return err
	}
	t := fmtTime(now)
	_, err := b.exec(ctx, insertOutboxSQL, sub.FormID, sub.ID, formbuilder.DeliveryConfirm, sub.Subject, t, t)
	return err
}

// OutboxSignal returns a channel that receives a value after a commit that
// queued deliveries (a submission with receivers, a test), so a worker can
// send at once instead of waiting for its next poll. Signals coalesce: one
// pending value stands for any number of commits.
func (db *DB) OutboxSignal() <-chan struct{} { return db.outboxWake }

// wakeOutbox signals OutboxSignal without ever blocking the caller.
func (db *DB) wakeOutbox() {
	select {
	case db.outboxWake <- struct{}{}:
	default:
	}
}

const outboxColumns = `id, COALESCE(form_id, 0), COALESCE(submission_id, 0), kind, target, COALESCE(ref_id, 0),
	lang, test, attempts, next_attempt, COALESCE(delivered_at, ''), COALESCE(gave_up_at, ''), last_error, last_error_msg,
	created_at`

func scanOutbox(s scanner) (*formbuilder.OutboxMessage, error) {
	var m formbuilder.OutboxMessage
	var next, delivered, gaveUp, errMsg, created string
	err := s.Scan(&m.ID, &m.FormID, &m.SubmissionID, &m.Kind, &m.Target, &m.RefID, &m.Lang, &m.Test, &m.Attempts,
		&next, &delivered, &gaveUp, &m.LastError, &errMsg, &created)
	if err != nil {
		return nil, err
	}
	if m.LastErrorMsg, err = decodeMsg(errMsg); err != nil {
		return nil, err
	}
	for _, p := range []struct {
		dst *time.Time
		s   string
	}{{&m.NextAttempt, next}, {&m.DeliveredAt, delivered}, {&m.GaveUpAt, gaveUp}, {&m.CreatedAt, created}} {
		if *p.dst, err = parseTime(p.s); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// configuredEmail returns the form's address that equals addr (ignoring
// case), spelled as configured: the worker matches messages to addresses
// exactly.
func configuredEmail(n *formbuilder.Notifications, addr string) (string, bool) {
	for _, e := range n.Emails {
		if strings.EqualFold(e, strings.TrimSpace(addr)) {
			return e, true
		}
	}
	return "", false
}

// testableKind reports whether a form's receivers of kind k can be sent a
// test.
func testableKind(k string) bool {
	return k == formbuilder.DeliveryWebhook || k == formbuilder.DeliveryEmail
}

// EnqueueAccessLink implements formbuilder.OutboxService. The message is
// queued for every valid address alike; the worker finds out whether the
// log knows it.
func (db *DB) EnqueueAccessLink(ctx context.Context, address, lang string) error {
	address = strings.TrimSpace(address)
	if !formbuilder.ValidEmail(address) {
		return formbuilder.FieldError("email", formbuilder.MsgInvalidEmail)
	}
	if !formbuilder.ValidLanguage(lang) {
		return formbuilder.FieldError("lang", formbuilder.MsgOneOf, "values", "de, en")
	}
	j := &job{run: func(ctx context.Context, b *batch) error {
		t := fmtTime(b.db.now())
		_, err := b.exec(ctx, `INSERT INTO outbox (kind, target, lang, next_attempt, created_at) VALUES (?, ?, ?, ?, ?)`,
			formbuilder.DeliveryAccess, address, lang, t, t)
		return err
	}}
	if err := db.writer.do(ctx, j); err != nil {
		return err
	}
	db.wakeOutbox()
	return nil
}

// EnqueueTest implements formbuilder.OutboxService. The receiver must be
// one the form has, so the button cannot be used to send test documents
// (or mails) anywhere else.
func (db *DB) EnqueueTest(ctx context.Context, m *formbuilder.OutboxMessage) error {
	if m == nil || m.FormID <= 0 || !testableKind(m.Kind) || m.Target == "" {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "a test's form, kind and receiver")
	}
	f, err := db.FindFormByID(ctx, m.FormID)
	if err != nil {
		return err
	}
	if m.Kind == formbuilder.DeliveryWebhook {
		if _, ok := f.Notifications.Webhook(m.Target); !ok {
			return formbuilder.FieldError("target", formbuilder.MsgNotAWebhook)
		}
	} else {
		addr, ok := configuredEmail(&f.Notifications, m.Target)
		if !ok {
			return formbuilder.FieldError("target", formbuilder.MsgNotAnAddress)
		}
		m.Target = addr
	}
	j := &job{run: func(ctx context.Context, b *batch) error {
		now := b.db.now()
		var err error
		m.ID, err = b.insertID(ctx, `INSERT INTO outbox (form_id, kind, target, test, next_attempt,
			created_at) VALUES (?, ?, ?, true, ?, ?)`, m.FormID, m.Kind, m.Target, fmtTime(now), fmtTime(now))
		if err != nil {
			return err
		}
		m.SubmissionID, m.Test, m.Attempts = 0, true, 0
		m.NextAttempt, m.CreatedAt = now, now
		m.DeliveredAt, m.GaveUpAt, m.LastError = time.Time{}, time.Time{}, ""
		return nil
	}, undo: func() { m.ID = 0 }}
	if err := db.writer.do(ctx, j); err != nil {
		return err
	}
	db.wakeOutbox()
	return nil
}

// dueWhere selects unfinished messages of the kinds whose time has come;
// its first argument is the time, then the kinds.
func dueWhere(kinds []string) (string, []any) {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ")
	args := make([]any, 0, len(kinds)+1)
	args = append(args, nil)
	for _, k := range kinds {
		args = append(args, k)
	}
	return `delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt <= ? AND kind IN (` + marks + `)`, args
}

// ClaimDue implements formbuilder.OutboxService. An idle worker asks every
// second; the question is answered by a reader first, so it costs the
// writer (and the disk) nothing until something is due.
func (db *DB) ClaimDue(ctx context.Context, now, leaseUntil time.Time, limit int, kinds []string) ([]*formbuilder.OutboxMessage, error) {
	var ks []string
	for _, k := range kinds {
		if formbuilder.ValidDeliveryKind(k) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 || limit <= 0 {
		return nil, nil
	}
	where, args := dueWhere(ks)
	args[0] = fmtTime(now)
	var due bool
	if err := db.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM outbox WHERE "+where+")", args...).Scan(&due); err != nil {
		return nil, db.dbErr(err)
	}
	if !due {
		return nil, nil
	}
	var out []*formbuilder.OutboxMessage
	j := &job{run: func(ctx context.Context, b *batch) error {
		out = out[:0]
		q := `UPDATE outbox SET next_attempt = ? WHERE id IN (SELECT id FROM outbox WHERE ` + where +
			` ORDER BY next_attempt, id LIMIT ?` + b.db.d.SkipLocked() + `) RETURNING ` + outboxColumns
		a := append([]any{fmtTime(leaseUntil)}, args...)
		rows, err := b.tx.QueryContext(ctx, q, append(a, limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	}, undo: func() { out = nil }}
	if err := db.writer.do(ctx, j); err != nil {
		return nil, err
	}
	return out, nil
}

// encodeMsg is msg as stored: JSON, or empty for no message.
func encodeMsg(msg formbuilder.Msg) (string, error) {
	if msg.IsZero() {
		return "", nil
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return "", formbuilder.Internal(err)
	}
	return string(b), nil
}

// decodeMsg reads what encodeMsg stored.
func decodeMsg(s string) (formbuilder.Msg, error) {
	var msg formbuilder.Msg
	if s == "" {
		return msg, nil
	}
	err := json.Unmarshal([]byte(s), &msg)
	return msg, err
}

// maxAttemptError bounds the stored error text of an attempt.
const maxAttemptError = 300

// RecordAttempt implements formbuilder.OutboxService. It sets a.ID, and
// a.At to the database clock when it is zero.
func (db *DB) RecordAttempt(ctx context.Context, a *formbuilder.DeliveryAttempt, next time.Time) error {
	if a == nil || a.MessageID <= 0 || !formbuilder.ValidDeliveryKind(a.Kind) ||
		(a.FormID <= 0) != formbuilder.FormlessKind(a.Kind) {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what",
			"an attempt's message, kind and form (if of one)")
	}
	errText := truncateBytes(strings.ToValidUTF8(a.Error, "\uFFFD"), maxAttemptError)
	errMsg, err := encodeMsg(a.ErrorMsg)
	if err != nil {
		return err
	}
	j := &job{run: func(ctx context.Context, b *batch) error {
		at := a.At
		if at.IsZero() {
			at = b.db.now()
		}
		id, err := b.insertID(ctx, `INSERT INTO delivery_attempts (message_id, form_id, submission_id,
			kind, target, test, at, status, error, error_msg, duration_ms, delivered)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.MessageID, nullID(a.FormID), nullID(a.SubmissionID), a.Kind, a.Target, a.Test, fmtTime(at), a.Status,
			errText, errMsg, a.Duration, a.Delivered)
		if err != nil {
			return err
		}
		switch {
		case a.Delivered:
			_, err = b.tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, delivered_at = ?,
				last_error = '', last_error_msg = '' WHERE id = ?`, fmtTime(at), a.MessageID)
		case next.IsZero():
			_, err = b.tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, gave_up_at = ?,
				last_error = ?, last_error_msg = ? WHERE id = ?`, fmtTime(at), errText, errMsg, a.MessageID)
		default:
			_, err = b.tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ?,
				last_error = ?, last_error_msg = ? WHERE id = ?`, fmtTime(next), errText, errMsg, a.MessageID)
		}
		if err != nil {
			return err
		}
		a.ID, a.At, a.Error = id, at, errText
		return nil
	}, undo: func() { a.ID = 0 }}
	return db.writer.do(ctx, j)
}

const attemptColumns = `id, message_id, COALESCE(form_id, 0), COALESCE(submission_id, 0), kind, target, test, at,
	status, error, error_msg, duration_ms, delivered`

// ListAttempts implements formbuilder.OutboxService.
func (db *DB) ListAttempts(ctx context.Context, formID int64, limit int) ([]*formbuilder.DeliveryAttempt, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+attemptColumns+
		" FROM delivery_attempts WHERE form_id = ? ORDER BY id DESC LIMIT ?", formID, formbuilder.PageLimit(limit))
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []*formbuilder.DeliveryAttempt
	for rows.Next() {
		var a formbuilder.DeliveryAttempt
		var at, errMsg string
		if err := rows.Scan(&a.ID, &a.MessageID, &a.FormID, &a.SubmissionID, &a.Kind, &a.Target, &a.Test, &at,
			&a.Status, &a.Error, &errMsg, &a.Duration, &a.Delivered); err != nil {
			return nil, db.dbErr(err)
		}
		if a.ErrorMsg, err = decodeMsg(errMsg); err != nil {
			return nil, formbuilder.Internal(err)
		}
		if a.At, err = parseTime(at); err != nil {
			return nil, formbuilder.Internal(err)
		}
		out = append(out, &a)
	}
	return out, db.dbErr(rows.Err())
}

// ListOutbox implements formbuilder.OutboxService.
func (db *DB) ListOutbox(ctx context.Context, f formbuilder.OutboxFilter) ([]*formbuilder.OutboxMessage, error) {
	var conds []string
	var args []any
	if f.FormID > 0 {
		conds = append(conds, "form_id = ?")
		args = append(args, f.FormID)
	}
	if f.SubmissionID > 0 {
		conds = append(conds, "submission_id = ?")
		args = append(args, f.SubmissionID)
	}
	if f.Kind != "" {
		if !formbuilder.ValidDeliveryKind(f.Kind) {
			return nil, formbuilder.FieldError("kind", formbuilder.MsgNotADeliveryKind)
		}
		conds = append(conds, "kind = ?")
		args = append(args, f.Kind)
	}
	if f.Pending {
		conds = append(conds, "delivered_at IS NULL AND gave_up_at IS NULL")
	}
	args = append(args, formbuilder.PageLimit(f.Limit))
	rows, err := db.r.QueryContext(ctx, "SELECT "+outboxColumns+" FROM outbox"+and(conds...)+
		" ORDER BY id DESC LIMIT ?", args...)
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []*formbuilder.OutboxMessage
	for rows.Next() {
		m, err := scanOutbox(rows)
		if err != nil {
			return nil, db.dbErr(err)
		}
		out = append(out, m)
	}
	return out, db.dbErr(rows.Err())
}

// PruneDeliveries implements formbuilder.OutboxService: finished messages
// created before before, and log entries made before before, in chunks.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	unlock, ok, err := db.d.TryLock(ctx, db.w.DB, "prune-deliveries")
	if err != nil || !ok {
		return 0, db.dbErr(err)
	}
	defer unlock()
	t := fmtTime(before)
	// Access mails hold addresses anyone may have typed: they go as soon
	// as they are finished, whatever before says.
	n1, err := db.deleteInChunks(ctx, `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE
		(created_at < ? OR kind = ?) AND (delivered_at IS NOT NULL OR gave_up_at IS NOT NULL) LIMIT ?)`,
		t, formbuilder.DeliveryAccess)
	if err != nil {
		return n1, err
	}
	n2, err := db.deleteInChunks(ctx, `DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts
		WHERE at < ? OR kind = ? LIMIT ?)`, t, formbuilder.DeliveryAccess)
	return n1 + n2, err
}
