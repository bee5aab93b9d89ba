package web

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// Default limits of the chat's visitor posts (messages, consent answers),
// per minute. A conversation sends far more posts than a form, so the
// per-IP-and-channel limit is above the form's; the per-IP limit over all
// public posts (RateIP) counts chat posts too.
const (
	DefaultRateChatIP      = 30  // per client IP and channel
	DefaultRateChatChannel = 600 // per channel over all clients
)

// chatReadLimit bounds history reads (the polling fallback asks every few
// seconds) per client IP and minute.
const chatReadLimit = 240

// chatLimits are the sliding-window limiters of the chat's public routes,
// the hardening's rateLimiter reused.
type chatLimits struct {
	ipChannel *rateLimiter
	channel   *rateLimiter
	read      *rateLimiter
}

func newChatLimits(cfg Config) *chatLimits {
	l := &chatLimits{
		ipChannel: newRateLimiter(limitOrDefault(cfg.RateChatIP, DefaultRateChatIP), rateWindow, rateMaxKeys),
		channel:   newRateLimiter(limitOrDefault(cfg.RateChatChannel, DefaultRateChatChannel), rateWindow, rateMaxKeys),
	}
	if cfg.RateChatIP >= 0 {
		l.read = newRateLimiter(chatReadLimit, rateWindow, rateMaxKeys)
	}
	return l
}

// limitChatPost limits visitor posts per client IP and channel, per
// channel and per client IP over all public posts. Like limitPublicPost it
// runs before the body is read, counts nothing for a refused request, and
// answers 429 with Retry-After.
func (s *Server) limitChatPost(c *fiber.Ctx) error {
	ip := rateKeyIP(s.clientIP(c))
	picks := []ratePick{{s.rates.ip, ip}}
	if key := c.Params("key"); formbuilder.ValidFormKey(key) {
		picks = append(picks, ratePick{s.chat.limits.ipChannel, ip + " " + key}, ratePick{s.chat.limits.channel, key})
	}
	return s.limitBy(c, picks)
}

// limitChatRead limits history reads per client IP.
func (s *Server) limitChatRead(c *fiber.Ctx) error {
	return s.limitBy(c, []ratePick{{s.chat.limits.read, rateKeyIP(s.clientIP(c))}})
}
