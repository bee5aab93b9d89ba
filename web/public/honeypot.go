package public

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
)

// decoys answers a post whose honeypot field is filled as if it had been
// stored, so a bot cannot tell that it was caught: the id the next
// submission would get, and a withdrawal link and a receipt per consent it
// ticked, shaped like real ones. Nothing is stored, and the links withdraw
// nothing: they are signed for another purpose than withdrawal links, so
// they stay invalid even when a real consent entry later gets their id.
// The receipts are signed with a key of this process alone, never with the
// installation's: a signature of ours must never vouch for an entry that
// does not exist (it would make the log look truncated), and theirs
// verifies against no published key.
type decoys struct {
	// sub and rec are the highest submission and consent entry ids this
	// process knows of: stored by it, or read once from storage.
	sub, rec atomic.Int64
	seed     sync.Once
	// keys sign the decoy receipts; made on first use.
	keys     *formbuilder.KeySet
	keysOnce sync.Once
}

// decoyPurpose signs the links of decoy answers; withdraw.go accepts only
// links signed for "withdraw".
const decoyPurpose = "withdraw-decoy"

// noteStored remembers the ids of a stored submission.
func (d *decoys) noteStored(sub *formbuilder.Submission, records []*formbuilder.ConsentRecord) {
	storeMax(&d.sub, sub.ID)
	for _, r := range records {
		storeMax(&d.rec, r.ID)
	}
}

func storeMax(v *atomic.Int64, n int64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// decoy returns the answer to a pretended submission of f with records
// (validated, not stored).
func (s *Server) decoy(ctx context.Context, f *formbuilder.Form, records []*formbuilder.ConsentRecord) successAnswer {
	d := &s.decoys
	d.seed.Do(func() {
		// After a restart the process knows no ids; the newest in storage
		// keep the first decoy's from starting at 1. A failure only makes
		// the decoy ids smaller.
		if recs, err := s.svc.Log.ListRecords(ctx, formbuilder.RecordFilter{Limit: 1}); err == nil && len(recs) > 0 {
			storeMax(&d.rec, recs[0].ID)
		}
		if s.svc.Inbox != nil {
			subs, err := s.svc.Inbox.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: f.ID, Limit: 1})
			if err == nil && len(subs) > 0 {
				storeMax(&d.sub, subs[0].ID)
			}
		}
	})
	d.keysOnce.Do(func() {
		// A failure leaves the decoy without receipts.
		d.keys, _ = formbuilder.NewKeySet(s.Now().Add(-time.Hour))
	})
	ans := successAnswer{links: make([]widget.WithdrawLink, 0, len(records)), receipts: make([]widget.Receipt, 0, len(records))}
	for _, r := range records {
		n := d.rec.Add(1)
		id := strconv.FormatInt(n, 10)
		ans.links = append(ans.links, widget.WithdrawLink{Label: consentLabel(f, r.ConsentID),
			URL: s.BaseURL + "/w/" + id + "." + s.Signer.Sign(decoyPurpose, id)})
		if d.keys == nil {
			continue
		}
		fake := *r
		fake.ID, fake.Time = n, s.Now()
		fake.Seal(formbuilder.TokenHash(formbuilder.RandomKey(20))) // a chain nobody keeps
		if rc, ok := s.receiptOf(d.keys, f, &fake); ok {
			ans.receipts = append(ans.receipts, rc)
		}
	}
	ans.id = d.sub.Add(1)
	return ans
}
