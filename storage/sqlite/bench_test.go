package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// BenchmarkListRecords measures the first page of the consent log and a
// page filtered by consent and IP, at 1,000 and 1,000,000 entries. The 1M
// log takes a while to build and is skipped with -short; benchmarks never
// run in plain `go test`.
func BenchmarkListRecords(b *testing.B) {
	for _, size := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			if size > 1_000 && testing.Short() {
				b.Skip("the 1M-entry log is built only without -short")
			}
			db := newTestDB(b)
			s := storagetest.NewBenchSet(b, db, 10, 5)
			start := time.Now()
			bulkAppend(b, db, size, s.Record)
			b.Logf("filled %d entries in %v", size, time.Since(start).Round(time.Millisecond))
			ctx := context.Background()
			newest := s.Record(size - 1)
			filters := []struct {
				name string
				f    formbuilder.RecordFilter
			}{
				{"first_page", formbuilder.RecordFilter{}},
				{"consent+ip", formbuilder.RecordFilter{ConsentID: newest.ConsentID, IP: newest.IP}},
				{"consent", formbuilder.RecordFilter{ConsentID: newest.ConsentID}},
				{"form+since", formbuilder.RecordFilter{FormID: newest.FormID, Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}},
			}
			for _, flt := range filters {
				page, err := db.ListRecords(ctx, flt.f)
				require.NoError(b, err)
				require.NotEmpty(b, page)
				b.Run(flt.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := db.ListRecords(ctx, flt.f); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkCreateSubmissionParallel compares group commit (batches of up to
// 128) with one transaction, hence one fsync, per submission (batch=1).
func BenchmarkCreateSubmissionParallel(b *testing.B) {
	for _, size := range []int{128, 1} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db := newTestDB(b, WithBatchSize(size), WithClock(time.Now))
			storagetest.BenchCreateSubmissions(b, db, func() storagetest.WriterStats { return sqlcore.Stats(db.DB) })
		})
	}
}
