// Package httpx holds what every audience of the web app needs and none of
// them owns: the mapping of domain errors to statuses and answers, the
// client's address behind trusted proxies, security and cache headers,
// request ids, signed tokens, the strict JSON request decoder, the
// sliding-window rate limiter, pre-encoded static assets, and streamed
// responses (exports, event streams) with their deadlines, recovery and
// cancellation on shutdown.
//
// It knows nothing of routes: the audience packages (web/public, web/chat,
// web/admin, web/api) build their own groups and attach their own access
// rules, and package web assembles them into one Fiber app.
package httpx
