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

// Locals the submit handler leaves for countSubmission.
const (
	localStored    = "cf_sub_stored"
	localRefusal   = "cf_sub_refusal"
	localUncounted = "cf_sub_uncounted"
)

// uncounted keeps a post out of the submission metric: an admin's preview
// is no visitor's submission.
func uncounted(c *fiber.Ctx) { c.Locals(localUncounted, true) }

// refuse names why a form post was refused, for the submission metric,
// where its status does not say (an expired form and a filled honeypot).
func refuse(c *fiber.Ctx, reason string) { c.Locals(localRefusal, reason) }

// countSubmission is the first handler of a form post: after the post it
// tells the observer whether it was stored, or why it was refused (rate
// limit, invalid input, …). Without an observer it only passes on.
func (s *Server) countSubmission(c *fiber.Ctx) error {
	obs := s.Observer
	if obs == nil {
		return c.Next()
	}
	err := c.Next()
	if skip, _ := c.Locals(localUncounted).(bool); skip && err == nil {
		return nil
	}
	if stored, _ := c.Locals(localStored).(bool); stored && err == nil {
		obs.ObserveSubmission(true, "")
		return nil
	}
	reason, _ := c.Locals(localRefusal).(string)
	if reason == "" {
		status := c.Response().StatusCode()
		if err != nil {
			status = httpx.ProblemOf(err).Status
		}
		reason = httpx.RefusalOf(status)
	}
	obs.ObserveSubmission(false, reason)
	return err
}
