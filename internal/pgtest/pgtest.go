// Package pgtest gives tests a fresh PostgreSQL database each, copied from
// one migrated template per test binary. The server comes from
// CONSENTFORMS_TEST_POSTGRES, a postgres:// URL of a role that may create
// databases (.ci/pg starts a throw-away cluster and sets it). Without it
// the tests skip locally and fail under CI=true.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	// The pgx driver for database/sql ("pgx").
	_ "github.com/jackc/pgx/v5/stdlib"
)

// EnvDSN names the variable with the server's URL.
const EnvDSN = "CONSENTFORMS_TEST_POSTGRES"

var (
	tmplOnce sync.Once
	tmplName string
	tmplErr  error
	prefix   = "cf_" + randomName()
	seq      struct {
		sync.Mutex
		n int
	}
)

func randomName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ServerURL returns the server's URL, or skips t (fails it under CI=true)
// when none is set.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvDSN)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: PostgreSQL tests cannot run (.ci/pg starts a server)", EnvDSN)
		}
		t.Skipf("%s is not set; start a server with `eval \"$(.ci/pg start)\"` to run the PostgreSQL tests", EnvDSN)
	}
	return u
}

// WithDatabase returns base with its database replaced by name.
func WithDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", EnvDSN)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Fresh returns the URL of a new database for t, a copy of a template that
// migrate migrated once for the test binary; it is dropped when t ends.
func Fresh(t testing.TB, migrate func(ctx context.Context, url string) error) string {
	t.Helper()
	base := ServerURL(t)
	ctx := context.Background()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	tmplOnce.Do(func() { tmplName, tmplErr = makeTemplate(ctx, admin, base, migrate) })
	if tmplErr != nil {
		t.Fatalf("template database: %v", tmplErr)
	}
	// FILE_COPY copies the template's files (~150 ms); WAL_LOG, the
	// default, writes every page to the WAL and took ~420 ms.
	return create(t, admin, base, "t", " TEMPLATE "+tmplName+" STRATEGY FILE_COPY")
}

// create makes a database named after the binary's prefix, kind and a
// sequence number with the CREATE DATABASE options opts, dropped when t
// ends, and returns its URL.
func create(t testing.TB, admin *sql.DB, base, kind, opts string) string {
	t.Helper()
	seq.Lock()
	seq.n++
	name := fmt.Sprintf("%s_%s%d", prefix, kind, seq.n)
	seq.Unlock()
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name+opts); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { Drop(base, name) })
	u, err := WithDatabase(base, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func makeTemplate(ctx context.Context, admin *sql.DB, base string, migrate func(context.Context, string) error) (string, error) {
	name := prefix + "_tmpl"
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, err := WithDatabase(base, name)
	if err != nil {
		return "", err
	}
	if err := migrate(ctx, u); err != nil {
		Drop(base, name)
		return "", err
	}
	return name, nil
}

// Drop removes database name, ending its connections.
func Drop(base, name string) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return
	}
	defer admin.Close()
	_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

// Main runs the tests of a package and drops its template afterwards;
// call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	DropTemplate()
	return code
}

// DropTemplate drops the test binary's template database, if it made one.
func DropTemplate() {
	if tmplName != "" {
		Drop(os.Getenv(EnvDSN), tmplName)
	}
}

// Owner opens a connection pool to the database at u as its owner (the
// role of the URL), for tests that look at or tamper with tables.
func Owner(t testing.TB, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Empty returns the URL of a new, empty database for t (no migrations),
// dropped when t ends.
func Empty(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	return create(t, admin, base, "e", "")
}
