package public

import (
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// handleAsset serves the form page's script and styles and the loader by
// plain name (revalidated by ETag) or content-hashed name (cached a year).
func (s *Server) handleAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	a, ok := s.Widget.Asset(name)
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "not found")
	}
	// Fonts and scripts of the form page are only for this origin's pages,
	// but embed.js is loaded by every host page.
	if a.Name == "embed.js" {
		c.Response().Header.SetCanonical(httpx.HdrCORP, httpx.CORPCrossOrigin)
	} else {
		c.Response().Header.SetCanonical(httpx.HdrCORP, httpx.CORPSameOrigin)
	}
	return httpx.SendAsset(c, a, name == a.HashedName && a.HashedName != a.Name)
}

// handleEmbedJS serves the loader site owners paste. Host pages on any
// origin load it, hence Cross-Origin-Resource-Policy: cross-origin.
func (s *Server) handleEmbedJS(c *fiber.Ctx) error {
	a, ok := s.Widget.Asset("embed.js")
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "not found")
	}
	c.Response().Header.SetCanonical(httpx.HdrCORP, httpx.CORPCrossOrigin)
	return httpx.SendAsset(c, a, false)
}
