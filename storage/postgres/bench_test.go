package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/consentforms/consentforms/storage/storagetest"
)

// BenchmarkCreateSubmissionParallel compares group commit (batches of up to
// 128, the chain lock taken once per batch) with one transaction, and one
// chain lock, per submission (batch=1), on the server of
// CONSENTFORMS_TEST_POSTGRES (.ci/pg: synchronous_commit=on, fsync=on).
func BenchmarkCreateSubmissionParallel(b *testing.B) {
	for _, size := range []int{128, 1} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			db, _ := newTestDB(b, WithBatchSize(size), WithClock(time.Now))
			storagetest.BenchCreateSubmissions(b, db, func() storagetest.WriterStats { return sqlcore.Stats(db.DB) })
		})
	}
}
