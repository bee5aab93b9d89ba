package public

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// limitPost is the middleware of the public POST routes. It runs before the
// body is parsed and anything is looked up, so a flood costs a few map
// lookups per request. Posts to a form count per IP and form, per IP and
// per form; other posts (withdrawals) per IP.
func (s *Server) limitPost(c *fiber.Ctx) error {
	ip := httpx.RateKeyIP(s.ClientIP(c))
	picks := []httpx.Pick{{L: s.cfg.IPLimit, Key: ip}}
	if key := c.Params("key"); key != "" && formbuilder.ValidFormKey(key) {
		picks = append(picks, httpx.Pick{L: s.ipForm, Key: ip + " " + key}, httpx.Pick{L: s.form, Key: key})
	}
	return s.Limit(c, picks...)
}
