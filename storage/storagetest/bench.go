package storagetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// BenchCreateSubmissions measures durable submissions per second into db
// from 32 × GOMAXPROCS concurrent visitors, each a submission with two
// consent entries, and reports subs/s and the writer's subs/batch. The
// backends' benchmarks call it with their own group-commit settings.
func BenchCreateSubmissions(b *testing.B, db Store, stats func() WriterStats) {
	f := NewFixture(b, db)
	ctx := context.Background()
	var n atomic.Int64
	submit := func() error {
		i := n.Add(1)
		sub, recs, err := formbuilder.ValidateSubmission(f.FormA, formbuilder.SubmissionInput{
			Values: map[string][]string{"email": {fmt.Sprintf("v%d@example.com", i)}},
			Consents: map[int64]formbuilder.ConsentInput{
				f.C1.ID: {Checked: true}, f.C2.ID: {Checked: true}},
			IP: "192.0.2.1",
		})
		if err != nil {
			return err
		}
		return db.CreateSubmission(ctx, sub, recs)
	}
	// The first writes to a new database are slower: warm up.
	for i := 0; i < 50; i++ {
		require.NoError(b, submit())
	}
	st := stats()
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
	if st := stats(); st.Batches > batches {
		b.ReportMetric(float64(st.Jobs-jobs)/float64(st.Batches-batches), "subs/batch")
	}
}
