package web_test

import (
	"os"
	"testing"

	"github.com/consentforms/consentforms/internal/testdb"
)

// TestMain runs the app's tests on every storage backend (internal/testdb):
// SQLite, then PostgreSQL.
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
