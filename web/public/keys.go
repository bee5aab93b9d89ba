package public

import (
	"github.com/gofiber/fiber/v2"
)

// KeysPath is where the public signing keys are published (JWKS, RFC
// 7517): every key the installation signed receipts and checkpoints with,
// each with its validity period, so that anyone holding a receipt can check
// it, also after a key rotation.
const KeysPath = "/.well-known/consentforms-keys"

// handleKeys answers KeysPath. It reads the current key set, so a rotated
// key file shows as soon as the server loaded it; caches may keep it five
// minutes, shorter than a rotation's lead (formbuilder.RotateDelay is a
// minute, and a verifier finding no key refetches).
func (s *Server) handleKeys(c *fiber.Ctx) error {
	b, err := s.Keys.Load().MarshalJWKS()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(b)
}
