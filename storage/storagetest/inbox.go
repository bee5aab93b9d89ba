package storagetest

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// submitValues stores a submission of form with the given values through
// the writer, with every consent ticked.
func (f *fixture) submitValues(t testing.TB, form *formbuilder.Form, vals map[string][]string) *formbuilder.Submission {
	t.Helper()
	in := formbuilder.SubmissionInput{Values: vals, Consents: map[int64]formbuilder.ConsentInput{},
		PageURL: "https://shop.example.com/contact", IP: "192.0.2.7", UserAgent: "test-agent"}
	for _, fc := range form.Consents {
		in.Consents[fc.ConsentID] = formbuilder.ConsentInput{Checked: true}
	}
	sub, recs, err := formbuilder.ValidateSubmission(form, in)
	require.NoError(t, err)
	require.NoError(t, f.db.CreateSubmission(f.ctx, sub, recs))
	return sub
}

func ids(subs []*formbuilder.Submission) []int64 {
	out := make([]int64, len(subs))
	for i, s := range subs {
		out[i] = s.ID
	}
	return out
}

func testListSubmissionsPagesAndSearch(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	var all []int64
	for i := 0; i < 7; i++ {
		msg := fmt.Sprintf("message %d", i)
		if i == 3 {
			msg = `Ünïcode <b>"quoted"</b> 50% off_sale`
		}
		s := fx.submitValues(t, fx.FormA, map[string][]string{"email": {fmt.Sprintf("v%d@example.com", i)}, "message": {msg}})
		all = append(all, s.ID)
		fx.Submit(t, fx.FormB, "192.0.2.1") // another form's submissions interleave
	}
	rev := func(xs []int64) []int64 {
		out := make([]int64, len(xs))
		for i := range xs {
			out[len(xs)-1-i] = xs[i]
		}
		return out
	}
	newestFirst := rev(all)

	page, err := db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, Limit: 3})
	require.NoError(t, err)
	assert.Equal(t, newestFirst[:3], ids(page))
	page, err = db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, Limit: 3, BeforeID: page[2].ID})
	require.NoError(t, err)
	assert.Equal(t, newestFirst[3:6], ids(page))
	page, err = db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, Limit: 3, BeforeID: page[2].ID})
	require.NoError(t, err)
	assert.Equal(t, newestFirst[6:], ids(page))
	// The newer direction: the page just above an id, still newest first.
	page, err = db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, Limit: 3, AfterID: all[1]})
	require.NoError(t, err)
	assert.Equal(t, []int64{all[4], all[3], all[2]}, ids(page))

	first := page[2]
	assert.Equal(t, fx.FormA.ID, first.FormID)
	assert.Equal(t, "https://shop.example.com/contact", first.PageURL)
	assert.Equal(t, "192.0.2.7", first.IP)
	assert.Equal(t, "test-agent", first.UserAgent)
	assert.False(t, first.CreatedAt.IsZero())

	search := func(q string) []int64 {
		t.Helper()
		got, err := db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, Query: q})
		require.NoError(t, err)
		return ids(got)
	}
	assert.Equal(t, []int64{all[5]}, search("v5@example"), "subject")
	assert.Equal(t, []int64{all[2]}, search("MESSAGE 2"), "values, ASCII case-insensitive")
	assert.Equal(t, []int64{all[3]}, search(`<b>"quoted"`), "characters JSON escapes")
	assert.Equal(t, []int64{all[3]}, search("Ünïcode"))
	assert.Equal(t, []int64{all[3]}, search("50%"), "% is literal")
	assert.Equal(t, []int64{all[3]}, search("off_s"), "_ is literal")
	assert.Empty(t, search("email"), "field keys are not searched")
	assert.Empty(t, search("nothing like this"))

	_, err = db.ListSubmissions(ctx, formbuilder.SubmissionFilter{})
	requireCode(t, formbuilder.EINVALID, err)
	_, err = db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, Query: string(bytes.Repeat([]byte("x"), 201))})
	requireCode(t, formbuilder.EINVALID, err)
}

func testExportSubmissionsBatchesAndRecords(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	// More than one export batch, inserted in one transaction for speed.
	n := exportBatch*2 + 17
	bulkSubmissions(t, e, fx.FormA.ID, fx.FormA.Key, n, time.Now().UTC())
	s := fx.submitValues(t, fx.FormA, map[string][]string{"email": {"last@example.com"}})

	var got []int64
	require.NoError(t, db.ExportSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID},
		func(s *formbuilder.Submission) error {
			got = append(got, s.ID)
			return nil
		}))
	require.Len(t, got, n+1)
	for i := 1; i < len(got); i++ {
		require.Less(t, got[i-1], got[i], "oldest first")
	}
	got = got[:0]
	require.NoError(t, db.ExportSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, AfterID: 10, Limit: 5},
		func(s *formbuilder.Submission) error {
			got = append(got, s.ID)
			return nil
		}))
	assert.Equal(t, []int64{11, 12, 13, 14, 15}, got)
	got = got[:0]
	require.NoError(t, db.ExportSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID, Query: "last@"},
		func(s *formbuilder.Submission) error {
			got = append(got, s.ID)
			return nil
		}))
	assert.Equal(t, []int64{s.ID}, got)
	stop := fmt.Errorf("stop")
	err := db.ExportSubmissions(ctx, formbuilder.SubmissionFilter{FormID: fx.FormA.ID}, func(*formbuilder.Submission) error { return stop })
	assert.ErrorIs(t, err, stop)

	recs, err := db.RecordsOfSubmission(ctx, s.ID)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		assert.Equal(t, s.ID, r.SubmissionID)
		assert.Equal(t, formbuilder.ActionGiven, r.Action)
	}
	none, err := db.RecordsOfSubmission(ctx, 1)
	require.NoError(t, err)
	assert.Empty(t, none, "bulk rows have no consent entries")
}

// testExport100kFlatMemory streams 100,000 submissions through the CSV
// export and samples the heap as it goes: memory must not grow with the
// number of rows. CONSENTFORMS_EXPORT_ROWS changes the count.
func testExport100kFlatMemory(t *testing.T, open Opener) {
	if testing.Short() {
		t.Skip("fills a database with 100,000 submissions")
	}
	rows := 100_000
	if s := os.Getenv("CONSENTFORMS_EXPORT_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		rows = n
	}
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	start := time.Now()
	bulkSubmissions(t, e, fx.FormA.ID, fx.FormA.Key, rows, time.Now().UTC())
	fill := time.Since(start)

	var at1k, peak uint64
	var samples int
	cw := &countingWriter{}
	start = time.Now()
	n, err := formbuilder.ExportSubmissions(context.Background(), db, formbuilder.SubmissionFilter{}, fx.FormA,
		formbuilder.FormatCSV, cw, func(done int64) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			samples++
			if at1k == 0 && done >= 1000 {
				at1k = ms.HeapInuse
			}
			peak = max(peak, ms.HeapInuse)
		})
	require.NoError(t, err)
	took := time.Since(start)
	require.Equal(t, int64(rows), n)
	t.Logf("export of %d submissions: %.1f MiB CSV in %v (fill %v); HeapInuse at 1k rows %.1f MiB, peak %.1f MiB over %d samples",
		rows, float64(cw.n)/(1<<20), took.Round(time.Millisecond), fill.Round(time.Millisecond),
		float64(at1k)/(1<<20), float64(peak)/(1<<20), samples)
	// Flat: the peak stays within a few batches of the heap at 1k rows,
	// while the file itself is tens of MiB.
	assert.Less(t, peak, at1k+24<<20, "heap grew with the number of rows")
	assert.Greater(t, cw.n, int64(rows)*100)
}

// countingWriter counts bytes and checks the CSV header once.
type countingWriter struct {
	n    int64
	head []byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if len(w.head) < 200 {
		w.head = append(w.head, p[:min(len(p), 200)]...)
	}
	w.n += int64(len(p))
	return len(p), nil
}

// The CSV export has one column per field, neutralised cells and a header
// even when empty.
func testSubmissionCSVExport(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	var buf bytes.Buffer
	n, err := formbuilder.ExportSubmissions(ctx, db, formbuilder.SubmissionFilter{}, fx.FormA, formbuilder.FormatCSV, &buf, nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, "id,time,subject,page_url,ip,email,message,other_values\n", buf.String())

	bulkSubmissions(t, e, fx.FormA.ID, fx.FormA.Key, 3, time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC))
	buf.Reset()
	_, err = formbuilder.ExportSubmissions(ctx, db, formbuilder.SubmissionFilter{}, fx.FormA, formbuilder.FormatCSV, &buf, nil)
	require.NoError(t, err)
	recs, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 4)
	assert.Equal(t, []string{"1", "2026-04-01T08:00:00Z", "visitor0@example.com", "https://shop.example.com/p?i=0",
		"198.51.100.7", "visitor0@example.com",
		"'=HYPERLINK(\"http://evil.example\") line one\nline two, with a comma and \"quotes\" 0", ""}, recs[1])

	buf.Reset()
	_, err = formbuilder.ExportSubmissions(ctx, db, formbuilder.SubmissionFilter{}, fx.FormA, formbuilder.FormatNDJSON, &buf, nil)
	require.NoError(t, err)
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 3)
	var s formbuilder.Submission
	require.NoError(t, json.Unmarshal(lines[2], &s))
	assert.Equal(t, int64(3), s.ID)
	assert.Contains(t, s.Values["message"][0], "=HYPERLINK", "NDJSON keeps values as they are")
	_, err = formbuilder.ExportSubmissions(ctx, db, formbuilder.SubmissionFilter{}, fx.FormA, "xml", io.Discard, nil)
	requireCode(t, formbuilder.EINVALID, err)
}

func init() {
	register("ListSubmissionsPagesAndSearch", testListSubmissionsPagesAndSearch)
	register("ExportSubmissionsBatchesAndRecords", testExportSubmissionsBatchesAndRecords)
	register("Export100kFlatMemory", testExport100kFlatMemory)
	register("SubmissionCSVExport", testSubmissionCSVExport)
}
