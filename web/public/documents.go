package public

import (
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// DefaultRateDocumentIP is how many documents one client IP may fetch per
// minute. A visitor opens the policy once or twice, and browsers keep it
// for a year; the limit stops one client from making the server read a
// 10 MiB file from the database in a loop.
const DefaultRateDocumentIP = 60

// limitDocument is the rate limit of document downloads, per client IP. A
// browser revalidating the copy it has (If-None-Match with the file's tag)
// costs nothing and is not counted.
func (s *Server) limitDocument(c *fiber.Ctx) error {
	sha, _, _ := strings.Cut(c.Params("file"), ".")
	if httpx.ETagMatches(c.Request().Header.Peek(fiber.HeaderIfNoneMatch), `"`+sha+`"`) {
		return c.Next()
	}
	return s.Limit(c, httpx.Pick{L: s.docIP, Key: httpx.RateKeyIP(s.ClientIP(c))})
}

// handleDocument serves GET /d/SHA256.EXT: a document a consent's label
// links to, exactly the bytes of that hash. The name is the hash, so the
// answer never changes and is cached for a year. Whatever an admin
// uploaded, it cannot run script in this origin: the type is the one the
// bytes were checked to be, browsers must not sniff another, and the CSP
// sandbox gives an HTML page no script and an origin of its own.
func (s *Server) handleDocument(c *fiber.Ctx) error {
	sha, ext, ok := strings.Cut(c.Params("file"), ".")
	if !ok || !formbuilder.ValidDocumentHash(sha) || ext == "" {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgNoDocument)
	}
	if s.svc.Documents == nil {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgNoDocument)
	}
	etag := `"` + sha + `"`
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, httpx.DocumentCSP)
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderCrossOriginResourcePolicy, "same-origin")
	if httpx.ETagMatches(c.Request().Header.Peek(fiber.HeaderIfNoneMatch), etag) {
		// A browser that has the file asks again only after a year; it
		// still must not cost a database read of the whole file.
		c.Set(fiber.HeaderETag, etag)
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		return c.SendStatus(fiber.StatusNotModified)
	}
	d, err := s.svc.Documents.FindDocument(c.UserContext(), sha)
	if err != nil {
		return err
	}
	if d.Ext() != ext {
		// Another extension names no file: the hash alone is not the
		// address, so links stay exactly what versions record.
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgNoDocument)
	}
	c.Set(fiber.HeaderContentType, httpx.DocumentContentType(d.ContentType))
	c.Set(fiber.HeaderContentDisposition, httpx.ContentDisposition(d.Name))
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderETag, etag)
	return c.Send(d.Data)
}
