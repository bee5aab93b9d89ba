package delivery

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// Defaults of Anchorer.
const (
	DefaultAnchorEvery    = 1000
	DefaultAnchorInterval = time.Hour
	DefaultAnchorCheck    = 10 * time.Second
)

// Anchorer signs a checkpoint of the consent log's head every Every
// entries or every Interval, whichever comes first, and queues it for the
// anchor receivers (webhooks and directories, sent by the Worker). A
// checkpoint in a receiver out of the database operator's reach is what
// shows, later, that entries were deleted from the end of the log or that
// the chain was re-sealed (formbuilder.CheckAnchors).
type Anchorer struct {
	Store formbuilder.AnchorService
	Keys  *formbuilder.KeyRing
	// Issuer is the server's public URL, named in each checkpoint.
	Issuer string
	// Receivers are the anchor receivers: http(s) URLs and absolute
	// directory paths (see ValidAnchorReceiver).
	Receivers []string
	// Every is how many new entries make a checkpoint due (default
	// DefaultAnchorEvery); Interval how much time (default
	// DefaultAnchorInterval) once there is any new entry.
	Every    int64
	Interval time.Duration
	// Check is how often the head is looked at (default
	// DefaultAnchorCheck).
	Check  time.Duration
	Now    func() time.Time
	Logger *slog.Logger

	// started stands in for the time of the checkpoint before the first.
	started time.Time
}

// ValidAnchorReceiver reports what is wrong with an anchor receiver, or
// "": an http(s) URL (a webhook) or an absolute directory path.
func ValidAnchorReceiver(r string) string {
	switch {
	case strings.HasPrefix(r, "http://") || strings.HasPrefix(r, "https://"):
		u, err := url.Parse(r)
		if err != nil || u.Host == "" || u.User != nil {
			return "is not an http(s) URL with a host (and without credentials)"
		}
		return ""
	case filepath.IsAbs(r):
		return ""
	}
	return "must be an http(s) URL or an absolute directory path"
}

// MakeAnchor signs a checkpoint of the log's head now, following the
// newest one, and stores it with a delivery per receiver. ECONFLICT for an
// empty log, or when another process anchored meanwhile.
func MakeAnchor(ctx context.Context, store formbuilder.AnchorService, ks *formbuilder.KeySet, issuer string,
	receivers []string, now time.Time) (*formbuilder.Anchor, error) {
	head, err := store.ChainHead(ctx)
	if err != nil {
		return nil, err
	}
	last, err := store.LastAnchor(ctx)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		last, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	a, err := formbuilder.NewAnchor(ks, issuer, head, last, now)
	if err != nil {
		return nil, err
	}
	if err := store.AppendAnchor(ctx, a, receivers); err != nil {
		return nil, err
	}
	return a, nil
}

// Due reports whether a checkpoint of head is due after last at now.
// Before the first checkpoint, entry 0 at the anchorer's start stands in
// for last.
func (a *Anchorer) Due(head formbuilder.ChainHead, last *formbuilder.Anchor, now time.Time) bool {
	if last == nil {
		if a.started.IsZero() {
			a.started = now
		}
		last = &formbuilder.Anchor{CreatedAt: a.started}
	}
	if head.ID <= last.EntryID {
		return false
	}
	every, interval := a.Every, a.Interval
	if every <= 0 {
		every = DefaultAnchorEvery
	}
	if interval <= 0 {
		interval = DefaultAnchorInterval
	}
	return head.ID-last.EntryID >= every || !now.Before(last.CreatedAt.Add(interval))
}

// Tick anchors the head when a checkpoint is due and returns it, or nil.
// Another server anchoring at the same moment is no error: one wins.
func (a *Anchorer) Tick(ctx context.Context) (*formbuilder.Anchor, error) {
	now := a.now()
	head, err := a.Store.ChainHead(ctx)
	if err != nil {
		return nil, err
	}
	last, err := a.Store.LastAnchor(ctx)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		last, err = nil, nil
	}
	if err != nil || !a.Due(head, last, now) {
		return nil, err
	}
	anchor, err := formbuilder.NewAnchor(a.Keys.Load(), a.Issuer, head, last, now)
	if err != nil {
		return nil, err
	}
	err = a.Store.AppendAnchor(ctx, anchor, a.Receivers)
	if formbuilder.ErrorCode(err) == formbuilder.ECONFLICT {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.logger().Info("checkpoint signed", "seq", anchor.Seq, "entry", anchor.EntryID, "receivers", len(a.Receivers))
	return anchor, nil
}

// Run ticks every Check until ctx ends. A failing tick is logged (a panic
// too) and the next one tries again.
func (a *Anchorer) Run(ctx context.Context) {
	every := a.Check
	if every <= 0 {
		every = DefaultAnchorCheck
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_ = protect(a.logger(), "delivery: anchoring", func() error {
			if _, err := a.Tick(ctx); err != nil && !errors.Is(ctx.Err(), context.Canceled) {
				a.logger().Error("checkpoint not signed", "err", err)
			}
			return nil
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Anchorer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Anchorer) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
