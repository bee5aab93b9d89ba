package formbuilder

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sealedRecord returns a given entry with id 1, sealed after genesis.
func sealedRecord() (*ConsentRecord, *ConsentVersion) {
	v := versionOf(101, 11, 3, ConsentContent{Text: "<p>We process your data.</p>",
		Label: "I accept the %privacy notice%.", LinkURL: "https://example.com/privacy", Language: "de"})
	r := &ConsentRecord{ID: 1, Time: keyTime.Add(time.Minute), Action: ActionGiven, ConsentID: 11,
		ConsentName: "Privacy (internal)", VersionID: v.ID, VersionNo: v.Number, TextHash: v.Hash, FormID: 7,
		FormKey: "abcdefghijklmnop", Source: "Contact", Subject: "ada@example.com", IP: "203.0.113.7",
		InitialState: false, Interacted: true}
	r.Seal(GenesisHash)
	return r, v
}

func TestReceipt(t *testing.T) {
	ks := newTestKeys(t)
	rec, ver := sealedRecord()
	company := CompanyData{Name: "Beispiel GmbH", Address: "Musterstraße 1, Berlin", Purposes: "answering enquiries",
		ThirdParties: "Mail Ltd", Email: "privacy@example.com"}
	in := ReceiptInput{Record: rec, Version: ver, Company: company, Issuer: "https://forms.example",
		Method: CollectionMethod("form", rec.FormKey), Data: []string{"Name", "E-mail"}}
	at := keyTime.Add(2 * time.Minute)
	tok, err := IssueReceipt(ks, in, at)
	require.NoError(t, err)

	got, err := VerifyReceipt(tok, ks.Public())
	require.NoError(t, err)
	assert.Equal(t, NewReceipt(in, at), got)
	require.NoError(t, got.CheckEntry(rec))

	// The Kantara 1.1 members, as a reader of the JSON sees them.
	var claims map[string]any
	parts := strings.Split(tok, ".")
	payload, err := unb64(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(payload, &claims))
	for _, k := range []string{"version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID",
		"language", "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive", "spiCat", "iss", "iat"} {
		assert.Contains(t, claims, k)
	}
	assert.Equal(t, "form abcdefghijklmnop", claims["collectionMethod"])
	assert.Equal(t, "ada@example.com", claims["piiPrincipalId"])
	assert.Equal(t, "https://example.com/privacy", claims["policyUrl"])
	assert.Equal(t, "de", claims["language"])
	assert.NotContains(t, string(payload), "Privacy (internal)", "the internal name stays inside")
	svc := got.Services[0]
	assert.Equal(t, "I accept the privacy notice.", svc.Service)
	assert.Equal(t, ReceiptPurpose{Purpose: "answering enquiries", PurposeCategory: []string{}, ConsentType: ConsentTypeExplicit,
		PIICategory: []string{"Name", "E-mail"}, PrimaryPurpose: true, Termination: "until withdrawn",
		ThirdPartyDisclosure: true, ThirdPartyName: "Mail Ltd"}, svc.Purposes[0])
	assert.Equal(t, ReceiptEntry{ID: 1, Hash: rec.Hash, Time: "2026-05-04T10:01:00Z", Action: ActionGiven, ConsentID: 11,
		VersionID: 101, Version: 3, TextHash: ver.Hash, InitialState: false, Interacted: true}, got.Entry)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), got.ConsentReceiptID)
	assert.Equal(t, got.ConsentReceiptID, ReceiptID(rec.Hash), "one id per entry")

	// A pre-ticked box nobody touched is no explicit consent.
	pre := *rec
	pre.InitialState, pre.Interacted = true, false
	pre.Seal(GenesisHash)
	in.Record = &pre
	assert.Equal(t, ConsentTypeImplicit, NewReceipt(in, at).Services[0].Purposes[0].ConsentType)
}

func TestReceiptEntryDiffers(t *testing.T) {
	ks := newTestKeys(t)
	rec, ver := sealedRecord()
	tok, err := IssueReceipt(ks, ReceiptInput{Record: rec, Version: ver, Method: "form x"}, keyTime.Add(time.Hour))
	require.NoError(t, err)
	r, err := VerifyReceipt(tok, ks)
	require.NoError(t, err)

	resealed := *rec
	resealed.InitialState, resealed.Interacted = true, false
	resealed.Seal(GenesisHash)
	err = r.CheckEntry(&resealed)
	assert.Equal(t, ECONFLICT, ErrorCode(err))
	assert.Contains(t, ErrorMessage(err), "entry differs")
	assert.Contains(t, ErrorMessage(err), "the hash is "+resealed.Hash)

	edited := *rec
	edited.Subject = "someone-else@example.com"
	err = r.CheckEntry(&edited)
	assert.Contains(t, ErrorMessage(err), "no longer matches its own hash")
}

func TestReceiptKeyPeriod(t *testing.T) {
	ks := newTestKeys(t)
	rec, ver := sealedRecord()
	_, err := ks.Rotate(keyTime.Add(time.Hour), RotateDelay)
	require.NoError(t, err)
	end := ks.Keys[0].NotAfter
	old := ks.Keys[0]

	// A receipt the old key signed while it was valid stays good after
	// the rotation; one it claims to have signed after its end does not.
	good, err := SignJWS(old, TypeReceipt, NewReceipt(ReceiptInput{Record: rec, Version: ver}, end.Add(-time.Second)))
	require.NoError(t, err)
	_, err = VerifyReceipt(good, ks.Public())
	require.NoError(t, err)
	late, err := SignJWS(old, TypeReceipt, NewReceipt(ReceiptInput{Record: rec, Version: ver}, end))
	require.NoError(t, err)
	_, err = VerifyReceipt(late, ks.Public())
	assert.ErrorIs(t, err, ErrSignature)
	assert.Contains(t, ErrorMessage(err), "signs from")

	// A checkpoint is not a receipt.
	a, err := NewAnchor(ks, "https://forms.example", ChainHead{ID: 1, Hash: rec.Hash, Time: rec.Time}, nil, keyTime)
	require.NoError(t, err)
	_, err = VerifyReceipt(a.Token, ks)
	assert.ErrorIs(t, err, ErrSignature)
}

// logOf is a consent log of records as FindRecord reads one.
func logOf(recs []*ConsentRecord) func(context.Context, int64) (*ConsentRecord, error) {
	return func(_ context.Context, id int64) (*ConsentRecord, error) {
		for _, r := range recs {
			if r.ID == id {
				return r, nil
			}
		}
		return nil, NewError(ENOTFOUND, MsgRecordNotFound)
	}
}

// chainOf returns n sealed entries.
func chainOf(n int) []*ConsentRecord {
	var out []*ConsentRecord
	prev := GenesisHash
	for i := 1; i <= n; i++ {
		r := &ConsentRecord{ID: int64(i), Time: keyTime.Add(time.Duration(i) * time.Second), Action: ActionGiven,
			ConsentID: 1, VersionID: 1, TextHash: strings.Repeat("a", 64), Subject: "v@example.com"}
		r.Seal(prev)
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

func headOf(recs []*ConsentRecord) ChainHead {
	if len(recs) == 0 {
		return ChainHead{Hash: GenesisHash}
	}
	r := recs[len(recs)-1]
	return ChainHead{ID: r.ID, Hash: r.Hash, Time: r.Time}
}

func TestCheckAnchors(t *testing.T) {
	ks := newTestKeys(t)
	ctx := context.Background()
	recs := chainOf(10)
	// Checkpoints after entries 3, 6 and 9, each verified as a receiver's
	// copy would be.
	var cps []*Checkpoint
	var prev *Anchor
	for i, id := range []int{3, 6, 9} {
		a, err := NewAnchor(ks, "https://forms.example", headOf(recs[:id]), prev, keyTime.Add(time.Duration(i)*time.Hour))
		require.NoError(t, err)
		cp, err := VerifyCheckpoint(a.Token, ks.Public())
		require.NoError(t, err)
		assert.Equal(t, int64(i+1), cp.Seq)
		if prev != nil {
			assert.Equal(t, &CheckpointRef{Seq: prev.Seq, SHA256: TokenHash(prev.Token)}, cp.Prev)
		}
		cps = append(cps, cp)
		prev = a
	}

	rep, err := CheckAnchors(ctx, append(cps, cps[0]), headOf(recs), logOf(recs))
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%+v", rep)
	assert.Equal(t, 3, rep.Checkpoints, "duplicates count once")

	// The newest entries deleted: the chain itself is intact, the
	// checkpoints name what is gone.
	cut := recs[:7]
	rep, err = CheckAnchors(ctx, cps, headOf(cut), logOf(cut))
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	p := rep.Problems[0]
	assert.Equal(t, AnchorMissing, p.Kind)
	assert.Equal(t, int64(8), p.EntryID)
	assert.Equal(t, int64(3), p.Seq)
	assert.Contains(t, p.Message, "entries 8-9 are missing (truncation)")
	assert.Contains(t, p.Message, "the log ends at entry 7")

	// Entry 5 changed and every hash after it recomputed.
	resealed := chainOf(10)
	resealed[4].Subject = "forged@example.com"
	for i := 4; i < len(resealed); i++ {
		resealed[i].Seal(resealed[i-1].Hash)
	}
	rep, err = CheckAnchors(ctx, cps, headOf(resealed), logOf(resealed))
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	p = rep.Problems[0]
	assert.Equal(t, AnchorDiffers, p.Kind)
	assert.Equal(t, int64(6), p.EntryID)
	assert.Contains(t, p.Message, "entry 6 differs from checkpoint 2")
	assert.Contains(t, p.Message, "an entry from 4 to 6 was changed")

	// Two different checkpoints with one number: a forked history.
	fork, err := NewAnchor(ks, "https://forms.example", headOf(recs[:4]), &Anchor{Seq: 1, Token: "x"}, keyTime)
	require.NoError(t, err)
	fcp, err := VerifyCheckpoint(fork.Token, ks)
	require.NoError(t, err)
	rep, err = CheckAnchors(ctx, append(cps, fcp), headOf(recs), logOf(recs))
	require.NoError(t, err)
	require.Len(t, rep.Problems, 1)
	assert.Equal(t, AnchorConflict, rep.Problems[0].Kind)

	// An empty log has no head to anchor.
	_, err = NewAnchor(ks, "", headOf(nil), nil, keyTime)
	assert.Equal(t, ECONFLICT, ErrorCode(err))
}

func TestParseTokens(t *testing.T) {
	assert.Equal(t, []string{"a.b.c", "d.e.f"}, ParseTokens([]byte("# checkpoints\n\na.b.c\r\n  \"d.e.f\"  \n")))
}
