package main

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary serve as a baseline when formbench
// re-executes itself (os.Executable is the test binary here).
func TestMain(m *testing.M) {
	if kind := os.Getenv(baselineEnv); kind != "" {
		if err := serveBaseline(kind, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs every part once with a tiny load, by the Go loop (CI may
// lack wrk), and checks that the table is complete. It never looks at the
// figures: a shared machine makes them meaningless as assertions.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bin, err := buildServer(ctx, t.TempDir())
	require.NoError(t, err)

	var stdout, stderr bytes.Buffer
	err = run(ctx, []string{"-duration", "300ms", "-repeat", "1", "-connections", "4", "-load", "go",
		"-log-entries", "2000", "-server-bin", bin}, &stdout, &stderr)
	require.NoError(t, err, "stderr: %s", stderr.String())
	got := stdout.String()
	t.Log("\n" + got)
	for _, want := range []string{
		"bare Fiber: same bytes", "ours: form page", "ours: form page (gzip)", "bare Fiber: embed.js bytes",
		"ours: embed.js", "bare Fiber+SQLite: 1 tx/request", "ours: submission",
		"form page", "embed.js", "durable submissions", "submission p99", "peak RSS",
		"1000 entries", "2000 entries", "consent+ip",
	} {
		assert.Contains(t, got, want)
	}
	// Every request got the answer it should: the errors column is zero.
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, "ours:") || strings.Contains(line, "bare Fiber") {
			f := strings.Fields(line)
			if len(f) > 0 && f[0] == "1" {
				assert.Equal(t, "0", f[len(f)-1], "errors in %q", line)
			}
		}
	}
}

// TestSmokePostgres runs the submission part with -db against the test
// server. On a server that does not commit durably (the test cluster of
// .ci/pg runs without fsync) formbench must refuse, naming the setting;
// on a durable one it measures the PostgreSQL targets.
func TestSmokePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs servers")
	}
	dsn := pgtest.ServerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bin, err := buildServer(ctx, t.TempDir())
	require.NoError(t, err)

	durable := true
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	for _, setting := range []string{"fsync", "synchronous_commit"} {
		var v string
		require.NoError(t, db.QueryRow("SHOW "+setting).Scan(&v))
		durable = durable && v == "on"
	}
	var stdout, stderr bytes.Buffer
	args := []string{"-only", "submit", "-duration", "300ms", "-repeat", "1", "-connections", "4", "-load", "go",
		"-server-bin", bin, "-db", dsn}
	err = run(ctx, args, &stdout, &stderr)
	if !durable {
		require.Error(t, err)
		assert.Contains(t, err.Error(), "commits are not durable")
		// The servers and the baseline still run on it, so what the
		// PostgreSQL targets need (e.g. a flag serve requires there) is
		// checked on every test cluster.
		stdout.Reset()
		stderr.Reset()
		err = run(ctx, append(args, "-allow-not-durable"), &stdout, &stderr)
		assert.Contains(t, stderr.String(), "may not be of durable submissions")
	}
	require.NoError(t, err, "stderr: %s", stderr.String())
	got := stdout.String()
	t.Log("\n" + got)
	for _, want := range []string{baselinePG, targetPG, targetPG2, "durable submissions, PostgreSQL",
		"two servers / one, PostgreSQL", "PostgreSQL: stored submissions/s", "PostgreSQL: submission p99"} {
		assert.Contains(t, got, want)
	}
	var left int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM pg_database WHERE datname LIKE 'formbench_%'").Scan(&left))
	assert.Zero(t, left, "the databases formbench made are dropped")
}

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:8080/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.07ms    1.11ms  25.43ms   89.06%
    Req/Sec    32.50k     2.56k   38.44k    71.50%
  Latency Distribution
     50%  730.00us
     75%    1.26ms
     90%    2.24ms
     99%    5.44ms
  646718 requests in 10.00s, 4.08GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  64664.56
Transfer/sec:    417.90MB
wrong 7
`
	r, err := parseWrk(out, 10*time.Second)
	require.NoError(t, err)
	assert.EqualValues(t, 646718, r.requests)
	assert.Equal(t, 10*time.Second, r.elapsed)
	assert.Equal(t, 730*time.Microsecond, r.p50)
	assert.Equal(t, 5440*time.Microsecond, r.p99)
	assert.EqualValues(t, 3+7, r.errors)
	assert.InDelta(t, 64671.8, r.rps(), 1)

	_, err = parseWrk("wrk: connection refused", time.Second)
	assert.Error(t, err)
}

func TestLuaString(t *testing.T) {
	assert.Equal(t, `"a\"b\\c\008é"`, strings.Replace(luaString([]byte("a\"b\\c\bé")), `\195\169`, "é", 1))
}
