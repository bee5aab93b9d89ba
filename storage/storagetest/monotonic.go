package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// testEntryTimesNeverGoBackwards: a clock stepping back (NTP, a resumed VM)
// must not put an entry before its predecessor, because date filters are
// turned into id bounds. The filter results stay exact across the step.
func testEntryTimesNeverGoBackwards(t *testing.T, open Opener) {
	var mu sync.Mutex
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	e := newEnv(t, open, Options{Clock: clock})
	db := e.db
	f := newFixture(t, e)

	first := f.Submit(t, f.FormB, "192.0.2.1")
	set(now.Add(-time.Hour)) // the clock steps back an hour
	second := f.Submit(t, f.FormB, "192.0.2.2")
	require.False(t, second[0].Time.Before(first[0].Time), "stored time follows its predecessor")
	set(time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC))
	third := f.Submit(t, f.FormB, "192.0.2.3")

	all := allRecords(t, db)
	for i := 1; i < len(all); i++ {
		require.False(t, all[i].Time.Before(all[i-1].Time), "entry %d", all[i].ID)
	}
	res, err := db.Verify(f.ctx)
	require.NoError(t, err)
	require.True(t, res.OK())

	// Date filters as id bounds give the same answer as the times say.
	page, err := db.ListRecords(f.ctx, formbuilder.RecordFilter{Until: third[0].Time})
	require.NoError(t, err)
	require.Len(t, page, 2)
	page, err = db.ListRecords(f.ctx, formbuilder.RecordFilter{Since: third[0].Time, ConsentID: third[0].ConsentID})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, third[0].ID, page[0].ID)
	page, err = db.ListRecords(f.ctx, formbuilder.RecordFilter{Since: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Empty(t, page, "a bound after the newest entry matches nothing")
}

func init() {
	register("EntryTimesNeverGoBackwards", testEntryTimesNeverGoBackwards)
}
