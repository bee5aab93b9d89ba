package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineWriter collects the server's stdout and hands out lines as they come.
type lineWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	lines chan string
	part  string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 100)} }

// String returns everything written so far; the server may still be
// writing, hence the lock.
func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.part += string(p)
	for {
		i := strings.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		select {
		case w.lines <- w.part[:i]:
		default:
		}
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

// startServer runs the real `serve` command on port 0 with a fresh, empty
// database of the backend under test and returns its base URL, the demo
// form URL and the database (a path or a URL).
func startServer(t *testing.T, extra ...string) (base, demo, dbPath string) {
	t.Helper()
	dbPath = testdb.Empty(t)
	base, demo, _ = startServerOn(t, dbPath, extra...)
	return base, demo, dbPath
}

// startServerOn runs `serve` on the database db (a file or a URL) and
// returns its base URL, the demo form URL and whether it printed the first
// admin's password (it seeded the database).
func startServerOn(t *testing.T, dbPath string, extra ...string) (base, demo string, seeded bool) {
	t.Helper()
	return launchServer(t, dbPath, extra...).wait(t)
}

// launched is a `serve` running in the test process.
type launched struct {
	out  *lineWriter
	done chan int
}

// testKeyFiles are the signing key files of the PostgreSQL databases of
// the tests, by URL: every server of one database signs with one key.
var testKeyFiles sync.Map

// keyFileFor returns the signing key file of database dbPath: beside a
// SQLite file (the default), one per URL for PostgreSQL.
func keyFileFor(t *testing.T, dbPath string) string {
	if !strings.Contains(dbPath, "://") {
		return dbPath + signingKeySuffix
	}
	f, _ := testKeyFiles.LoadOrStore(dbPath, filepath.Join(t.TempDir(), "signing-key"))
	return f.(string)
}

// launchServer starts `serve` on dbPath; wait for it with wait.
func launchServer(t *testing.T, dbPath string, extra ...string) *launched {
	ctx, cancel := context.WithCancel(context.Background())
	l := &launched{out: newLineWriter(), done: make(chan int, 1)}
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", dbPath, "--min-fill-time", "0", "--log-level", "warn",
		"--signing-key", keyFileFor(t, dbPath)}, extra...)
	go func() { l.done <- run(ctx, args, l.out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
	})
	return l
}

// wait reads the server's start-up lines until the demo form's.
func (l *launched) wait(t *testing.T) (base, demo string, seeded bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for demo == "" {
		select {
		case line := <-l.out.lines:
			if strings.HasPrefix(line, "consentforms is serving on ") {
				base = strings.TrimPrefix(line, "consentforms is serving on ")
			}
			if strings.HasPrefix(strings.TrimSpace(line), "demo form:") {
				demo = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "demo form:"))
			}
		case code := <-l.done:
			t.Fatalf("server exited with %d: %s", code, l.out.String())
		case <-deadline:
			t.Fatalf("server did not start: %s", l.out.String())
		}
	}
	return base, demo, strings.Contains(l.out.String(), "password:")
}

var tokenRE = regexp.MustCompile(`name="_token" value="([^"]+)"`)
var consentRE = regexp.MustCompile(`name="consent_(\d+)"`)

func TestServeEndToEnd(t *testing.T) {
	dbPath := testdb.Empty(t)
	base, demo, seeded := startServerOn(t, dbPath)
	require.True(t, seeded, "a fresh database gets the first admin")

	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	resp, err = http.Get(demo)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	m := tokenRE.FindSubmatch(page)
	require.NotNil(t, m, "form page carries a render token")
	c := consentRE.FindSubmatch(page)
	require.NotNil(t, c, "form page has a consent box")
	token, consentID := string(m[1]), string(c[1])

	values := url.Values{
		"_token":  {token},
		"name":    {"Erika Mustermann"},
		"email":   {"erika@example.com"},
		"message": {"Hallo"},
	}
	// Without the required consent: 422 as JSON, nothing stored.
	req, _ := http.NewRequest("POST", demo, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var bad struct {
		Error struct {
			Code   string            `json:"code"`
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&bad))
	resp.Body.Close()
	require.Equal(t, 422, resp.StatusCode)
	require.Equal(t, "invalid", bad.Error.Code)
	require.Contains(t, bad.Error.Fields, "consent."+consentID)

	// The same without asking for JSON: the form again, with the error.
	resp, err = http.PostForm(demo, values)
	require.NoError(t, err)
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 422, resp.StatusCode)
	require.Contains(t, string(html), "Erika Mustermann", "values are kept")

	// With the consent: stored.
	values.Set("consent_"+consentID, "1")
	values.Set("consent_"+consentID+"_initial", "1")
	req, _ = http.NewRequest("POST", demo, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	var ok struct {
		ID            int64 `json:"id"`
		WithdrawLinks []struct {
			URL string `json:"url"`
		} `json:"withdraw_links"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ok))
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	require.NotZero(t, ok.ID)
	require.Len(t, ok.WithdrawLinks, 1)

	// Read back through a second connection to the same database.
	db, err := openDB(dbPath)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	sub, err := db.FindSubmission(ctx, ok.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"erika@example.com"}, sub.Values["email"])
	recs, err := db.ListRecords(ctx, formbuilder.RecordFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1, "exactly one consent record: the rejected posts stored nothing")
	require.Equal(t, ok.ID, recs[0].SubmissionID)
	require.Equal(t, "erika@example.com", recs[0].Subject)
	require.True(t, recs[0].InitialState)
	res, err := db.Verify(ctx)
	require.NoError(t, err)
	require.True(t, res.OK())
}

func TestCommandsUsage(t *testing.T) {
	var out strings.Builder
	require.Equal(t, 0, run(context.Background(), []string{"help"}, &out, io.Discard))
	require.Contains(t, out.String(), "consents verify")
	require.Equal(t, 2, run(context.Background(), []string{"nope"}, io.Discard, io.Discard))
}

// Every way of asking for help lists the commands first, then the flags
// of serve, the command that runs when none is named.
func TestHelpListsCommandsFirst(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help", "help"} {
		t.Run(arg, func(t *testing.T) {
			var out, errOut strings.Builder
			require.Equal(t, 0, run(context.Background(), []string{arg}, &out, &errOut))
			s := out.String()
			require.True(t, strings.HasPrefix(s, usage), "the commands come first:\n%s", s)
			for _, c := range []string{"[serve]", "migrate", "admin add", "admin passwd", "token create",
				"consents verify", "consents export", "backup"} {
				assert.Contains(t, s[:len(usage)], "consentforms "+c)
			}
			flags := strings.Index(s, "Flags of consentforms serve:\n")
			require.Greater(t, flags, 0, "then the flags of serve")
			assert.Contains(t, s[flags:], "-addr string")
			assert.Contains(t, s[flags:], "-webhook-allow-private")
			assert.Empty(t, errOut.String())
		})
	}
}

func TestAdminAndVerifyCommands(t *testing.T) {
	dbPath := testdb.Empty(t)
	ctx := context.Background()
	var out strings.Builder
	require.Equal(t, 0, run(ctx, []string{"migrate", "--db", dbPath}, &out, io.Discard))
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"admin", "add", "ops@example.com", "--db", dbPath}, &out, io.Discard))
	require.Contains(t, out.String(), "password: ")
	require.Equal(t, 1, run(ctx, []string{"admin", "add", "ops@example.com", "--db", dbPath}, io.Discard, io.Discard),
		"a second admin with the same e-mail is refused")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"admin", "passwd", "ops@example.com", "--db", dbPath}, &out, io.Discard))
	require.Contains(t, out.String(), "new password for ops@example.com")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"consents", "verify", "--db", dbPath}, &out, io.Discard))
	require.Contains(t, out.String(), "consent log ok")
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"token", "create", "ci", "--db", dbPath}, &out, io.Discard))
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	require.True(t, strings.HasPrefix(last, "cf_"))
}

// TestTuneGC checks that serve's collector defaults apply only where the
// operator set neither GOGC nor GOMEMLIMIT.
func TestTuneGC(t *testing.T) {
	percent0 := debug.SetGCPercent(100)
	limit0 := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(percent0); debug.SetMemoryLimit(limit0) })
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantPercent int
		wantLimit   int64
	}{
		{"unset", nil, defaultGCPercent, defaultMemoryLimit},
		{"GOGC set", map[string]string{"GOGC": "100"}, 100, defaultMemoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, defaultGCPercent, math.MaxInt64},
		{"both set", map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}, 100, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			tuneGC(func(k string) string { return tc.env[k] })
			assert.Equal(t, tc.wantPercent, debug.SetGCPercent(100))
			assert.Equal(t, tc.wantLimit, debug.SetMemoryLimit(-1))
		})
	}
}
