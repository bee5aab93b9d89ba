// Package chat serves the visitor's side of the chat: the page the
// launcher's iframe shows and the JSON API and event stream chat.js talks
// to. Every route is open to anyone who holds a visitor id (the
// conversation's bearer secret); posts are rate limited per client and
// channel, per channel, and per client over all public posts. The
// operators' side is part of the admin UI (web/admin), the chat's API
// routes part of the JSON API (web/api).
package chat

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/chatlive"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// Default limits of the chat's visitor posts (messages, consent answers),
// per minute. A conversation sends far more posts than a form, so the
// per-IP-and-channel limit is above the form's; the per-IP limit over all
// public posts counts chat posts too.
const (
	DefaultRateChatIP      = 30  // per client IP and channel
	DefaultRateChatChannel = 600 // per channel over all clients
)

// readLimit bounds history reads (the polling fallback asks every few
// seconds) per client IP and minute.
const readLimit = 240

// Config is what the chat's visitor routes need besides the shared Base.
type Config struct {
	// IPLimit counts every public post of a client, form posts included.
	IPLimit *httpx.Limiter
	// RateChatIP and RateChatChannel limit posts per minute per client IP
	// and channel, and per channel. Zero means the default, negative
	// turns the limit off (and with RateChatIP the read limit too).
	RateChatIP, RateChatChannel int
}

// Server is the visitor's side of the chat.
type Server struct {
	*httpx.Base
	cfg                      Config
	svc                      httpx.Services
	hub                      *chatlive.Hub
	ipChannel, channel, read *httpx.Limiter
}

// New returns the chat's visitor side; hub streams the events of storage's
// change feed to the visitors' pages.
func New(base *httpx.Base, cfg Config, svc httpx.Services, hub *chatlive.Hub) *Server {
	s := &Server{Base: base, cfg: cfg, svc: svc, hub: hub,
		ipChannel: httpx.NewLimiter(httpx.LimitOrDefault(cfg.RateChatIP, DefaultRateChatIP), httpx.RateWindow, httpx.RateMaxKeys),
		channel:   httpx.NewLimiter(httpx.LimitOrDefault(cfg.RateChatChannel, DefaultRateChatChannel), httpx.RateWindow, httpx.RateMaxKeys),
	}
	if cfg.RateChatIP >= 0 {
		s.read = httpx.NewLimiter(readLimit, httpx.RateWindow, httpx.RateMaxKeys)
	}
	return s
}

// Routes registers the visitor's chat routes under /c/KEY. They need no
// credentials; posts and history reads pass the rate limits first.
func (s *Server) Routes(app *fiber.App) {
	app.Get("/c/:key", s.handleChatPage)
	app.Get("/c/:key/consent", s.handleChatConsentPage)
	app.Get("/c/:key/messages", s.limitRead, s.handleChatHistory)
	app.Post("/c/:key/messages", s.limitPost, s.handleChatPost)
	app.Post("/c/:key/consent", s.limitPost, s.handleChatConsent)
	app.Post("/c/:key/consent/reopen", s.limitPost, s.handleChatReopen)
	app.Get("/c/:key/events", s.handleChatEvents)
}

// limitPost limits visitor posts per client IP and channel, per channel and
// per client IP over all public posts. It runs before the body is read,
// counts nothing for a refused request, and answers 429 with Retry-After.
func (s *Server) limitPost(c *fiber.Ctx) error {
	ip := httpx.RateKeyIP(s.ClientIP(c))
	picks := []httpx.Pick{{L: s.cfg.IPLimit, Key: ip}}
	if key := c.Params("key"); formbuilder.ValidFormKey(key) {
		picks = append(picks, httpx.Pick{L: s.ipChannel, Key: ip + " " + key}, httpx.Pick{L: s.channel, Key: key})
	}
	return s.Limit(c, picks...)
}

// limitRead limits history reads per client IP.
func (s *Server) limitRead(c *fiber.Ctx) error {
	return s.Limit(c, httpx.Pick{L: s.read, Key: httpx.RateKeyIP(s.ClientIP(c))})
}
