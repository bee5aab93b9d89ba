package formbuilder

import (
	"context"
	"time"
)

// Observers let the parts that do the work report it to metrics without
// depending on a metrics library: storage tells a WriterObserver about each
// group commit, the delivery worker a DeliveryObserver about each attempt.
// cmd/consentforms wires the Prometheus implementation in; nil means nobody
// listens.

// WriterObserver hears about each transaction of storage's group-commit
// writer: how many jobs (submissions, log appends, chat steps) it carried,
// how long it took from begin to commit, and whether it committed. It is
// called on the writer's goroutine after the commit, so it must be quick.
type WriterObserver interface {
	ObserveBatch(jobs int, took time.Duration, err error)
}

// DeliveryObserver hears about each delivery attempt (kind is
// DeliveryWebhook or DeliveryEmail). It is called from the worker's
// goroutines, concurrently.
type DeliveryObserver interface {
	ObserveDelivery(kind string, delivered bool)
}

// Gauges are counts a metrics scrape reads from storage.
type Gauges struct {
	// LogLength is the number of consent log entries (its ids run 1…n).
	LogLength int64
	// OutboxPending counts deliveries neither delivered nor given up.
	OutboxPending int64
}

// GaugeReader reads Gauges; every backend implements it with two indexed
// lookups, cheap enough for a scrape every few seconds.
type GaugeReader interface {
	ReadGauges(ctx context.Context) (Gauges, error)
}
