package sqlcore

import (
	"context"

	"github.com/consentforms/consentforms/formbuilder"
)

// The hooks below exist for the conformance suite and the benchmarks of the
// backends (storagetest.Backend). They are functions, not methods, so that
// *sqlite.DB and *postgres.DB, which embed *DB, do not offer them: this
// package is internal to storage, so nothing else can call them.

// WriterStats are the group-commit writer's counters: transactions, jobs,
// batches that ran again with savepoints, and jobs waiting in the queue.
type WriterStats struct {
	Batches, Jobs, Retried int64
	Queued                 int
}

// Stats reads the writer's counters.
func Stats(db *DB) WriterStats {
	w := db.writer
	return WriterStats{Batches: w.batches.Load(), Jobs: w.jobs.Load(), Retried: w.retried.Load(), Queued: len(w.queue)}
}

// PauseWriter makes the writer wait before its next transaction until
// resume is called.
func PauseWriter(db *DB) (resume func()) {
	db.writer.hold.Lock()
	return db.writer.hold.Unlock
}

// AppendForTest appends recs to the log through the writer as one job,
// sealing each (a zero Time becomes the clock's): a quick way to fill a log
// for tests and benchmarks, without the checks of CreateSubmission.
func AppendForTest(ctx context.Context, db *DB, recs []*formbuilder.ConsentRecord) error {
	return db.writer.do(ctx, &job{run: func(ctx context.Context, b *batch) error {
		for _, r := range recs {
			if r.Time.IsZero() {
				r.Time = b.db.now()
			}
			if err := b.appendRecord(ctx, r); err != nil {
				return err
			}
		}
		return nil
	}})
}

// ListQuery returns the query and arguments ListRecords runs for f, for
// the backends' query plan tests.
func ListQuery(db *DB, f formbuilder.RecordFilter) (string, []any, error) {
	q, args, err := listQuery(db.d, f)
	return db.d.Rebind(q), args, err
}
