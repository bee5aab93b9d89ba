package formbuilder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Anchors: the hash chain proves that no entry was changed or removed in
// the middle, but not that the newest entries are still there, nor that
// whoever changed an entry did not recompute every later hash (the chain
// has no key). A checkpoint is the chain head (entry id and hash) at a
// moment, signed with the installation's key and sent to receivers the
// database's operator cannot change (a webhook at another party, a
// write-once directory). Comparing the log with the checkpoints shows both:
// an entry a checkpoint saw that is gone (truncation) and an entry whose
// hash is not the one a checkpoint saw (re-sealing).

// ChainHead is the newest entry of the log: its id, hash and time; ID 0
// (and GenesisHash) for an empty log.
type ChainHead struct {
	ID   int64
	Hash string
	Time time.Time
}

// Anchor is a checkpoint as storage keeps it: its number, the head it
// names and the signed token sent to the receivers.
type Anchor struct {
	// Seq numbers checkpoints 1, 2, 3, …; each names the one before.
	Seq       int64     `json:"seq"`
	EntryID   int64     `json:"entry_id"`
	EntryHash string    `json:"entry_hash"`
	CreatedAt time.Time `json:"created_at"`
	// Token is the checkpoint's compact JWS (TypeCheckpoint).
	Token string `json:"token"`
}

// Checkpoint is the claims set of a checkpoint token.
type Checkpoint struct {
	Issuer   string `json:"iss"`
	IssuedAt int64  `json:"iat"`
	Seq      int64  `json:"seq"`
	// Time is when the checkpoint was made, with nanoseconds.
	Time      string `json:"time"`
	EntryID   int64  `json:"entry_id"`
	EntryHash string `json:"entry_hash"`
	EntryTime string `json:"entry_time"`
	// Prev names the checkpoint before (nil for the first): receivers can
	// tell when one is missing.
	Prev *CheckpointRef `json:"prev"`
}

// CheckpointRef names a checkpoint by its number and the SHA-256 of its
// token.
type CheckpointRef struct {
	Seq    int64  `json:"seq"`
	SHA256 string `json:"sha256"`
}

// TokenHash is the hex SHA-256 of a token, as CheckpointRef has it.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewAnchor signs a checkpoint of head, following prev (nil for the
// first), with the key of ks valid at now.
func NewAnchor(ks *KeySet, issuer string, head ChainHead, prev *Anchor, now time.Time) (*Anchor, error) {
	if head.ID <= 0 {
		return nil, NewError(ECONFLICT, MsgLogEmptyAnchor)
	}
	now = now.UTC().Round(0)
	cp := &Checkpoint{Issuer: issuer, IssuedAt: now.Unix(), Seq: 1, Time: now.Format(time.RFC3339Nano),
		EntryID: head.ID, EntryHash: head.Hash, EntryTime: head.Time.UTC().Format(time.RFC3339Nano)}
	if prev != nil {
		cp.Seq = prev.Seq + 1
		cp.Prev = &CheckpointRef{Seq: prev.Seq, SHA256: TokenHash(prev.Token)}
	}
	k, err := ks.Signer(now)
	if err != nil {
		return nil, Internal(err)
	}
	tok, err := SignJWS(k, TypeCheckpoint, cp)
	if err != nil {
		return nil, err
	}
	return &Anchor{Seq: cp.Seq, EntryID: head.ID, EntryHash: head.Hash, CreatedAt: now, Token: tok}, nil
}

// AnchorFileName is the file a directory receiver keeps checkpoint seq in;
// the number is zero-padded so that names sort in order.
func AnchorFileName(seq int64) string { return fmt.Sprintf("checkpoint-%09d.jws", seq) }

// VerifyCheckpoint checks a checkpoint token's signature against ks and
// that the key was valid when it signed, and returns its claims.
func VerifyCheckpoint(token string, ks *KeySet) (*Checkpoint, error) {
	payload, k, err := VerifyJWS(token, ks, TypeCheckpoint)
	if err != nil {
		return nil, err
	}
	var cp Checkpoint
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&cp); err != nil || cp.Seq <= 0 || cp.EntryID <= 0 {
		return nil, &Error{Code: EINVALID, Msg: M(MsgSigInvalid).With("problem", M(MsgSigNotCheckpoint)), Err: ErrSignature}
	}
	if at := time.Unix(cp.IssuedAt, 0); !k.ValidAt(at) {
		return nil, &Error{Code: EINVALID, Err: ErrSignature, Msg: M(MsgSigInvalid).With("problem",
			M(MsgSigKeyPeriodCheckpoint, "key", k.ID, "from", k.NotBefore.Format(time.RFC3339), "until", validUntil(k),
				"seq", strconv.FormatInt(cp.Seq, 10), "at", at.UTC().Format(time.RFC3339)))}
	}
	return &cp, nil
}

// Kinds of AnchorProblem.
const (
	// AnchorMissing: entries a checkpoint saw are gone (truncation).
	AnchorMissing = "missing"
	// AnchorDiffers: an entry's hash is not the one a checkpoint saw
	// (re-sealed, or replaced after a truncation).
	AnchorDiffers = "differs"
	// AnchorConflict: two checkpoints with one number disagree.
	AnchorConflict = "conflict"
)

// AnchorProblem is one way the log disagrees with the checkpoints.
type AnchorProblem struct {
	Kind string
	// EntryID is the entry named: the first missing one, or the one whose
	// hash differs.
	EntryID int64
	// Seq is the checkpoint that shows it.
	Seq     int64
	Message string
}

// AnchorReport is the outcome of CheckAnchors.
type AnchorReport struct {
	// Checkpoints is how many distinct checkpoints were compared.
	Checkpoints int
	Problems    []AnchorProblem
}

// OK reports whether the log agrees with every checkpoint.
func (r AnchorReport) OK() bool { return len(r.Problems) == 0 }

// CheckAnchors compares the log, whose newest entry is head and whose
// entries find reads (ConsentLog.FindRecord), with checkpoints (verified,
// in any order; duplicates are fine). It names the entries missing after a
// checkpoint, the first entry whose hash differs from a checkpoint (with
// the range in which the change must lie), and checkpoints that contradict
// each other.
func CheckAnchors(ctx context.Context, cps []*Checkpoint, head ChainHead,
	find func(ctx context.Context, id int64) (*ConsentRecord, error)) (AnchorReport, error) {
	var rep AnchorReport
	bySeq := map[int64]*Checkpoint{}
	var list []*Checkpoint
	for _, cp := range cps {
		if have, ok := bySeq[cp.Seq]; ok {
			if have.EntryID != cp.EntryID || have.EntryHash != cp.EntryHash || have.Time != cp.Time {
				rep.Problems = append(rep.Problems, AnchorProblem{Kind: AnchorConflict, Seq: cp.Seq, EntryID: cp.EntryID,
					Message: fmt.Sprintf("two different checkpoints are numbered %d (entries %d and %d): the key signed two histories",
						cp.Seq, have.EntryID, cp.EntryID)})
			}
			continue
		}
		bySeq[cp.Seq] = cp
		list = append(list, cp)
	}
	rep.Checkpoints = len(list)
	sort.Slice(list, func(a, b int) bool {
		if list[a].EntryID != list[b].EntryID {
			return list[a].EntryID < list[b].EntryID
		}
		return list[a].Seq < list[b].Seq
	})
	// The checkpoint that saw the most entries names the whole gap.
	if n := len(list); n > 0 && list[n-1].EntryID > head.ID {
		cp := list[n-1]
		rep.Problems = append(rep.Problems, AnchorProblem{Kind: AnchorMissing, Seq: cp.Seq, EntryID: head.ID + 1,
			Message: fmt.Sprintf("%s missing (truncation): checkpoint %d of %s saw the log up to entry %d (hash %s), "+
				"but the log ends at entry %d", entriesWord(head.ID+1, cp.EntryID), cp.Seq, cp.Time, cp.EntryID,
				cp.EntryHash, head.ID)})
	}
	var goodUpTo int64 // the newest entry a checkpoint confirmed
	for _, cp := range list {
		if cp.EntryID > head.ID {
			break
		}
		rec, err := find(ctx, cp.EntryID)
		if ErrorCode(err) == ENOTFOUND {
			rep.Problems = append(rep.Problems, AnchorProblem{Kind: AnchorMissing, Seq: cp.Seq, EntryID: cp.EntryID,
				Message: fmt.Sprintf("entry %d is missing: checkpoint %d of %s saw it with hash %s",
					cp.EntryID, cp.Seq, cp.Time, cp.EntryHash)})
			break
		}
		if err != nil {
			return rep, err
		}
		if rec.Hash != cp.EntryHash {
			rep.Problems = append(rep.Problems, AnchorProblem{Kind: AnchorDiffers, Seq: cp.Seq, EntryID: cp.EntryID,
				Message: fmt.Sprintf("entry %d differs from checkpoint %d of %s (re-sealed): the checkpoint saw hash %s, "+
					"the log has %s; an entry from %d to %d was changed or replaced and every later hash recomputed",
					cp.EntryID, cp.Seq, cp.Time, cp.EntryHash, rec.Hash, goodUpTo+1, cp.EntryID)})
			break
		}
		goodUpTo = cp.EntryID
	}
	return rep, nil
}

func entriesWord(from, to int64) string {
	if from == to {
		return fmt.Sprintf("entry %d is", from)
	}
	return fmt.Sprintf("entries %d-%d are", from, to)
}

// ParseTokens splits the contents of a checkpoint file or of a receiver's
// stream into tokens: one per line, blank lines and lines starting with #
// ignored, surrounding JSON quotes tolerated.
func ParseTokens(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.Trim(strings.TrimSpace(line), `"`)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}
