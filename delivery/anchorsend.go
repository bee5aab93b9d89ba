package delivery

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/atomicfile"
)

// CheckpointDocument is the JSON body an anchor webhook receives, signed
// like a submission webhook (Sign, with the anchor secret): the
// checkpoint's compact JWS, which the receiver keeps, and what it says.
type CheckpointDocument struct {
	Event      string    `json:"event"`
	Checkpoint string    `json:"checkpoint"`
	Seq        int64     `json:"seq"`
	EntryID    int64     `json:"entry_id"`
	EntryHash  string    `json:"entry_hash"`
	CreatedAt  time.Time `json:"created_at"`
	SentAt     time.Time `json:"sent_at"`
}

// sendAnchor delivers checkpoint m.RefID to the receiver m.Target: a
// webhook POST, or a file in a directory.
func (w *Worker) sendAnchor(ctx context.Context, m *formbuilder.OutboxMessage, now time.Time) (int, error) {
	if !slices.Contains(w.cfg.AnchorReceivers, m.Target) {
		return 0, permanent(dm(formbuilder.MsgDlvNotAnchorReceiver))
	}
	a, err := w.cfg.Anchors.FindAnchor(ctx, m.RefID)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return 0, permanent(dm(formbuilder.MsgDlvNoCheckpoint))
	}
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(m.Target, "http://") && !strings.HasPrefix(m.Target, "https://") {
		return 0, writeAnchorFile(m.Target, a)
	}
	doc := &CheckpointDocument{Event: formbuilder.EventCheckpoint, Checkpoint: a.Token, Seq: a.Seq, EntryID: a.EntryID,
		EntryHash: a.EntryHash, CreatedAt: a.CreatedAt.UTC(), SentAt: now.UTC()}
	return sendWebhook(ctx, w.cfg.HTTPClient, w.cfg.AllowPrivate, formbuilder.Webhook{URL: m.Target, Secret: w.cfg.AnchorSecret},
		m.ID, formbuilder.EventCheckpoint, doc, now)
}

// writeAnchorFile puts a's token into dir as formbuilder.AnchorFileName:
// written to a new file, synced and renamed, so the directory only ever
// holds whole checkpoints. The same checkpoint there already is a
// delivery; another one under its name is refused for good (two
// installations sharing a directory, or a file changed there).
func writeAnchorFile(dir string, a *formbuilder.Anchor) error {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return fail(dm(formbuilder.MsgDlvAnchorDirMissing))
	}
	path := filepath.Join(dir, formbuilder.AnchorFileName(a.Seq))
	want := []byte(a.Token + "\n")
	if have, err := os.ReadFile(path); err == nil {
		if bytes.Equal(have, want) {
			return nil
		}
		return permanent(dm(formbuilder.MsgDlvAnchorOther))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(dm(formbuilder.MsgDlvAnchorDirUnreadable))
	}
	tmp, err := atomicfile.WriteTemp(dir, ".checkpoint-*", want)
	if err != nil {
		return fail(dm(formbuilder.MsgDlvAnchorDirUnwritable))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fail(dm(formbuilder.MsgDlvAnchorDirUnwritable))
	}
	atomicfile.SyncDir(dir)
	return nil
}
