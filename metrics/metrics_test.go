package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/metrics"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape fetches the text exposition of mx as Prometheus would.
func scrape(t *testing.T, mx *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(mx.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// value returns the sample of the exposition line that starts with series.
func value(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	require.NotNil(t, m, "no sample %s in:\n%s", series, text)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

// TestMetricsOfARealDatabase: the writer's batches reach the histograms
// through storage's observer, and a scrape reads the log's length and the
// pending deliveries from the database.
func TestMetricsOfARealDatabase(t *testing.T) {
	mx := metrics.New()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"), sqlite.WithObserver(mx))
	require.NoError(t, err)
	defer db.Close()
	streams := 3
	mx.Watch(metrics.Sources{Gauges: db, ChatStreams: func() int { return streams }})
	ctx := context.Background()
	co := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, co, formbuilder.ConsentContent{Text: "<p>t</p>", Label: "ok", Language: "en"}, "a"))
	form := &formbuilder.Form{Name: "F", Language: "en",
		Fields:        []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}},
		Consents:      []formbuilder.FormConsent{{ConsentID: co.ID, Required: true}},
		Notifications: formbuilder.Notifications{Emails: []string{"owner@example.com"}}}
	require.NoError(t, db.CreateForm(ctx, form))
	for range 3 {
		sub, recs, err := formbuilder.ValidateSubmission(form, formbuilder.SubmissionInput{
			Values:   map[string][]string{"email": {"v@example.com"}},
			Consents: map[int64]formbuilder.ConsentInput{co.ID: {Checked: true}}})
		require.NoError(t, err)
		require.NoError(t, db.CreateSubmission(ctx, sub, recs))
	}
	mx.ObserveDelivery(formbuilder.DeliveryWebhook, false)
	mx.ObserveDelivery(formbuilder.DeliveryWebhook, true)
	mx.ObserveSubmission(false, "invalid")
	mx.ObserveRequest("public", 201, 3*time.Millisecond)

	text := scrape(t, mx)
	assert.Equal(t, 3.0, value(t, text, "consentforms_writer_batch_jobs_sum"), "three submissions committed")
	assert.GreaterOrEqual(t, value(t, text, "consentforms_writer_batch_jobs_count"), 1.0)
	assert.Equal(t, value(t, text, "consentforms_writer_batch_jobs_count"), value(t, text, "consentforms_writer_commit_seconds_count"))
	assert.Equal(t, 3.0, value(t, text, "consentforms_consent_log_entries"))
	assert.Equal(t, 3.0, value(t, text, "consentforms_outbox_pending"), "a mail per submission waits")
	assert.Equal(t, 3.0, value(t, text, "consentforms_chat_streams_open"))
	assert.Equal(t, 1.0, value(t, text, `consentforms_delivery_attempts_total{kind="webhook",result="failed"}`))
	assert.Equal(t, 0.0, value(t, text, `consentforms_delivery_attempts_total{kind="email",result="delivered"}`),
		"series exist from the start")
	assert.Equal(t, 1.0, value(t, text, `consentforms_submissions_total{outcome="refused",reason="invalid"}`))
	assert.Equal(t, 1.0, value(t, text, `consentforms_http_request_duration_seconds_bucket{class="public",status="201",le="0.005"}`))
	assert.Equal(t, 0.0, value(t, text, `consentforms_http_request_duration_seconds_bucket{class="public",status="201",le="0.0025"}`))
	assert.Contains(t, text, "go_goroutines ")

	// A database that fails costs the scrape its two gauges, not the rest.
	require.NoError(t, db.Close())
	srv := httptest.NewServer(mx.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.NotContains(t, string(b), "consentforms_consent_log_entries ")
	assert.Contains(t, string(b), "consentforms_writer_batch_jobs_count ")
}

// BenchmarkObserveRequest is what metrics add to every request when they
// are on: one histogram observation under two labels.
func BenchmarkObserveRequest(b *testing.B) {
	mx := metrics.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mx.ObserveRequest("public", 200, 150*time.Microsecond)
		}
	})
}
