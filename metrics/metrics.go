// Package metrics is the Prometheus side of consentforms: it implements
// the observer interfaces the parts report to (web's request and
// submission observer, storage's formbuilder.WriterObserver, delivery's
// formbuilder.DeliveryObserver) and reads gauges from storage on each
// scrape. Only cmd/consentforms imports it, and serves Handler on a
// listener of its own (--metrics-addr), never on the public one.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the app.
const Namespace = "consentforms"

// Classes of routes, the "class" label of the request metrics.
var Classes = []string{"public", "chat", "admin", "api"}

// Metrics collects the app's metrics in a registry of its own (not the
// global one, so tests and several apps in one process do not collide).
type Metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.HistogramVec
	submissions *prometheus.CounterVec
	batchJobs   prometheus.Histogram
	commitTime  prometheus.Histogram
	batchErrors prometheus.Counter
	deliveries  *prometheus.CounterVec

	// statuses caches the status label's text: strconv per request is
	// avoidable work on the hot path.
	statuses sync.Map // int -> string
}

// Sources are what the scrape-time gauges read.
type Sources struct {
	// Gauges reads the log's length and the pending deliveries.
	Gauges formbuilder.GaugeReader
	// ChatStreams counts the open chat event streams.
	ChatStreams func() int
	// Timeout bounds one gauge read (default 2s), so a slow database
	// makes a scrape miss two values rather than hang.
	Timeout time.Duration
}

// New returns the metrics; Watch adds the gauges read at scrape time once
// their sources exist (storage opens before the app that counts streams).
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "http_request_duration_seconds",
		Help: "Time to answer HTTP requests (for streams: until the stream started), by route class and status.",
		// 0.5 ms to 10 s: a cached form page takes well under a
		// millisecond, an export or a slow client seconds.
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"class", "status"})
	m.submissions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "submissions_total",
		Help: "Form submissions, accepted (stored) or refused, by reason: rate_limited, invalid, token_expired, too_fast, honeypot, origin, bad_request, not_found, archived, too_large, error.",
	}, []string{"outcome", "reason"})
	m.batchJobs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "writer", Name: "batch_jobs",
		Help:    "Jobs (submissions, log appends, chat steps) per transaction of the group-commit writer.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
	})
	m.commitTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "writer", Name: "commit_seconds",
		Help:    "Time of one group-commit transaction, from begin to durable commit.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	m.batchErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "writer", Name: "failed_batches_total",
		Help: "Group-commit transactions that failed as a whole (every job in them got the error).",
	})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "delivery_attempts_total",
		Help: "Delivery attempts (webhooks, notification mails) by kind and result (delivered, failed).",
	}, []string{"kind", "result"})
	m.reg.MustRegister(m.requests, m.submissions, m.batchJobs, m.commitTime, m.batchErrors, m.deliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every label set that exists appears from the start, at 0, so
	// dashboards and rate() see series before the first event.
	for _, c := range Classes {
		m.requests.WithLabelValues(c, "200")
	}
	m.submissions.WithLabelValues("accepted", "")
	for _, k := range []string{formbuilder.DeliveryWebhook, formbuilder.DeliveryEmail} {
		m.deliveries.WithLabelValues(k, "delivered")
		m.deliveries.WithLabelValues(k, "failed")
	}
	return m
}

// Watch adds the gauges of src, read at every scrape. Call it once.
func (m *Metrics) Watch(src Sources) {
	if src.Timeout <= 0 {
		src.Timeout = 2 * time.Second
	}
	if src.Gauges != nil {
		m.reg.MustRegister(&gaugeCollector{src: src.Gauges, timeout: src.Timeout})
	}
	if src.ChatStreams != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "chat_streams_open",
			Help: "Chat event streams open (visitors' and operators').",
		}, func() float64 { return float64(src.ChatStreams()) }))
	}
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry of the metrics, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) status(code int) string {
	if s, ok := m.statuses.Load(code); ok {
		return s.(string)
	}
	s := strconv.Itoa(code)
	m.statuses.Store(code, s)
	return s
}

// ObserveRequest records one answered request of a route class.
func (m *Metrics) ObserveRequest(class string, status int, took time.Duration) {
	m.requests.WithLabelValues(class, m.status(status)).Observe(took.Seconds())
}

// ObserveSubmission records a form submission: accepted, or refused with
// a reason.
func (m *Metrics) ObserveSubmission(accepted bool, reason string) {
	if accepted {
		m.submissions.WithLabelValues("accepted", "").Inc()
		return
	}
	m.submissions.WithLabelValues("refused", reason).Inc()
}

// ObserveBatch implements formbuilder.WriterObserver.
func (m *Metrics) ObserveBatch(jobs int, took time.Duration, err error) {
	m.batchJobs.Observe(float64(jobs))
	m.commitTime.Observe(took.Seconds())
	if err != nil {
		m.batchErrors.Inc()
	}
}

// ObserveDelivery implements formbuilder.DeliveryObserver.
func (m *Metrics) ObserveDelivery(kind string, delivered bool) {
	result := "failed"
	if delivered {
		result = "delivered"
	}
	m.deliveries.WithLabelValues(kind, result).Inc()
}

// gaugeCollector reads storage's gauges once per scrape.
type gaugeCollector struct {
	src     formbuilder.GaugeReader
	timeout time.Duration
}

var (
	logLengthDesc = prometheus.NewDesc(Namespace+"_consent_log_entries",
		"Entries of the consent log (consents given and withdrawals).", nil, nil)
	outboxDesc = prometheus.NewDesc(Namespace+"_outbox_pending",
		"Deliveries in the outbox neither delivered nor given up.", nil, nil)
)

// Describe implements prometheus.Collector.
func (g *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- logLengthDesc
	ch <- outboxDesc
}

// Collect implements prometheus.Collector. A failed read reports an error
// for the two gauges; the rest of the scrape stands.
func (g *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	v, err := g.src.ReadGauges(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(logLengthDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(logLengthDesc, prometheus.GaugeValue, float64(v.LogLength))
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(v.OutboxPending))
}

// Interfaces the metrics implement.
var (
	_ formbuilder.WriterObserver   = (*Metrics)(nil)
	_ formbuilder.DeliveryObserver = (*Metrics)(nil)
)
