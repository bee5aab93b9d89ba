package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/sqlite"
)

// Shape of the generated consent log: a form asks for every consent; every
// second visit comes from one shared address (an office behind NAT), the
// others from logIPs addresses.
const (
	logConsents = 10
	logForms    = 5
	logIPs      = 1000
	logSharedIP = "192.0.2.10"
)

// logFilter is one consent log query the admin UI makes.
type logFilter struct {
	name string
	f    func(newest *formbuilder.ConsentRecord) formbuilder.RecordFilter
}

var logFilters = []logFilter{
	{"first page", func(*formbuilder.ConsentRecord) formbuilder.RecordFilter { return formbuilder.RecordFilter{} }},
	{"consent", func(n *formbuilder.ConsentRecord) formbuilder.RecordFilter {
		return formbuilder.RecordFilter{ConsentID: n.ConsentID}
	}},
	// The shared address: its page is full (50 rows) at 1,000 entries as at
	// 1,000,000, so both sizes do the same work per page. One visitor's
	// address would give 1 row at 1,000 entries and 50 at 1,000,000.
	{"consent+ip", func(n *formbuilder.ConsentRecord) formbuilder.RecordFilter {
		return formbuilder.RecordFilter{ConsentID: n.ConsentID, IP: logSharedIP}
	}},
}

// benchLog fills a consent log through storage's own write path (group
// commit, hash chain), to 1,000 entries and then to entries, and times
// ListRecords at both sizes in this process.
func benchLog(ctx context.Context, w, stderr io.Writer, dir string, entries int) error {
	db, err := sqlite.Open(filepath.Join(dir, "log.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	lg, err := newLogGen(ctx, db)
	if err != nil {
		return err
	}
	sizes := []int{1000}
	if entries > 1000 {
		sizes = append(sizes, entries)
	}
	type row struct {
		size  int
		fill  time.Duration
		times []time.Duration
		n     []int
	}
	var rows []row
	for _, size := range sizes {
		start := time.Now()
		if err := lg.fillTo(ctx, size); err != nil {
			return err
		}
		fill := time.Since(start)
		fmt.Fprintf(stderr, "formbench: consent log filled to %d entries in %v\n", size, fill.Round(time.Millisecond))
		page, err := db.ListRecords(ctx, formbuilder.RecordFilter{Limit: 1})
		if err != nil || len(page) == 0 {
			return fmt.Errorf("consent log is empty after filling: %v", err)
		}
		r := row{size: size, fill: fill}
		for _, lf := range logFilters {
			d, n, err := timeList(ctx, db, lf.f(page[0]))
			if err != nil {
				return fmt.Errorf("%s: %w", lf.name, err)
			}
			r.times = append(r.times, d)
			r.n = append(r.n, n)
		}
		rows = append(rows, r)
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "consent log (ListRecords, mean per call)\t"
	for _, lf := range logFilters {
		hdr += lf.name + "\t"
	}
	fmt.Fprintln(tw, hdr+"filled in\t")
	for _, r := range rows {
		line := fmt.Sprintf("%d entries\t", r.size)
		for i := range r.times {
			line += fmt.Sprintf("%s (%d rows)\t", ms(r.times[i]), r.n[i])
		}
		fmt.Fprintln(tw, line+r.fill.Round(time.Millisecond).String()+"\t")
	}
	if len(rows) == 2 {
		line := fmt.Sprintf("ratio %d / 1,000 (target ≤ 2×)\t", rows[1].size)
		worst := 0.0
		for i := range rows[0].times {
			x := float64(rows[1].times[i]) / float64(rows[0].times[i])
			worst = max(worst, x)
			line += fmt.Sprintf("%.2f×\t", x)
		}
		fmt.Fprintln(tw, line+verdict(worst <= 2)+"\t")
	}
	return tw.Flush()
}

// timeList calls ListRecords with f for at least 300 ms and 30 calls and
// returns the mean time per call and the rows of a page.
func timeList(ctx context.Context, db *sqlite.DB, f formbuilder.RecordFilter) (time.Duration, int, error) {
	page, err := db.ListRecords(ctx, f) // warm the cache and the statement
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	calls := 0
	for calls < 30 || time.Since(start) < 300*time.Millisecond {
		if _, err := db.ListRecords(ctx, f); err != nil {
			return 0, 0, err
		}
		calls++
	}
	return time.Since(start) / time.Duration(calls), len(page), nil
}

// logGen writes submissions of logConsents consent entries each.
type logGen struct {
	db       *sqlite.DB
	consents []*formbuilder.Consent
	forms    []*formbuilder.Form
	next     atomic.Int64 // next submission number
	entries  int
}

func newLogGen(ctx context.Context, db *sqlite.DB) (*logGen, error) {
	lg := &logGen{db: db}
	for i := range logConsents {
		c := &formbuilder.Consent{Name: fmt.Sprintf("Consent %d", i), Type: formbuilder.ConsentCustom}
		content := formbuilder.ConsentContent{Text: fmt.Sprintf("<p>Text of consent %d.</p>", i),
			Label: "I agree to the %terms%.", Language: "en"}
		content.Sanitize()
		if err := db.CreateConsent(ctx, c, content, "formbench"); err != nil {
			return nil, err
		}
		lg.consents = append(lg.consents, c)
	}
	for i := range logForms {
		f := &formbuilder.Form{Name: fmt.Sprintf("Form %d", i), Language: "en",
			Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}}}
		for _, c := range lg.consents {
			f.Consents = append(f.Consents, formbuilder.FormConsent{ConsentID: c.ID, Required: true})
		}
		if err := db.CreateForm(ctx, f); err != nil {
			return nil, err
		}
		lg.forms = append(lg.forms, f)
	}
	return lg, nil
}

// submission i: forms in turn, every second one from the shared address,
// the others scattered over logIPs addresses.
func (lg *logGen) submission(i int) (*formbuilder.Submission, []*formbuilder.ConsentRecord) {
	f := lg.forms[i%len(lg.forms)]
	ip := logSharedIP
	if i%2 == 1 {
		n := (i * 7919) % logIPs
		ip = fmt.Sprintf("10.0.%d.%d", n/256, n%256)
	}
	email := fmt.Sprintf("visitor%d@example.com", i)
	sub := &formbuilder.Submission{FormID: f.ID, FormKey: f.Key, Values: map[string][]string{"email": {email}},
		Subject: email, PageURL: fmt.Sprintf("https://shop.example/contact?ref=%d", i%97),
		IP: ip, UserAgent: "Mozilla/5.0 (X11; Linux x86_64) formbench"}
	recs := make([]*formbuilder.ConsentRecord, 0, len(lg.consents))
	for _, c := range lg.consents {
		recs = append(recs, &formbuilder.ConsentRecord{
			Action: formbuilder.ActionGiven, ConsentID: c.ID, ConsentName: c.Name,
			VersionID: c.Current.ID, VersionNo: c.Current.Number, TextHash: c.Current.Hash,
			FormID: f.ID, FormKey: f.Key, Source: f.Name, PageURL: sub.PageURL,
			IP: sub.IP, UserAgent: sub.UserAgent, Subject: email, InitialState: true, Interacted: i%3 == 0,
		})
	}
	return sub, recs
}

// fillTo adds submissions until the log holds at least n entries, from many
// goroutines so that the writer commits full batches.
func (lg *logGen) fillTo(ctx context.Context, n int) error {
	want := (n - lg.entries + logConsents - 1) / logConsents
	if want <= 0 {
		return nil
	}
	end := lg.next.Load() + int64(want)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return firstErr != nil }
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := lg.next.Add(1) - 1
				if i >= end || failed() {
					return
				}
				sub, recs := lg.submission(int(i))
				if err := lg.db.CreateSubmission(ctx, sub, recs); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	lg.next.Store(end)
	lg.entries += want * logConsents
	return nil
}
