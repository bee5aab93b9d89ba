package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// evidenceServer is `serve` on a fresh database of one backend, with the
// receipts of the consents given through its demo form.
type evidenceServer struct {
	t        *testing.T
	db, base string
	demo     string
	keyFile  string
	receipts map[int64]string // entry id -> receipt
	dir      string           // what the tests write receipts and checkpoints to
}

// newEvidenceServer starts serve on db with the anchor directory anchors
// (none when ""), anchoring only on demand (its own would come after 1000
// entries or an hour).
func newEvidenceServer(t *testing.T, db, anchors string) *evidenceServer {
	t.Helper()
	s := &evidenceServer{t: t, db: db, receipts: map[int64]string{}, dir: t.TempDir(), keyFile: keyFileFor(t, db)}
	var extra []string
	if anchors != "" {
		extra = []string{"--anchor-dir", anchors}
	}
	s.base, s.demo, _ = startServerOn(t, db, extra...)
	return s
}

// give sends the demo form as a visitor's browser would (JSON answer) and
// keeps the receipt it gets.
func (s *evidenceServer) give(email string) int64 {
	t := s.t
	t.Helper()
	resp, err := http.Get(s.demo)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok, cid := string(tokenRE.FindSubmatch(page)[1]), string(consentRE.FindSubmatch(page)[1])
	vals := url.Values{"_token": {tok}, "name": {"Erika"}, "email": {email}, "message": {"Hallo"}, "consent_" + cid: {"1"}}
	req, _ := http.NewRequest("POST", s.demo, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	var ans struct {
		Receipts []struct {
			RecordID int64  `json:"record_id"`
			JWS      string `json:"jws"`
		} `json:"receipts"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
	require.Len(t, ans.Receipts, 1)
	s.receipts[ans.Receipts[0].RecordID] = ans.Receipts[0].JWS
	return ans.Receipts[0].RecordID
}

// receiptFile writes entry id's receipt to a file, as a visitor's download.
func (s *evidenceServer) receiptFile(id int64) string {
	p := filepath.Join(s.dir, formbuilder.ReceiptFileName(id))
	require.NoError(s.t, os.WriteFile(p, []byte(s.receipts[id]), 0o644))
	return p
}

// cli runs a command on the server's database and key file.
func (s *evidenceServer) cli(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	args = append(args, "--db", s.db)
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// anchor makes a checkpoint on demand into the receiver directory.
func (s *evidenceServer) anchor(dir string) {
	t := s.t
	t.Helper()
	code, out, errb := s.cli("consents", "anchor", "--signing-key", s.keyFile, "--base-url", s.base, "--anchor-dir", dir)
	require.Equal(t, 0, code, errb)
	// A running server delivers it to the directory (the worker is woken
	// by its own commits, else polls every second).
	tok := strings.TrimSpace(out)
	cp, err := formbuilder.VerifyCheckpoint(tok, mustKeys(t, s.keyFile))
	require.NoError(t, err)
	file := filepath.Join(dir, formbuilder.AnchorFileName(cp.Seq))
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(file)
		return err == nil && strings.TrimSpace(string(b)) == tok
	}, waitLong, 20e6, "the server writes checkpoint %d to the anchor directory", cp.Seq)
}

func mustKeys(t *testing.T, path string) *formbuilder.KeySet {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	ks, err := formbuilder.ParseKeySet(b)
	require.NoError(t, err)
	return ks
}

// tamper runs q on the database with the log's append-only triggers out of
// the way: what its operator can do.
func tamper(t *testing.T, db string, qs ...string) {
	t.Helper()
	if strings.Contains(db, "://") {
		owner := pgtest.Owner(t, db)
		tx, err := owner.Begin()
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = tx.Exec("ALTER TABLE consent_records DISABLE TRIGGER USER")
		require.NoError(t, err)
		for _, q := range qs {
			_, err := tx.Exec(q)
			require.NoError(t, err, q)
		}
		_, err = tx.Exec("ALTER TABLE consent_records ENABLE TRIGGER USER")
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		return
	}
	raw, err := sql.Open("sqlite3", "file:"+db+"?_busy_timeout=5000")
	require.NoError(t, err)
	defer raw.Close()
	for _, q := range append([]string{"DROP TRIGGER consent_records_no_update", "DROP TRIGGER consent_records_no_delete",
		"DROP TRIGGER consent_records_append_only"}, qs...) {
		_, err := raw.Exec(q)
		require.NoError(t, err, q)
	}
}

const waitLong = 15e9

// TestTruncationIsShown: the newest entry deleted (triggers dropped) is
// invisible to the chain, but the checkpoints name it, and its receipt
// says the entry is missing. On each backend (testdb.Main).
func TestTruncationIsShown(t *testing.T) {
	anchors := t.TempDir()
	s := newEvidenceServer(t, testdb.Empty(t), anchors)
	for i := 1; i <= 3; i++ {
		s.give(fmt.Sprintf("v%d@example.com", i))
	}
	s.anchor(anchors)
	newest := int64(3)
	receipt := s.receiptFile(newest)

	code, out, errb := s.cli("consents", "verify", "--anchors", anchors, "--key", s.keyFile)
	require.Equal(t, 0, code, errb)
	assert.Contains(t, out, "consent log ok: 3 entries")
	assert.Contains(t, out, "checkpoints ok: 1 checkpoints agree with the log")
	code, out, errb = s.cli("receipt", "verify", receipt, "--key", s.keyFile)
	require.Equal(t, 0, code, errb)
	assert.Contains(t, out, "receipt ok")

	tamper(t, s.db, "DELETE FROM consent_records WHERE id = 3")

	code, out, _ = s.cli("consents", "verify")
	assert.Equal(t, 0, code, "the chain alone cannot tell: %s", out)
	assert.Contains(t, out, "2 entries, hash chain intact")
	code, _, errb = s.cli("consents", "verify", "--anchors", anchors, "--key", s.keyFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb, "entry 3 is missing (truncation)")
	assert.Contains(t, errb, "the log ends at entry 2")
	code, _, errb = s.cli("receipt", "verify", receipt, "--key", s.keyFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb, "entry missing")
	assert.Contains(t, errb, "entry 3")

	// The receipts of the entries still there still check out.
	code, _, errb = s.cli("receipt", "verify", s.receiptFile(2), "--key", s.keyFile)
	assert.Equal(t, 0, code, errb)
}

// TestResealingIsShown: one field of an entry changed and every hash from
// there recomputed: the chain verifies, the checkpoints and the receipt
// do not. On each backend (testdb.Main).
func TestResealingIsShown(t *testing.T) {
	anchors := t.TempDir()
	s := newEvidenceServer(t, testdb.Empty(t), anchors)
	s.give("v1@example.com")
	s.give("v2@example.com")
	s.anchor(anchors)
	s.give("v3@example.com")
	s.anchor(anchors)

	// Re-seal: entry 2 says it was not pre-ticked, and every hash
	// from it on is recomputed.
	store, err := openDB(s.db)
	require.NoError(t, err)
	var recs []*formbuilder.ConsentRecord
	require.NoError(t, store.ExportRecords(context.Background(), formbuilder.RecordFilter{}, func(r *formbuilder.ConsentRecord) error {
		recs = append(recs, r)
		return nil
	}))
	store.Close()
	require.Len(t, recs, 3)
	recs[1].InitialState, recs[1].Interacted = false, true
	var qs []string
	for i := 1; i < len(recs); i++ {
		recs[i].Seal(recs[i-1].Hash)
		qs = append(qs, fmt.Sprintf("UPDATE consent_records SET initial_state = %v, interacted = %v, prev_hash = '%s', hash = '%s' WHERE id = %d",
			sqlBool(s.db, recs[i].InitialState), sqlBool(s.db, recs[i].Interacted), recs[i].PrevHash, recs[i].Hash, recs[i].ID))
	}
	tamper(t, s.db, qs...)

	code, out, _ := s.cli("consents", "verify")
	assert.Equal(t, 0, code, "a re-sealed chain is intact: %s", out)
	code, _, errb := s.cli("consents", "verify", "--anchors", anchors, "--key", s.keyFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb, "entry 2 differs from checkpoint 1")
	assert.Contains(t, errb, "re-sealed")
	assert.Contains(t, errb, "an entry from 1 to 2 was changed")
	code, _, errb = s.cli("receipt", "verify", s.receiptFile(2), "--key", s.keyFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb, "entry differs")
	assert.Contains(t, errb, "initial state/interacted is false/true in the log, true/false in the receipt")
}

func sqlBool(db string, b bool) string {
	if strings.Contains(db, "://") {
		return strconv.FormatBool(b)
	}
	if b {
		return "1"
	}
	return "0"
}

// TestReceiptVerifyRefuses: a forged or foreign receipt is "signature
// invalid", whatever the log holds; keys come from the file or the
// published JWKS.
func TestReceiptVerifyRefuses(t *testing.T) {
	s := newEvidenceServer(t, filepath.Join(t.TempDir(), "cf.db"), "")
	id := s.give("v1@example.com")
	good := s.receipts[id]

	// The published keys work as well as the key file.
	code, out, errb := s.cli("receipt", "verify", s.receiptFile(id), "--jwks", s.base+"/.well-known/consentforms-keys")
	require.Equal(t, 0, code, errb)
	assert.Contains(t, out, "receipt ok")

	// From stdin.
	stdin = strings.NewReader(good + "\n")
	t.Cleanup(func() { stdin = os.Stdin })
	code, _, errb = s.cli("receipt", "verify", "-", "--key", s.keyFile)
	assert.Equal(t, 0, code, errb)

	// The claims changed (a false consent made true), or signed with a key
	// that is not ours.
	parts := strings.Split(good, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	changed := strings.Replace(string(claims), `"interacted":false`, `"interacted":true`, 1)
	require.NotEqual(t, string(claims), changed)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(changed)) + "." + parts[2]
	other, err := formbuilder.NewKeySet(time.Now().Add(-time.Hour))
	require.NoError(t, err)
	var r formbuilder.Receipt
	require.NoError(t, json.Unmarshal(claims, &r))
	foreign, err := formbuilder.SignJWS(other.Keys[0], formbuilder.TypeReceipt, r)
	require.NoError(t, err)
	for name, tok := range map[string]string{"changed": forged, "foreign key": foreign, "garbage": "not a receipt"} {
		p := filepath.Join(s.dir, name+".jws")
		require.NoError(t, os.WriteFile(p, []byte(tok), 0o644))
		code, _, errb := s.cli("receipt", "verify", p, "--key", s.keyFile)
		assert.Equal(t, 1, code, name)
		assert.Contains(t, errb, "signature invalid", name)
	}
	code, _, errb = s.cli("receipt", "verify", s.receiptFile(id), "--key", filepath.Join(s.dir, "none"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errb, "cannot read the keys")
}

// TestKeyCommands: rotation keeps the old key listed (old receipts still
// verify), the new one signs from its start; the public set has no
// private half; a key file others may read is refused.
func TestKeyCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cf.db")
	s := newEvidenceServer(t, db, "")
	id := s.give("v1@example.com")
	before := mustKeys(t, s.keyFile)
	require.Len(t, before.Keys, 1)
	st, err := os.Stat(s.keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the first start makes the key file 0600")

	code, out, errb := s.cli("key", "rotate", "--start-in", "30s")
	require.Equal(t, 0, code, errb)
	assert.Contains(t, out, "new signing key")
	after := mustKeys(t, s.keyFile)
	require.Len(t, after.Keys, 2)
	assert.Equal(t, before.Keys[0].ID, after.Keys[0].ID)
	assert.False(t, after.Keys[0].NotAfter.IsZero(), "the old key ends")
	assert.Equal(t, after.Keys[0].NotAfter, after.Keys[1].NotBefore, "where the new one starts")
	code, _, errb = s.cli("receipt", "verify", s.receiptFile(id), "--key", s.keyFile)
	assert.Equal(t, 0, code, "a receipt of the old key still verifies: %s", errb)

	code, out, _ = s.cli("key", "public")
	require.Equal(t, 0, code)
	assert.NotContains(t, out, `"d"`)
	pub, err := formbuilder.ParseKeySet([]byte(out))
	require.NoError(t, err)
	assert.Len(t, pub.Keys, 2)

	code, _, errb = s.cli("key", "rotate", "--start-in", "1s")
	assert.Equal(t, 2, code, "too soon for the servers to load it: %s", errb)

	require.NoError(t, os.Chmod(s.keyFile, 0o644))
	code, _, errb = s.cli("key", "public")
	assert.Equal(t, 1, code)
	assert.Contains(t, errb, "may be read by others")

	// With PostgreSQL the key file must be named.
	code, _, errb = run2(t, "serve", "--db", "postgres://x@127.0.0.1:1/none", "--addr", "127.0.0.1:0")
	assert.Equal(t, 2, code)
	assert.Contains(t, errb, "--signing-key is required with PostgreSQL")
}

func run2(t *testing.T, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCheckpointsOfAServer: serve anchors on its own, every N entries,
// into its anchor directory and to its anchor webhook.
func TestCheckpointsOfAServer(t *testing.T) {
	dir := t.TempDir()
	got := make(chan string, 10)
	hook := startHookReceiver(t, got)
	db := filepath.Join(t.TempDir(), "cf.db")
	base, demo, _ := startServerOn(t, db, "--anchor-every", "2", "--anchor-dir", dir,
		"--anchor-webhook", hook, "--anchor-webhook-secret", "0123456789abcdef-anchor", "--webhook-allow-private")
	s := &evidenceServer{t: t, db: db, base: base, demo: demo, receipts: map[int64]string{}, dir: t.TempDir(), keyFile: keyFileFor(t, db)}
	s.give("v1@example.com")
	s.give("v2@example.com")
	// The anchorer looks every 10 seconds.
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, formbuilder.AnchorFileName(1)))
		return err == nil
	}, 30e9, 100e6, "checkpoint 1 in the anchor directory")
	select {
	case body := <-got:
		assert.Contains(t, body, `"event":"chain.checkpoint"`)
		assert.Contains(t, body, `"entry_id":2`)
	case <-time.After(30 * time.Second):
		t.Fatal("the anchor webhook got no checkpoint")
	}
	code, out, errb := s.cli("consents", "verify", "--anchors", dir, "--key", s.keyFile)
	require.Equal(t, 0, code, errb)
	assert.Contains(t, out, "checkpoints ok")
}

// startHookReceiver serves an anchor webhook that checks each request's
// signature (as README tells receivers to) and hands the bodies to got.
func startHookReceiver(t *testing.T, got chan<- string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("X-Consentforms-Timestamp")
		mac := hmac.New(sha256.New, []byte("0123456789abcdef-anchor"))
		mac.Write([]byte(ts + "." + string(body)))
		if r.Header.Get("X-Consentforms-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		got <- string(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
