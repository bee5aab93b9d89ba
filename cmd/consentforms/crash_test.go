package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/require"
)

// buildBinary builds the real consentforms binary into a temp dir: the
// crash test and the restore drill kill and run it as separate processes.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "consentforms")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// loadForm describes the form the load goroutines fill: three consents,
// the first two required, the third ticked by some visitors only, so the
// number of consent records differs between submissions.
type loadForm struct {
	key      string
	consents [3]int64
}

// seedLoadDB creates the database (a file or a postgres:// URL) with an
// admin (so serve seeds no demo data) and the load form.
func seedLoadDB(t *testing.T, dbPath string) loadForm {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(dbPath)
	require.NoError(t, err)
	defer db.Close()
	u := &formbuilder.User{Email: "ops@example.com", Name: "Ops"}
	require.NoError(t, db.CreateUser(ctx, u))
	var lf loadForm
	form := &formbuilder.Form{
		Name: "Load", Language: "en", ResponsibleUserID: u.ID,
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
	}
	for i, name := range []string{"Privacy", "Terms", "Newsletter"} {
		c := &formbuilder.Consent{Name: name, Type: formbuilder.ConsentCustom}
		content := formbuilder.ConsentContent{Text: "<p>" + name + " text.</p>", Label: "I agree to the %" + name + "%.", Language: "en"}
		content.Sanitize()
		require.NoError(t, db.CreateConsent(ctx, c, content, "ops"))
		lf.consents[i] = c.ID
		form.Consents = append(form.Consents, formbuilder.FormConsent{ConsentID: c.ID, CheckedByDefault: i < 2, Required: i < 2})
	}
	require.NoError(t, db.CreateForm(ctx, form))
	lf.key = form.Key
	return lf
}

// proc is a running server process.
type proc struct {
	cmd    *exec.Cmd
	base   string
	done   chan struct{}
	stderr *bytes.Buffer
}

// startProc runs `consentforms serve` on dbPath with the extra flags and
// waits until it listens. Rate limits are off: the load comes from one
// address on purpose.
func startProc(t *testing.T, bin, dbPath string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", dbPath, "--min-fill-time", "0",
		"--rate-ip", "0", "--rate-form", "0", "--rate-ip-form", "0", "--log-level", "warn",
		"--signing-key", keyFileFor(t, dbPath)}, extra...)...)
	cmd.Env = append(os.Environ(), "CONSENTFORMS_TRUSTED_PROXIES=")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &proc{cmd: cmd, done: make(chan struct{}), stderr: &bytes.Buffer{}}
	cmd.Stderr = &syncWriter{w: p.stderr}
	require.NoError(t, cmd.Start())
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if base, ok := strings.CutPrefix(sc.Text(), "consentforms is serving on "); ok {
				ready <- base
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case p.base = <-ready:
	case <-p.done:
		t.Fatalf("server exited: %s", p.stderr)
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("server did not start: %s", p.stderr)
	}
	return p
}

// kill sends SIGKILL: no shutdown, no deferred Close, whatever was in
// flight is cut off.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop shuts the server down gracefully.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
		t.Fatal("server did not stop on SIGTERM")
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// renderToken fetches the form page and returns its render token; with
// --min-fill-time 0 one token serves every post for a day.
func renderToken(t *testing.T, base, key string) string {
	t.Helper()
	resp, err := http.Get(base + "/f/" + key)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	m := tokenRE.FindSubmatch(page)
	require.NotNil(t, m)
	return string(m[1])
}

// acked is a submission the server answered 2xx for.
type acked struct {
	id     int64
	email  string
	ticked int
	at     time.Time
}

// loader posts submissions from several goroutines until stopped. Every
// e-mail is unique, so stored rows can be matched to what was sent.
type loader struct {
	base, key, token string
	lf               loadForm
	seq              *atomic.Int64
	// sent maps every e-mail ever sent to the number of consents ticked.
	sent *sync.Map

	mu    sync.Mutex
	acked []acked
	fails atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newLoader(base, token string, lf loadForm, seq *atomic.Int64, sent *sync.Map) *loader {
	return &loader{base: base, key: lf.key, token: token, lf: lf, seq: seq, sent: sent, stop: make(chan struct{})}
}

func (l *loader) start(workers int) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if !l.post(client) {
					// The server is gone (killed): stop hammering.
					select {
					case <-l.stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
		}()
	}
}

func (l *loader) post(client *http.Client) bool {
	n := l.seq.Add(1)
	email := fmt.Sprintf("load%06d@example.com", n)
	ticked := 2
	consents := map[string]any{
		strconv.FormatInt(l.lf.consents[0], 10): map[string]bool{"checked": true, "initial": true},
		strconv.FormatInt(l.lf.consents[1], 10): map[string]bool{"checked": true, "initial": true},
	}
	if n%3 == 0 {
		consents[strconv.FormatInt(l.lf.consents[2], 10)] = map[string]bool{"checked": true, "interacted": true}
		ticked = 3
	}
	body, _ := json.Marshal(map[string]any{
		"token":    l.token,
		"values":   map[string]string{"name": "Load " + strconv.FormatInt(n, 10), "email": email, "message": "crash test"},
		"consents": consents,
	})
	l.sent.Store(email, ticked)
	resp, err := client.Post(l.base+"/f/"+l.key, "application/json", bytes.NewReader(body))
	if err != nil {
		l.fails.Add(1)
		return false
	}
	defer resp.Body.Close()
	var res struct {
		ID int64 `json:"id"`
	}
	if resp.StatusCode/100 != 2 || json.NewDecoder(resp.Body).Decode(&res) != nil || res.ID == 0 {
		l.fails.Add(1)
		return resp.StatusCode < 500
	}
	l.mu.Lock()
	l.acked = append(l.acked, acked{id: res.ID, email: email, ticked: ticked, at: time.Now()})
	l.mu.Unlock()
	return true
}

func (l *loader) halt() []acked {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

// storedSub is a submission as found in the database file.
type storedSub struct {
	email   string
	records int
}

// openRaw opens a database file with a plain connection, as an auditor
// with the file would, without any of our code.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	require.NoError(t, err)
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	return raw
}

// checkDB checks the consistency of a database file: integrity, every
// submission with its records and every given record with its submission,
// and returns the stored submissions by id.
func checkDB(t *testing.T, path string) map[int64]storedSub {
	t.Helper()
	raw := openRaw(t, path)
	var ic string
	require.NoError(t, raw.QueryRow("PRAGMA integrity_check").Scan(&ic))
	require.Equal(t, "ok", ic, "integrity_check of %s", path)
	var fk int
	require.NoError(t, raw.QueryRow("SELECT count(*) FROM pragma_foreign_key_check").Scan(&fk))
	require.Zero(t, fk, "foreign key violations")
	return checkRows(t, raw)
}

// checkRows checks, on a plain connection of either engine, that every
// submission has its records and every given record its submission, and
// returns the stored submissions by id.
func checkRows(t *testing.T, raw *sql.DB) map[int64]storedSub {
	t.Helper()
	var orphanSubs, orphanRecs int
	require.NoError(t, raw.QueryRow(`SELECT count(*) FROM submissions s WHERE NOT EXISTS
		(SELECT 1 FROM consent_records r WHERE r.submission_id = s.id)`).Scan(&orphanSubs))
	require.Zero(t, orphanSubs, "submissions without their consent records (half-written)")
	require.NoError(t, raw.QueryRow(`SELECT count(*) FROM consent_records r WHERE r.action = 'given' AND NOT EXISTS
		(SELECT 1 FROM submissions s WHERE s.id = r.submission_id)`).Scan(&orphanRecs))
	require.Zero(t, orphanRecs, "consent records without their submission")

	rows, err := raw.Query(`SELECT s.id, s."values", s.subject, (SELECT count(*) FROM consent_records r WHERE r.submission_id = s.id)
		FROM submissions s`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]storedSub{}
	for rows.Next() {
		var id int64
		var vals, subject string
		var n int
		require.NoError(t, rows.Scan(&id, &vals, &subject, &n))
		var v map[string][]string
		require.NoError(t, json.Unmarshal([]byte(vals), &v))
		require.Len(t, v["email"], 1)
		require.Equal(t, v["email"][0], subject)
		out[id] = storedSub{email: subject, records: n}
	}
	require.NoError(t, rows.Err())
	return out
}

// requireStoredAsSent checks the stored submissions against the load:
// each was sent, with a consent record per consent ticked, none is stored
// twice, and every acknowledged one is there with its records.
func requireStoredAsSent(t *testing.T, stored map[int64]storedSub, sent *sync.Map, acked []acked) {
	t.Helper()
	byEmail := map[string]int64{}
	for id, s := range stored {
		byEmail[s.email] = id
		ticked, ok := sent.Load(s.email)
		require.True(t, ok, "stored submission %d (%s) was never sent", id, s.email)
		require.Equal(t, ticked, s.records, "submission %d has %d consent records, %d were ticked", id, s.records, ticked)
	}
	for _, a := range acked {
		s, ok := stored[a.id]
		require.True(t, ok, "acknowledged submission %d (%s) is missing", a.id, a.email)
		require.Equal(t, a.email, s.email, "submission %d", a.id)
		require.Equal(t, a.ticked, s.records, "submission %d: records", a.id)
	}
	require.Equal(t, len(stored), len(byEmail), "no submission stored twice")
}

// verifyCmd runs `consentforms consents verify` on a database (a file or a
// URL), as a process.
func verifyCmd(t *testing.T, bin, path string) string {
	t.Helper()
	out, err := exec.Command(bin, "consents", "verify", "--db", path).CombinedOutput()
	require.NoError(t, err, "consents verify: %s", out)
	require.Contains(t, string(out), "consent log ok")
	return strings.TrimSpace(string(out))
}

// TestCrashSafety kills the real server with SIGKILL at random moments
// under concurrent load and restarts it, again and again. Every submission
// the server acknowledged must be in the file with all its consent
// records, nothing may be half-written, and the log's hash chain must hold.
func TestCrashSafety(t *testing.T) {
	testdb.SQLiteOnly(t, "kills a server on a SQLite file; TestTwoServersKillAndRestart does it on PostgreSQL")
	bin := buildBinary(t)
	// At least 20 kills in CI; a quicker 5 on a developer's machine (and
	// none with -short, see buildBinary).
	rounds := 5
	if os.Getenv("CI") == "true" {
		rounds = 20
	}
	const workers = 16
	dbPath := filepath.Join(t.TempDir(), "crash.db")
	lf := seedLoadDB(t, dbPath)

	var seq atomic.Int64
	var sent sync.Map
	var all []acked
	var fails int64
	start := time.Now()
	for round := range rounds {
		p := startProc(t, bin, dbPath)
		tok := renderToken(t, p.base, lf.key)
		l := newLoader(p.base, tok, lf, &seq, &sent)
		l.start(workers)
		time.Sleep(time.Duration(10+rand.IntN(291)) * time.Millisecond)
		p.kill()
		got := l.halt()
		all = append(all, got...)
		fails += l.fails.Load()
		t.Logf("round %d: %d acknowledged before SIGKILL", round+1, len(got))
	}
	// One last start: the server must come up on what the kills left.
	p := startProc(t, bin, dbPath)
	renderToken(t, p.base, lf.key)
	p.stop(t)

	stored := checkDB(t, dbPath)
	requireStoredAsSent(t, stored, &sent, all)
	require.NotEmpty(t, all, "the load got some submissions through")
	out := verifyCmd(t, bin, dbPath)
	t.Logf("crash test: %d kills, %d sent, %d acknowledged, %d stored, %d unacknowledged but stored, %d posts cut off by the kills; %s (%v)",
		rounds, seq.Load(), len(all), len(stored), len(stored)-len(all), fails, out, time.Since(start).Round(time.Millisecond))
}
