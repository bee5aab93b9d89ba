package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/consentforms/consentforms/formbuilder"
)

var _ formbuilder.AnchorService = (*DB)(nil)

const anchorColumns = `seq, entry_id, entry_hash, created_at, token`

func scanAnchor(s scanner) (*formbuilder.Anchor, error) {
	var a formbuilder.Anchor
	var created string
	if err := s.Scan(&a.Seq, &a.EntryID, &a.EntryHash, &created, &a.Token); err != nil {
		return nil, err
	}
	var err error
	a.CreatedAt, err = parseTime(created)
	return &a, err
}

// ChainHead implements formbuilder.AnchorService.
func (db *DB) ChainHead(ctx context.Context) (formbuilder.ChainHead, error) {
	c, err := scanChain(db.r.QueryRowContext(ctx, HeadQuery))
	if err != nil {
		return formbuilder.ChainHead{}, db.dbErr(err)
	}
	return formbuilder.ChainHead{ID: c.lastID, Hash: c.head, Time: c.lastTime}, nil
}

// LastAnchor implements formbuilder.AnchorService.
func (db *DB) LastAnchor(ctx context.Context) (*formbuilder.Anchor, error) {
	a, err := scanAnchor(db.r.QueryRowContext(ctx, "SELECT "+anchorColumns+" FROM anchors ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("checkpoint")
	}
	return a, db.dbErr(err)
}

// FindAnchor implements formbuilder.AnchorService.
func (db *DB) FindAnchor(ctx context.Context, seq int64) (*formbuilder.Anchor, error) {
	a, err := scanAnchor(db.r.QueryRowContext(ctx, "SELECT "+anchorColumns+" FROM anchors WHERE seq = ?", seq))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("checkpoint")
	}
	return a, db.dbErr(err)
}

// ListAnchors implements formbuilder.AnchorService.
func (db *DB) ListAnchors(ctx context.Context, after int64, limit int) ([]*formbuilder.Anchor, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+anchorColumns+" FROM anchors WHERE seq > ? ORDER BY seq LIMIT ?",
		after, formbuilder.PageLimit(limit))
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []*formbuilder.Anchor
	for rows.Next() {
		a, err := scanAnchor(rows)
		if err != nil {
			return nil, db.dbErr(err)
		}
		out = append(out, a)
	}
	return out, db.dbErr(rows.Err())
}

// AppendAnchor implements formbuilder.AnchorService. It runs as a writer
// job: the entry it names is read in the transaction that stores it, and
// anchors are numbered under the chain lock (another server anchoring at
// once waits, then finds the number taken).
func (db *DB) AppendAnchor(ctx context.Context, a *formbuilder.Anchor, receivers []string) error {
	if a == nil || a.Seq <= 0 || a.EntryID <= 0 || a.Token == "" || a.CreatedAt.IsZero() {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgAnchorIncomplete)
	}
	j := &job{rowLocks: true, run: func(ctx context.Context, b *batch) error {
		var last int64
		if err := b.tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM anchors").Scan(&last); err != nil {
			return err
		}
		if a.Seq != last+1 {
			return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgCheckpointExists, "seq", strconv.FormatInt(a.Seq, 10),
				"last", strconv.FormatInt(last, 10))
		}
		rec, err := findRecord(ctx, b.tx, a.EntryID)
		if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND || (err == nil && rec.Hash != a.EntryHash) {
			return formbuilder.FieldError("entry_id", formbuilder.MsgNotLogEntryHash)
		}
		if err != nil {
			return err
		}
		if _, err := b.tx.ExecContext(ctx, "INSERT INTO anchors ("+anchorColumns+") VALUES (?, ?, ?, ?, ?)",
			a.Seq, a.EntryID, a.EntryHash, fmtTime(a.CreatedAt), a.Token); err != nil {
			return err
		}
		// The deliveries are due by the database's clock, like every other.
		now := fmtTime(b.db.now())
		for _, r := range receivers {
			if _, err := b.tx.ExecContext(ctx, `INSERT INTO outbox (kind, target, ref_id, next_attempt, created_at)
				VALUES (?, ?, ?, ?, ?)`, formbuilder.DeliveryAnchor, r, a.Seq, now, now); err != nil {
				return err
			}
		}
		return nil
	}}
	if err := db.writer.do(ctx, j); err != nil {
		return err
	}
	if len(receivers) > 0 {
		db.wakeOutbox()
	}
	return nil
}
