package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
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
			f := newFixture(b, db)
			ctx := context.Background()
			var n atomic.Int64
			submit := func() error {
				i := n.Add(1)
				sub, recs, err := formbuilder.ValidateSubmission(f.FormA, formbuilder.SubmissionInput{
					Values: map[string][]string{"email": {fmt.Sprintf("v%d@example.com", i)}},
					Consents: map[int64]formbuilder.ConsentInput{
						f.C1.ID: {Checked: true, Initial: true}, f.C2.ID: {Checked: true, Initial: true}},
					IP: "192.0.2.1",
				})
				if err != nil {
					return err
				}
				return db.CreateSubmission(ctx, sub, recs)
			}
			// The first writes to a new file are slower: warm up.
			for i := 0; i < 50; i++ {
				require.NoError(b, submit())
			}
			st := db.WriterStats()
			batches, jobs := st.Batches, st.Jobs
			b.SetParallelism(32) // 32 x GOMAXPROCS concurrent visitors
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := submit(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "subs/s")
			if st := db.WriterStats(); st.Batches > batches {
				b.ReportMetric(float64(st.Jobs-jobs)/float64(st.Batches-batches), "subs/batch")
			}
		})
	}
}
