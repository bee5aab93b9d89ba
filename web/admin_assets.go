package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed static/admin.css static/admin.js
var adminStaticFS embed.FS

// adminAsset is the admin stylesheet or script. Pages link the hashed name,
// which is cached for a year because a change of content changes the name;
// the plain name revalidates by ETag.
type adminAsset struct {
	name, hashed string
	ctype        string
	body, gz     []byte
	etag         string
}

func loadAdminAsset(name string) (*adminAsset, error) {
	body, err := adminStaticFS.ReadFile("static/" + name)
	if err != nil {
		return nil, err
	}
	return newAdminAsset(name, body)
}

// newAdminAsset hashes and compresses body, served as name.
func newAdminAsset(name string, body []byte) (*adminAsset, error) {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	ext := path.Ext(name)
	ctype := "text/css; charset=utf-8"
	if ext == ".js" {
		ctype = "text/javascript; charset=utf-8"
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &adminAsset{
		name:   name,
		hashed: strings.TrimSuffix(name, ext) + "." + h[:10] + ext,
		ctype:  ctype,
		body:   body,
		gz:     gz.Bytes(),
		etag:   `"` + h[:32] + `"`,
	}, nil
}

// handleAdminAsset serves admin.css and admin.js. They are public (the
// sign-in page needs them) and hold nothing secret.
func (s *Server) handleAdminAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	a := s.admin.assets[name]
	if a == nil {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderContentType, a.ctype)
	c.Set(fiber.HeaderETag, a.etag)
	c.Vary(fiber.HeaderAcceptEncoding)
	if name == a.hashed {
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Set(fiber.HeaderCacheControl, "no-cache")
	}
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && inm == a.etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	if acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.gz)
	}
	return c.Send(a.body)
}
