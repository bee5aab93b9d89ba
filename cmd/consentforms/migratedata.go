package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/consentforms/consentforms/storage/postgres"
	"github.com/consentforms/consentforms/storage/sqlite"
)

// copyTables are the tables migrate-data copies, parents before children.
// consents.current_version_id points at consent_versions, which point back:
// consents are copied without it and get it after the versions.
// consent_records are copied in id order, so each row extends the chain
// and passes the insert guard without switching anything off.
var copyTables = []struct {
	name  string
	order string
	// autoincrement: SQLite may have handed out ids above the largest
	// left (rows deleted by retention); the sequence continues above them.
	autoincrement bool
}{
	{name: "users", order: "id"},
	{name: "api_tokens", order: "id"},
	{name: "audit_events", order: "id"},
	{name: "sessions", order: "created_at, id"},
	{name: "secrets", order: "name"},
	{name: "consents", order: "id"},
	{name: "consent_documents", order: "sha256"},
	{name: "consent_versions", order: "id"},
	{name: "forms", order: "id"},
	{name: "form_consents", order: "form_id, consent_id"},
	{name: "submissions", order: "id", autoincrement: true},
	{name: "channels", order: "id"},
	{name: "channel_operators", order: "channel_id, user_id"},
	{name: "consent_records", order: "id"},
	{name: "anchors", order: "seq"},
	{name: "conversations", order: "id"},
	{name: "chat_messages", order: "id"},
	{name: "outbox", order: "id", autoincrement: true},
	{name: "delivery_attempts", order: "id"},
}

func cmdMigrateData(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("migrate-data")
	from := fs.String("from", "", "SQLite database file to copy")
	to := fs.String("to", "", "postgres:// URL of the empty database to copy into")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || !postgres.IsURL(*to) {
		return usageError("usage: consentforms migrate-data --from FILE --to postgres://…")
	}
	res, err := migrateData(ctx, *from, *to)
	if err != nil {
		return err
	}
	for _, t := range copyTables {
		fmt.Fprintf(stdout, "  %-18s %d rows\n", t.name, res.rows[t.name])
	}
	fmt.Fprintf(stdout, "copied %s to %s; consent log verified on the target: %d entries, hash chain intact, last hash %s\n",
		*from, redactDSN(*to), res.checked, res.lastHash)
	return nil
}

type migrateResult struct {
	rows     map[string]int64
	checked  int64
	lastHash string
}

// migrateData copies every row of the SQLite file from into the empty
// PostgreSQL database to, byte for byte (ids, text times, hashes), in one
// transaction; sets the id sequences after the copied ids; and verifies
// the consent log's chain on the target. Nothing is reported as done
// unless the target's chain verifies with as many entries as the source's.
func migrateData(ctx context.Context, from, to string) (*migrateResult, error) {
	// Open applies pending migrations to both and checks the source chain.
	src, err := sqlite.Open(from)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", from, err)
	}
	srcVerify, err := src.Verify(ctx)
	src.Close()
	if err != nil {
		return nil, err
	}
	if !srcVerify.OK() {
		return nil, fmt.Errorf("the consent log of %s is broken at entry %d (%s): not copying it", from, srcVerify.BrokenID, srcVerify.Reason)
	}
	dst, err := postgres.Open(to)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redactDSN(to), err)
	}
	dst.Close()

	// Plain connections: the copy reads and writes whole rows.
	s, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: from}).EscapedPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	d, err := sql.Open("pgx", to)
	if err != nil {
		return nil, err
	}
	defer d.Close()

	res := &migrateResult{rows: map[string]int64{}}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, t := range copyTables {
		var n int64
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.name).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("the target database is not empty (%s has %d rows): migrate-data copies into a fresh database only", t.name, n)
		}
	}
	for _, t := range copyTables {
		n, err := copyTable(ctx, s, tx, t.name, t.order)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t.name, err)
		}
		res.rows[t.name] = n
	}
	if err := copyCurrentVersions(ctx, s, tx); err != nil {
		return nil, err
	}
	if err := copySettings(ctx, s, tx); err != nil {
		return nil, err
	}
	if err := setSequences(ctx, s, tx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}

	dst, err = postgres.Open(to)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	v, err := dst.Verify(ctx)
	if err != nil {
		return nil, err
	}
	if !v.OK() || v.Checked != srcVerify.Checked {
		return nil, fmt.Errorf("the copied consent log does not verify (%d of %d entries checked, broken at %d: %s)",
			v.Checked, srcVerify.Checked, v.BrokenID, v.Reason)
	}
	res.checked = v.Checked
	if v.Checked > 0 {
		r, err := dst.FindRecord(ctx, v.Checked)
		if err != nil {
			return nil, err
		}
		res.lastHash = r.Hash
	}
	return res, nil
}

// columnTypes returns the target table's columns and their data types.
func columnTypes(ctx context.Context, tx *sql.Tx, table string) ([]string, map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var cols []string
	types := map[string]string{}
	for rows.Next() {
		var c, ty string
		if err := rows.Scan(&c, &ty); err != nil {
			return nil, nil, err
		}
		cols = append(cols, c)
		types[c] = ty
	}
	return cols, types, rows.Err()
}

// copyTable copies every row of table, many rows per INSERT.
func copyTable(ctx context.Context, s *sql.DB, tx *sql.Tx, table, order string) (int64, error) {
	cols, types, err := columnTypes(ctx, tx, table)
	if err != nil {
		return 0, err
	}
	if len(cols) == 0 {
		return 0, fmt.Errorf("no table %s in the target", table)
	}
	quoted := make([]string, len(cols))
	srcCols := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + c + `"`
		srcCols[i] = quoted[i]
		if table == "consents" && c == "current_version_id" {
			// Set after the versions exist.
			srcCols[i] = "NULL"
		}
	}
	rows, err := s.QueryContext(ctx, "SELECT "+strings.Join(srcCols, ", ")+" FROM "+table+" ORDER BY "+order)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	// PostgreSQL takes at most 65,535 parameters per statement; rows with
	// large values (documents of up to 10 MiB) go in statements of at most
	// about perStmtBytes.
	perStmt := max(1, 60000/len(cols))
	const perStmtBytes = 16 << 20
	var n int64
	var args []any
	size := 0
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		k := len(args) / len(cols)
		var q strings.Builder
		q.WriteString("INSERT INTO " + table + " (" + strings.Join(quoted, ", ") + ") OVERRIDING SYSTEM VALUE VALUES ")
		for r := 0; r < k; r++ {
			if r > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for c := range cols {
				if c > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "$%d", r*len(cols)+c+1)
			}
			q.WriteByte(')')
		}
		_, err := tx.ExecContext(ctx, q.String(), args...)
		args, size = args[:0], 0
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, c := range cols {
			v, err := convert(vals[i], types[c])
			if err != nil {
				return n, fmt.Errorf("column %s: %w", c, err)
			}
			args = append(args, v)
			if b, ok := v.([]byte); ok {
				size += len(b)
			}
		}
		n++
		if len(args)/len(cols) >= perStmt || size >= perStmtBytes {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// convert turns a SQLite value into what the PostgreSQL column takes:
// SQLite keeps booleans as 0 and 1, and text may come as bytes.
func convert(v any, pgType string) (any, error) {
	switch pgType {
	case "boolean":
		switch b := v.(type) {
		case int64:
			return b != 0, nil
		case bool:
			return b, nil
		case nil:
			return nil, nil
		}
		return nil, fmt.Errorf("not a boolean: %v", v)
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
	}
	return v, nil
}

// copyCurrentVersions sets each consent's current version.
func copyCurrentVersions(ctx context.Context, s *sql.DB, tx *sql.Tx) error {
	rows, err := s.QueryContext(ctx, "SELECT id, current_version_id FROM consents WHERE current_version_id IS NOT NULL")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE consents SET current_version_id = $1 WHERE id = $2", v, id); err != nil {
			return err
		}
	}
	return rows.Err()
}

// copySettings replaces the target's default settings row.
func copySettings(ctx context.Context, s *sql.DB, tx *sql.Tx) error {
	var data, updated string
	err := s.QueryRowContext(ctx, "SELECT data, updated_at FROM settings WHERE id = 1").Scan(&data, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE settings SET data = $1, updated_at = $2 WHERE id = 1", data, updated)
	return err
}

// setSequences continues every identity after the copied ids, and for
// AUTOINCREMENT tables after the highest id SQLite ever handed out: ids
// are never reused (the log names submissions by id, receivers dedupe
// deliveries on outbox ids).
func setSequences(ctx context.Context, s *sql.DB, tx *sql.Tx) error {
	for _, t := range copyTables {
		if t.order != "id" {
			continue // no id column
		}
		var seq sql.NullString
		if err := tx.QueryRowContext(ctx, "SELECT pg_get_serial_sequence($1, 'id')", t.name).Scan(&seq); err != nil {
			return err
		}
		if !seq.Valid {
			continue // no identity column (consent_records, sessions, …)
		}
		var last int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM "+t.name).Scan(&last); err != nil {
			return err
		}
		if t.autoincrement {
			var handed sql.NullInt64
			err := s.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = ?", t.name).Scan(&handed)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			last = max(last, handed.Int64)
		}
		if _, err := tx.ExecContext(ctx, "SELECT setval($1::regclass, $2, $3)", seq.String, max(last, 1), last > 0); err != nil {
			return err
		}
	}
	return nil
}
