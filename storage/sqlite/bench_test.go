package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// benchSet is a set of consents and forms to generate many log entries for.
type benchSet struct {
	consents []*formbuilder.Consent
	forms    []*formbuilder.Form
}

func newBenchSet(t testing.TB, db *DB, nConsents, nForms int) *benchSet {
	t.Helper()
	ctx := context.Background()
	s := &benchSet{}
	for i := 0; i < nConsents; i++ {
		c := &formbuilder.Consent{Name: fmt.Sprintf("Consent %d", i), Type: formbuilder.ConsentCustom}
		require.NoError(t, db.CreateConsent(ctx, c, content(fmt.Sprintf("text %d", i)), "bench"))
		s.consents = append(s.consents, c)
	}
	for i := 0; i < nForms; i++ {
		f := newForm(fmt.Sprintf("Form %d", i), 0, s.consents[0].ID)
		require.NoError(t, db.CreateForm(ctx, f))
		s.forms = append(s.forms, f)
	}
	return s
}

// benchIPs is the number of distinct visitor addresses in generated logs.
const benchIPs = 1000

// record generates entry i: consents round-robin, forms in runs, visitor
// addresses scattered over benchIPs.
func (s *benchSet) record(i int) *formbuilder.ConsentRecord {
	c := s.consents[i%len(s.consents)]
	f := s.forms[(i/len(s.consents))%len(s.forms)]
	ip := (i * 7919) % benchIPs
	return &formbuilder.ConsentRecord{
		Action:       formbuilder.ActionGiven,
		ConsentID:    c.ID,
		ConsentName:  c.Name,
		VersionID:    c.Current.ID,
		VersionNo:    c.Current.Number,
		TextHash:     c.Current.Hash,
		FormID:       f.ID,
		FormKey:      f.Key,
		Source:       f.Name,
		PageURL:      "https://shop.example.com/contact?ref=" + fmt.Sprint(i%97),
		IP:           fmt.Sprintf("10.0.%d.%d", ip/256, ip%256),
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64) bench",
		Subject:      fmt.Sprintf("visitor%d@example.com", i),
		InitialState: true,
		Interacted:   i%3 == 0,
		SubmissionID: int64(i + 1),
	}
}

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
			s := newBenchSet(b, db, 10, 5)
			start := time.Now()
			bulkAppend(b, db, size, s.record)
			b.Logf("filled %d entries in %v", size, time.Since(start).Round(time.Millisecond))
			ctx := context.Background()
			newest := s.record(size - 1)
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
				sub, recs, err := formbuilder.ValidateSubmission(f.formA, formbuilder.SubmissionInput{
					Values: map[string][]string{"email": {fmt.Sprintf("v%d@example.com", i)}},
					Consents: map[int64]formbuilder.ConsentInput{
						f.c1.ID: {Checked: true, Initial: true}, f.c2.ID: {Checked: true, Initial: true}},
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
