package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/internal/testdb"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A mistyped --db must not become a new, empty database that reports an
// intact log: every command but serve and migrate refuses a missing file,
// and leaves no file behind.
func TestCommandsRefuseAMissingDatabase(t *testing.T) {
	testdb.SQLiteOnly(t, "a database file that does not exist (a PostgreSQL server says so itself)")
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo.db")
	ctx := context.Background()
	for _, args := range [][]string{
		{"consents", "verify", "--db", missing},
		{"consents", "export", "--format", "csv", "--out", filepath.Join(dir, "out.csv"), "--db", missing},
		{"admin", "add", "ops@example.com", "--db", missing},
		{"admin", "passwd", "ops@example.com", "--db", missing},
		{"token", "create", "ci", "--db", missing},
		{"backup", "--db", missing, filepath.Join(dir, "copy.db")},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			var out, errOut strings.Builder
			assert.Equal(t, 1, run(ctx, args, &out, &errOut))
			assert.Empty(t, out.String())
			assert.Equal(t, "consentforms: no database file "+missing+": check --db (`consentforms migrate --db "+missing+
				"` creates a new one)\n", errOut.String())
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing was created")
		})
	}

	// migrate creates the database; then the same commands work.
	var out strings.Builder
	require.Equal(t, 0, run(ctx, []string{"migrate", "--db", missing}, &out, io.Discard))
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"consents", "verify", "--db", missing}, &out, io.Discard))
	assert.Equal(t, "consent log ok: 0 entries, hash chain intact\n", out.String())
	require.Equal(t, 0, run(ctx, []string{"admin", "add", "ops@example.com", "--db", missing}, io.Discard, io.Discard))
}
