package web

import (
	"strings"

	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// sendAsset serves a pre-built asset: the hashed name is cached for a year,
// the plain name revalidates by ETag. Compressed bytes were made at start-up.
func sendAsset(c *fiber.Ctx, a *widget.Asset, hashed bool) error {
	c.Set(fiber.HeaderContentType, a.ContentType)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderETag, a.ETag)
	c.Vary(fiber.HeaderAcceptEncoding)
	if hashed {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "public, max-age=300, must-revalidate")
	}
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && inm == a.ETag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	if len(a.Gzip) > 0 && acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.Gzip)
	}
	return c.Send(a.Body)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return !strings.Contains(strings.ReplaceAll(q, " ", ""), "q=0") ||
				strings.Contains(q, "q=0.")
		}
	}
	return false
}

func (s *Server) handleAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	a, ok := s.widget.Asset(name)
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "not found")
	}
	// Fonts and scripts of the form page are only for this origin's pages,
	// but embed.js is loaded by every host page.
	if a.Name == "embed.js" {
		c.Set(fiber.HeaderCrossOriginResourcePolicy, "cross-origin")
	} else {
		c.Set(fiber.HeaderCrossOriginResourcePolicy, "same-origin")
	}
	return sendAsset(c, a, name == a.HashedName && a.HashedName != a.Name)
}

// handleEmbedJS serves the loader site owners paste. Host pages on any
// origin load it, hence Cross-Origin-Resource-Policy: cross-origin.
func (s *Server) handleEmbedJS(c *fiber.Ctx) error {
	a, ok := s.widget.Asset("embed.js")
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "not found")
	}
	c.Set(fiber.HeaderCrossOriginResourcePolicy, "cross-origin")
	return sendAsset(c, a, false)
}
