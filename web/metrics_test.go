package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/metrics"
	"github.com/consentforms/consentforms/web"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSubmissionMetrics: every form post is counted once, accepted or
// refused with its reason, and every request by route class and status,
// through the real Prometheus metrics.
func TestSubmissionMetrics(t *testing.T) {
	mx := metrics.New()
	e := newHardEnv(t, func(c *web.Config) {
		c.Observer = mx
		c.RateIPForm = 4
	})
	count := func(outcome, reason string) float64 {
		m := findMetric(t, mx, "consentforms_submissions_total", map[string]string{"outcome": outcome, "reason": reason})
		if m == nil {
			return 0
		}
		return m.GetCounter().GetValue()
	}
	key := e.formA.Key
	e.IP = "192.0.2.1"

	resp := e.postForm(key, e.validForm(e.RenderToken(key), "ok@example.com"))
	require.Equal(t, 201, resp.StatusCode)
	bad := e.validForm(e.RenderToken(key), "not an address")
	resp = e.postForm(key, bad)
	require.Equal(t, 422, resp.StatusCode)
	resp = e.postForm(key, e.validForm(e.RenderTokenNow(key), "fast@example.com"))
	require.Equal(t, 422, resp.StatusCode)
	hp := e.validForm(e.RenderToken(key), "bot@example.com")
	hp.Set("website", "https://spam.example")
	resp = e.postForm(key, hp)
	require.Equal(t, 201, resp.StatusCode, "a bot gets the answer a person would")
	resp = e.postForm(key, e.validForm(e.RenderToken(key), "late@example.com"))
	require.Equal(t, 429, resp.StatusCode, "the fifth post of this address to the form")

	e.IP = "192.0.2.2"
	tok := e.RenderToken(key)
	e.Clock.Add(25 * time.Hour)
	resp = e.postForm(key, e.validForm(tok, "slow@example.com"))
	require.Equal(t, 422, resp.StatusCode)
	resp = e.postForm(key, e.validForm(e.RenderToken(key), "x@example.com"), "Origin", "https://evil.example")
	require.Equal(t, 403, resp.StatusCode)
	resp = e.postForm("zzzzzzzzzzzzzzzz", url.Values{})
	require.Equal(t, 404, resp.StatusCode)

	assert.Equal(t, 1.0, count("accepted", ""))
	for reason, n := range map[string]float64{"invalid": 1, "too_fast": 1, "honeypot": 1, "rate_limited": 1,
		"token_expired": 1, "origin": 1, "not_found": 1} {
		assert.Equal(t, n, count("refused", reason), reason)
	}
	subs, _ := e.counts()
	assert.Equal(t, 1, subs, "one stored, as counted")

	e.Login()
	resp, _ = e.Get("/admin/consents")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = e.API(http.MethodGet, "/api/v1/forms", "", "")
	require.Equal(t, 401, resp.StatusCode)
	hist := func(class, status string) uint64 {
		m := findMetric(t, mx, "consentforms_http_request_duration_seconds", map[string]string{"class": class, "status": status})
		if m == nil {
			return 0
		}
		return m.GetHistogram().GetSampleCount()
	}
	assert.EqualValues(t, 2, hist("public", "201"), "the accepted post and the honeypot's")
	assert.EqualValues(t, 1, hist("public", "429"))
	assert.Positive(t, hist("admin", "200"), "the sign-in page and the consents page")
	assert.EqualValues(t, 1, hist("api", "401"))
	assert.Positive(t, hist("public", "200"), "form pages")
}

// TestNoMetricsRouteOnTheApp: the app itself never answers /metrics, with
// metrics on or off: they have a listener of their own.
func TestNoMetricsRouteOnTheApp(t *testing.T) {
	e := testenv.New(t, testenv.WithConfig(func(c *web.Config) { c.Observer = metrics.New() }))
	for _, p := range []string{"/metrics", "/admin/metrics", "/api/v1/metrics"} {
		resp, body := e.Get(p)
		assert.NotEqual(t, 200, resp.StatusCode, p)
		assert.NotContains(t, body, "consentforms_", p)
	}
	for _, r := range e.App().GetRoutes(true) {
		assert.False(t, strings.Contains(r.Path, "metrics"), "route %s %s", r.Method, r.Path)
	}
}

// findMetric returns the sample of family name with exactly labels, or nil.
func findMetric(t *testing.T, mx *metrics.Metrics, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	fams, err := mx.Registry().Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return m
		}
	}
	return nil
}
