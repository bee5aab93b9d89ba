package main

import (
	"os"
	"testing"

	"github.com/consentforms/consentforms/internal/testdb"
)

// TestMain runs the commands' tests on every storage backend
// (internal/testdb): SQLite, then PostgreSQL. Tests of one engine's
// features say so (testdb.SQLiteOnly, testdb.PostgresOnly).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
