package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeMetrics runs `serve --metrics-addr` as curl would see it: after
// a few submissions, GET /metrics on the metrics listener shows the
// submission counter and the writer's histograms; the app's own listener
// has no /metrics; without the flag there is no metrics listener at all.
func TestServeMetrics(t *testing.T) {
	testServeMetrics(t, testdb.Empty(t))
}

var metricsLineRE = regexp.MustCompile(`(?m)^  metrics:   (http://\S+/metrics) `)

func testServeMetrics(t *testing.T, dbPath string) {
	l := launchServer(t, dbPath, "--metrics-addr", "127.0.0.1:0")
	base, demo, _ := l.wait(t)
	m := metricsLineRE.FindStringSubmatch(l.out.String())
	require.NotNil(t, m, "serve says where the metrics are:\n%s", l.out.String())
	metricsURL := m[1]
	assert.False(t, strings.HasPrefix(metricsURL, base), "a listener of its own")

	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, page := get(demo)
	require.Equal(t, 200, status)
	consentID := string(consentRE.FindSubmatch([]byte(page))[1])
	post := func(withConsent bool) int {
		_, page := get(demo)
		vals := url.Values{"_token": {string(tokenRE.FindSubmatch([]byte(page))[1])}, "name": {"Erika"},
			"email": {"erika@example.com"}, "message": {"Hallo"}}
		if withConsent {
			vals.Set("consent_"+consentID, "1")
			vals.Set("consent_"+consentID+"_initial", "1")
		}
		req, _ := http.NewRequest("POST", demo, strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		require.Equal(t, 201, post(true))
	}
	require.Equal(t, 422, post(false))

	status, text := get(metricsURL)
	require.Equal(t, 200, status)
	sample := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
		require.NotNil(t, m, "no %s in:\n%s", series, text)
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, 3.0, sample(`consentforms_submissions_total{outcome="accepted",reason=""}`))
	assert.Equal(t, 1.0, sample(`consentforms_submissions_total{outcome="refused",reason="invalid"}`))
	assert.GreaterOrEqual(t, sample("consentforms_writer_batch_jobs_sum"), 3.0)
	assert.Contains(t, text, `consentforms_writer_batch_jobs_bucket{le="1"}`)
	assert.Contains(t, text, `consentforms_writer_commit_seconds_bucket{le="0.001"}`)
	assert.Positive(t, sample("consentforms_writer_commit_seconds_count"))
	assert.Equal(t, 3.0, sample("consentforms_consent_log_entries"))
	assert.Equal(t, 3.0, sample(`consentforms_http_request_duration_seconds_count{class="public",status="201"}`))
	assert.Contains(t, text, "consentforms_outbox_pending ")
	assert.Equal(t, 0.0, sample("consentforms_chat_streams_open"))

	status, body := get(base + "/metrics")
	assert.Equal(t, 404, status, "the app's listener has no /metrics")
	assert.NotContains(t, body, "consentforms_submissions_total")
	status, _ = get(strings.TrimSuffix(metricsURL, "/metrics") + "/")
	assert.Equal(t, 404, status, "the metrics listener serves /metrics only")
}

func TestServeWithoutMetrics(t *testing.T) {
	l := launchServer(t, t.TempDir()+"/cf.db")
	l.wait(t)
	time.Sleep(10 * time.Millisecond)
	assert.NotContains(t, l.out.String(), "metrics:", "off by default")
}
