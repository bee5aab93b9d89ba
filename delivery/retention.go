package delivery

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// DefaultKeepDeliveries is how long finished outbox messages and the
// delivery log are kept: long enough to look into last month's problems.
const DefaultKeepDeliveries = 30 * 24 * time.Hour

// Retention deletes submissions older than their form's RetentionDays, and
// prunes the delivery log. Consent log entries are never touched: the log
// is append-only and its hash chain does not cover submission values, so
// `consents verify` passes after any number of runs.
type Retention struct {
	Forms formbuilder.FormService
	Inbox formbuilder.SubmissionReader
	// Outbox, when set, is pruned of finished messages and log entries
	// older than KeepDeliveries.
	Outbox         formbuilder.OutboxService
	KeepDeliveries time.Duration
	// Interval between runs; default 1h.
	Interval time.Duration
	// Now is the clock; default time.Now. Tests move it forward.
	Now    func() time.Time
	Logger *slog.Logger
}

// RetentionResult says what one run deleted.
type RetentionResult struct {
	Submissions int64
	Deliveries  int64
}

// RunOnce applies every form's retention now. Archived forms count too:
// their submissions are still personal data. It goes on with the other
// forms when one fails and returns the errors joined.
func (r *Retention) RunOnce(ctx context.Context) (RetentionResult, error) {
	var res RetentionResult
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	t := now().UTC()
	forms, err := r.Forms.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true})
	if err != nil {
		return res, err
	}
	var errs []error
	for _, f := range forms {
		if f.RetentionDays <= 0 {
			continue
		}
		n, err := r.Inbox.DeleteSubmissionsBefore(ctx, f.ID, t.AddDate(0, 0, -f.RetentionDays))
		res.Submissions += n
		if err != nil {
			errs = append(errs, err)
		}
		if n > 0 {
			r.logger().Info("retention: deleted old submissions", "form", f.Key, "days", f.RetentionDays, "count", n)
		}
	}
	if r.Outbox != nil {
		keep := r.KeepDeliveries
		if keep <= 0 {
			keep = DefaultKeepDeliveries
		}
		n, err := r.Outbox.PruneDeliveries(ctx, t.Add(-keep))
		res.Deliveries = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// Run applies retention once at once and then every Interval until ctx
// ends. A run that panics is logged with its stack, and the next one comes
// at its time.
func (r *Retention) Run(ctx context.Context) {
	every := r.Interval
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		err := protect(r.logger(), "retention run", func() error { _, err := r.RunOnce(ctx); return err })
		if err != nil && ctx.Err() == nil {
			r.logger().Error("retention run failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Retention) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
