package httpx

import (
	"bytes"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// HeaderSet is a list of response headers with canonical names, set with
// Set, which skips fasthttp's per-call normalisation of the name: on the
// form page that normalisation was a quarter of the route's time.
type HeaderSet [][2][]byte

// Set sets every header of hs on c's response.
func (hs HeaderSet) Set(c *fiber.Ctx) {
	h := &c.Response().Header
	for _, kv := range hs {
		h.SetCanonical(kv[0], kv[1])
	}
}

// Canonical header names for HeaderSet.
var (
	HdrCSP                 = []byte(fiber.HeaderContentSecurityPolicy)
	HdrXContentTypeOptions = []byte(fiber.HeaderXContentTypeOptions)
	HdrReferrerPolicy      = []byte(fiber.HeaderReferrerPolicy)
	HdrCacheControl        = []byte(fiber.HeaderCacheControl)
	HdrVary                = []byte(fiber.HeaderVary)
	HdrETag                = []byte(fiber.HeaderETag)
	HdrCORP                = []byte(fiber.HeaderCrossOriginResourcePolicy)
	HdrContentType         = []byte(fiber.HeaderContentType)
	HdrContentEncoding     = []byte(fiber.HeaderContentEncoding)
	CORPCrossOrigin        = []byte("cross-origin")
	CORPSameOrigin         = []byte("same-origin")
)

// PublicCSP is the Content-Security-Policy of the pages of form f (nil for
// pages of no form): framed only by the form's allowed origins
// (frame-ancestors, no X-Frame-Options, which cannot list origins);
// scripts, styles and connections only to this server.
func PublicCSP(f *formbuilder.Form) string {
	ancestors := "*"
	formAction := "'self'"
	if f != nil {
		if len(f.AllowedOrigins) > 0 {
			ancestors = "'self'"
			for _, o := range f.AllowedOrigins {
				if n, err := formbuilder.NormalizeOrigin(o); err == nil {
					ancestors += " " + n
				}
			}
		}
		if f.RedirectURL != "" {
			// Chromium applies form-action to the redirect after a post.
			if u, err := url.Parse(f.RedirectURL); err == nil {
				formAction += " " + u.Scheme + "://" + u.Host
			}
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action " + formAction +
		"; frame-ancestors " + ancestors
}

// SetPublicPageHeaders sets the headers of every page a visitor sees.
func SetPublicPageHeaders(c *fiber.Ctx, csp string) {
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "strict-origin-when-cross-origin")
}

// IsSelfOrigin reports whether origin is this server: the public baseURL,
// or the host the request was sent to (an admin may use another name than
// the base URL, say an internal one; a foreign page cannot choose the Host).
func IsSelfOrigin(c *fiber.Ctx, baseURL, origin string) bool {
	o, err := formbuilder.NormalizeOrigin(origin)
	if err != nil {
		return false // includes "null" from sandboxed frames and file: pages
	}
	if self, err := formbuilder.NormalizeOrigin(baseURL); err == nil && self == o {
		return true
	}
	_, hostport, _ := strings.Cut(o, "://")
	host := strings.ToLower(c.Hostname())
	if hostport == host {
		return true
	}
	// The Host header keeps a default port that the Origin header drops.
	for _, p := range []string{":80", ":443"} {
		if strings.TrimSuffix(host, p) == hostport && strings.HasSuffix(host, p) {
			return true
		}
	}
	return false
}

// ContentTypeIs reports whether strings.ToLower(string(ct)) starts with
// prefix (lower-case ASCII), without that string for the usual ASCII ct.
func ContentTypeIs(ct []byte, prefix string) bool {
	for _, b := range ct {
		if b >= utf8.RuneSelf {
			// ToLower maps some non-ASCII letters to ASCII ones (U+0130 to
			// 'i', U+212A to 'k').
			return strings.HasPrefix(strings.ToLower(string(ct)), prefix)
		}
	}
	return len(ct) >= len(prefix) && bytes.EqualFold(ct[:len(prefix)], []byte(prefix))
}
