package web

import (
	"embed"

	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

//go:embed static/admin.css static/admin.js
var adminStaticFS embed.FS

// loadAdminAsset reads the admin stylesheet or script. Pages link the
// hashed name, which is cached for a year because a change of content
// changes the name; the plain name revalidates by ETag.
func loadAdminAsset(name string) (*widget.Asset, error) {
	body, err := adminStaticFS.ReadFile("static/" + name)
	if err != nil {
		return nil, err
	}
	return widget.NewAsset(name, body)
}

// handleAdminAsset serves admin.css and admin.js (and the chat's operator
// script). They are public (the sign-in page needs them) and hold nothing
// secret.
func (s *Server) handleAdminAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	a := s.admin.assets[name]
	if a == nil {
		return fiber.ErrNotFound
	}
	return sendAsset(c, a, name == a.HashedName)
}
