package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/require"
)

// TestRestoreDrill takes a backup with `consentforms backup` (a second
// process) while the real server is under load, then restores it the way
// an operator would (start the server on the copy) and checks it: the file
// is sound, the consent log verifies, every submission acknowledged before
// the backup started is in it, and the restored server accepts submissions
// and honours withdrawal links signed before the backup.
func TestRestoreDrill(t *testing.T) {
	testdb.SQLiteOnly(t, "backup writes SQLite files; PostgreSQL is backed up with pg_dump (TestBackupOnPostgresPointsToPgDump)")
	bin := buildBinary(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	lf := seedLoadDB(t, dbPath)

	p := startProc(t, bin, dbPath)
	tok := renderToken(t, p.base, lf.key)
	// A withdrawal link handed out before the backup must work on the
	// restored server: the signing secret lives in the database.
	withdrawURL := postOne(t, p.base, lf, tok, "before-backup@example.com")
	var seq atomic.Int64
	var sent sync.Map
	l := newLoader(p.base, tok, lf, &seq, &sent)
	l.start(8)
	time.Sleep(400 * time.Millisecond)

	// Everything acknowledged up to here must be in the backup.
	l.mu.Lock()
	before := append([]acked(nil), l.acked...)
	l.mu.Unlock()
	backupStart := time.Now()
	backupPath := filepath.Join(dir, "backup.db")
	out, err := exec.Command(bin, "backup", backupPath, "--db", dbPath).CombinedOutput()
	require.NoError(t, err, "backup: %s", out)
	backupTook := time.Since(backupStart)
	require.Contains(t, string(out), "backup of")

	// The load goes on during and after the backup.
	time.Sleep(200 * time.Millisecond)
	all := l.halt()
	during := 0
	for _, a := range all {
		if a.at.After(backupStart) {
			during++
		}
	}
	require.Positive(t, during, "the server kept accepting submissions while the backup ran")
	p.stop(t)

	// The backup is a sound, complete database.
	inBackup := checkDB(t, backupPath)
	for _, a := range before {
		s, ok := inBackup[a.id]
		require.True(t, ok, "submission %d, acknowledged before the backup, is missing from it", a.id)
		require.Equal(t, a.email, s.email)
		require.Equal(t, a.ticked, s.records)
	}
	verified := verifyCmd(t, bin, backupPath)
	live := checkDB(t, dbPath)
	require.Equal(t, len(all)+1, len(live), "the live database has every acknowledged submission (and the first one)")
	verifyCmd(t, bin, dbPath)

	// Restore: copy the backup into place and serve it.
	restorePath := filepath.Join(dir, "restored.db")
	out, err = exec.Command(bin, "backup", restorePath, "--db", backupPath).CombinedOutput()
	require.NoError(t, err, "copy of the backup: %s", out)
	r := startProc(t, bin, restorePath)
	postOne(t, r.base, lf, renderToken(t, r.base, lf.key), "after-restore@example.com")
	link := r.base + "/w/" + strings.SplitN(withdrawURL, "/w/", 2)[1]
	resp, err := http.Get(link)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "a withdrawal link from before the backup works after the restore")
	req, _ := http.NewRequest("POST", link, nil)
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var wd struct {
		Withdrawn bool `json:"withdrawn"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&wd))
	resp.Body.Close()
	require.True(t, wd.Withdrawn)
	r.stop(t)
	checkDB(t, restorePath)
	verifyCmd(t, bin, restorePath)

	t.Logf("restore drill: %d acknowledged before the backup (all in it), %d during or after it, %d in the backup, %d in the live database; backup took %v; %s",
		len(before), during, len(inBackup), len(live), backupTook.Round(time.Millisecond), verified)
}

// postOne sends one good submission and returns its first withdrawal link.
func postOne(t *testing.T, base string, lf loadForm, tok, email string) string {
	t.Helper()
	consents := map[string]bool{}
	for _, id := range lf.consents[:2] {
		consents[strconv.FormatInt(id, 10)] = true
	}
	body, _ := json.Marshal(map[string]any{"token": tok, "values": map[string]string{"email": email}, "consents": consents})
	resp, err := http.Post(base+"/f/"+lf.key, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, 201, resp.StatusCode, "%s", b)
	var res struct {
		WithdrawLinks []struct {
			URL string `json:"url"`
		} `json:"withdraw_links"`
	}
	require.NoError(t, json.Unmarshal(b, &res))
	require.NotEmpty(t, res.WithdrawLinks)
	return res.WithdrawLinks[0].URL
}
