package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTwoServersStartTogether: two `serve` processes starting at once on a
// fresh PostgreSQL database migrate and seed it once: one first admin, one
// demo form, and both serve that form.
func TestTwoServersStartTogether(t *testing.T) {
	testdb.PostgresOnly(t, "several servers on one database")
	db := testdb.Empty(t)
	type started struct {
		demo   string
		seeded bool
	}
	servers := []*launched{launchServer(t, db), launchServer(t, db)}
	var got [2]started
	for i, l := range servers {
		_, demo, seeded := l.wait(t)
		got[i] = started{demo, seeded}
	}
	assert.NotEqual(t, got[0].seeded, got[1].seeded, "exactly one server seeded the database")
	for _, s := range got {
		resp, err := http.Get(s.demo)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	// Same demo form path on both (ports differ).
	assert.Equal(t, got[0].demo[strings.Index(got[0].demo, "/f/"):], got[1].demo[strings.Index(got[1].demo, "/f/"):])
	store, err := openDB(db)
	require.NoError(t, err)
	defer store.Close()
	n, err := store.CountUsers(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestBackupOnPostgresPointsToPgDump: backup does not pretend to copy a
// PostgreSQL database.
func TestBackupOnPostgresPointsToPgDump(t *testing.T) {
	testdb.PostgresOnly(t, "backup on PostgreSQL")
	db := testdb.Empty(t)
	var errb strings.Builder
	code := run(context.Background(), []string{"backup", "out.db", "--db", db}, io.Discard, &errb)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "pg_dump")
}
