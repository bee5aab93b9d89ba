package sqlite

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// BenchmarkLogPages measures what the consent log pages and exports cost at
// 1,000 and at 1,000,000 entries: the first page, filtered pages, a page
// deep in the log, the "withdrawn later" lookup of a page, and a full export
// in both formats (rows per second and peak heap).
//
// Benchmarks never run in plain `go test`; the 1M-entry log (a few minutes
// to build) runs only with CF_BENCH_1M=1:
//
//	CF_BENCH_1M=1 go test ./storage -run '^$' -bench BenchmarkLogPages -benchtime 2s
//
// With CF_BENCH_DB_OUT=FILE the 1M log is also copied to FILE (Backup),
// for the HTTP benchmark in web (CF_BENCH_DB=FILE) and for later runs of
// this one: CF_BENCH_DB_IN=FILE measures a copy of FILE instead of filling
// a new log (the fill takes most of the time).
func BenchmarkLogPages(b *testing.B) {
	for _, size := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			if size > 1_000 && os.Getenv("CF_BENCH_1M") == "" {
				b.Skip("set CF_BENCH_1M=1 to build and measure the 1M-entry log")
			}
			ctx := context.Background()
			var db *DB
			var s *storagetest.BenchSet
			if in := os.Getenv("CF_BENCH_DB_IN"); in != "" && size > 1_000 {
				db, s = openBenchLog(b, in, size)
			} else {
				db = newTestDB(b)
				s = storagetest.NewBenchSet(b, db, 10, 5)
				start := time.Now()
				bulkAppend(b, db, size, s.Record)
				b.Logf("filled %d entries in %v", size, time.Since(start).Round(time.Millisecond))
				if out := os.Getenv("CF_BENCH_DB_OUT"); out != "" && size > 1_000 {
					_ = os.Remove(out)
					require.NoError(b, db.Backup(ctx, out))
				}
			}

			newest := s.Record(size - 1)
			mid := s.Record(size / 2)
			all, err := db.ListRecords(ctx, formbuilder.RecordFilter{Limit: 1})
			require.NoError(b, err)
			last := all[0]
			// Half-way through the log's time span.
			first, err := db.FindRecord(ctx, 1)
			require.NoError(b, err)
			half := first.Time.Add(last.Time.Sub(first.Time) / 2)

			pages := []struct {
				name string
				f    formbuilder.RecordFilter
			}{
				{"first_page", formbuilder.RecordFilter{}},
				{"deep_page", formbuilder.RecordFilter{BeforeID: int64(size / 2)}},
				{"consent", formbuilder.RecordFilter{ConsentID: newest.ConsentID}},
				{"form", formbuilder.RecordFilter{FormID: newest.FormID}},
				{"ip", formbuilder.RecordFilter{IP: mid.IP}},
				{"consent+ip", formbuilder.RecordFilter{ConsentID: mid.ConsentID, IP: mid.IP}},
				{"form+since", formbuilder.RecordFilter{FormID: newest.FormID, Since: half}},
				{"since+until", formbuilder.RecordFilter{Since: half, Until: half.Add(time.Hour)}},
				{"consent+until_deep", formbuilder.RecordFilter{ConsentID: newest.ConsentID, Until: half}},
				// A word in every page URL: matches at once.
				{"q_common", formbuilder.RecordFilter{Query: "shop.example"}},
				// One subject half-way back: a scan down to it.
				{"q_one_subject", formbuilder.RecordFilter{Query: mid.Subject}},
			}
			for _, p := range pages {
				t0 := time.Now()
				page, err := db.ListRecords(ctx, p.f)
				if formbuilder.ErrorCode(err) == formbuilder.EINVALID && p.f.Query != "" {
					// The free-text search gave up (WithSearchTimeout): that
					// is the designed answer on a big log, so report it.
					b.Logf("%s: search timed out after %v: %v", p.name, time.Since(t0).Round(time.Millisecond), err)
					continue
				}
				require.NoError(b, err, p.name)
				require.NotEmpty(b, page, p.name)
				b.Run(p.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := db.ListRecords(ctx, p.f); err != nil {
							b.Fatal(err)
						}
					}
				})
			}

			b.Run("withdrawn_of_a_page", func(b *testing.B) {
				page, err := db.ListRecords(ctx, formbuilder.RecordFilter{})
				require.NoError(b, err)
				ids := make([]int64, len(page))
				for i, r := range page {
					ids[i] = r.ID
				}
				for b.Loop() {
					if _, err := db.Withdrawn(ctx, ids); err != nil {
						b.Fatal(err)
					}
				}
			})

			for _, format := range []string{formbuilder.FormatCSV, formbuilder.FormatNDJSON} {
				b.Run("export_"+format, func(b *testing.B) {
					var rows int64
					var peak uint64
					var before, after runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					stop := sampleHeap(&peak)
					b.ResetTimer()
					for b.Loop() {
						n, err := formbuilder.Export(ctx, db, formbuilder.RecordFilter{}, format, "", io.Discard, nil)
						if err != nil {
							b.Fatal(err)
						}
						rows += n
					}
					b.StopTimer()
					stop()
					runtime.ReadMemStats(&after)
					require.EqualValues(b, int64(size)*int64(b.N), rows)
					b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
					b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
					b.ReportMetric(float64(before.HeapInuse)/(1<<20), "heap-before-MiB")
					b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(rows), "alloc-B/row")
				})
			}
		})
	}
}

// openBenchLog opens a copy of a log written by an earlier run (with
// CF_BENCH_DB_OUT) and rebuilds its benchSet from the stored consents and
// forms, which newBenchSet created in id order.
func openBenchLog(b *testing.B, path string, size int) (*DB, *storagetest.BenchSet) {
	ctx := context.Background()
	cp := filepath.Join(b.TempDir(), "log.db")
	src, err := Open(path)
	require.NoError(b, err)
	require.NoError(b, src.Backup(ctx, cp))
	require.NoError(b, src.Close())
	db, err := Open(cp)
	require.NoError(b, err)
	b.Cleanup(func() { db.Close() })
	s := &storagetest.BenchSet{}
	cs, err := db.ListConsents(ctx)
	require.NoError(b, err)
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	s.Consents = cs
	fs, err := db.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true})
	require.NoError(b, err)
	sort.Slice(fs, func(i, j int) bool { return fs[i].ID < fs[j].ID })
	s.Forms = fs
	var n int
	require.NoError(b, db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM consent_records").Scan(&n))
	require.Equal(b, size, n, "the log in %s has another size", path)
	return db, s
}

// sampleHeap records the largest HeapInuse seen every 5 ms until stop is
// called: the peak memory of an export, which should not depend on the
// number of rows.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > *peak {
				*peak = m.HeapInuse
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
