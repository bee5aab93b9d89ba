package sqlite

// SQLite-only: the query plans of the consent log's pages.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// queryPlan returns SQLite's EXPLAIN QUERY PLAN for the ListRecords query.
func queryPlan(t *testing.T, db *DB, f formbuilder.RecordFilter) string {
	t.Helper()
	q, args, err := sqlcore.ListQuery(db.DB, f)
	require.NoError(t, err)
	rows, err := db.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		out = append(out, detail)
	}
	require.NoError(t, rows.Err())
	return strings.Join(out, "; ")
}

// TestListRecordsQueryPlans pins the plans that keep a page cheap at any
// log size: the filter's (column, id) index walked in id order, stopping
// after one page, never a sort of all matching entries.
func TestListRecordsQueryPlans(t *testing.T) {
	db := newTestDB(t)
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		f     formbuilder.RecordFilter
		index string
	}{
		{formbuilder.RecordFilter{}, "SCAN consent_records"},
		{formbuilder.RecordFilter{BeforeID: 100}, "INTEGER PRIMARY KEY"},
		{formbuilder.RecordFilter{ConsentID: 1, BeforeID: 100}, "consent_records_consent"},
		{formbuilder.RecordFilter{FormID: 1}, "consent_records_form"},
		{formbuilder.RecordFilter{ChannelID: 1}, "consent_records_channel"},
		{formbuilder.RecordFilter{IP: "192.0.2.1"}, "consent_records_ip"},
		{formbuilder.RecordFilter{ConsentID: 1, IP: "192.0.2.1", BeforeID: 100}, "consent_records_ip"},
		{formbuilder.RecordFilter{ConsentID: 1, FormID: 2}, "consent_records_form"},
		{formbuilder.RecordFilter{ConsentID: 1, Since: day, Until: day.Add(24 * time.Hour)}, "consent_records_consent"},
		{formbuilder.RecordFilter{FormID: 1, Query: "x"}, "consent_records_form"},
		{formbuilder.RecordFilter{Since: day}, ""},
		{formbuilder.RecordFilter{Since: day, Until: day.Add(24 * time.Hour)}, ""},
		{formbuilder.RecordFilter{Query: "x"}, ""},
	}
	check := func(state string) {
		for _, c := range cases {
			plan := queryPlan(t, db, c.f)
			assert.Contains(t, plan, c.index, "%s %+v", state, c.f)
			if c.index != "" {
				assert.NotContains(t, plan, "TEMP B-TREE", "%s %+v", state, c.f)
			}
		}
	}
	check("empty")
	// With statistics (PRAGMA optimize at Close may gather them) the
	// planner knows more, but the pinned choices must stay.
	s := storagetest.NewBenchSet(t, db, 10, 5)
	bulkAppend(t, db, 5000, s.Record)
	_, err := db.w.Exec("ANALYZE")
	require.NoError(t, err)
	check("analyzed")
}
