package httpx

import (
	"strings"
	"time"
)

// Observer hears what the app does, for metrics; cmd/consentforms wires the
// Prometheus implementation in (package metrics), so nothing under web/
// depends on a metrics library. Its methods are called on the request's
// goroutine and must be quick.
type Observer interface {
	// ObserveRequest records an answered request of a route class
	// (RouteClass) with its status and time.
	ObserveRequest(class string, status int, took time.Duration)
	// ObserveSubmission records a form post: accepted (stored) or refused
	// with a reason (see the Refused* constants).
	ObserveSubmission(accepted bool, reason string)
}

// Reasons a form post is refused, the "reason" label of the submission
// metric. Statuses the handler does not name are mapped by RefusalOf.
const (
	RefusedRateLimited  = "rate_limited"
	RefusedInvalid      = "invalid"
	RefusedTokenExpired = "token_expired"
	RefusedTooFast      = "too_fast"
	RefusedHoneypot     = "honeypot"
	RefusedOrigin       = "origin"
	RefusedBadRequest   = "bad_request"
	RefusedNotFound     = "not_found"
	RefusedArchived     = "archived"
	RefusedTooLarge     = "too_large"
	RefusedError        = "error"
)

// RefusalOf names the reason of a refused post by its status, for posts
// whose handler named none.
func RefusalOf(status int) string {
	switch {
	case status == 429:
		return RefusedRateLimited
	case status == 422:
		return RefusedInvalid
	case status == 403:
		return RefusedOrigin
	case status == 404:
		return RefusedNotFound
	case status == 410:
		return RefusedArchived
	case status == 413:
		return RefusedTooLarge
	case status >= 400 && status < 500:
		return RefusedBadRequest
	}
	return RefusedError
}

// RouteClass is the class of a path for the request metrics: the four
// audiences of the app.
func RouteClass(path string) string {
	switch {
	case path == "/admin" || strings.HasPrefix(path, "/admin/"):
		return "admin"
	case strings.HasPrefix(path, "/api/"):
		return "api"
	case strings.HasPrefix(path, "/c/"):
		return "chat"
	}
	return "public"
}
