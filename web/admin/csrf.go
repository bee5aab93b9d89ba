package admin

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// CSRF defence for the admin UI has three layers, each enough against a
// plain cross-site form post:
//
//  1. the session cookie is SameSite=Lax, so browsers do not send it on
//     cross-site POSTs;
//  2. checkSameOrigin refuses POSTs whose Sec-Fetch-Site or Origin header
//     names another site (every current browser sends at least one);
//  3. checkCSRF demands the session's secret token in the hidden _csrf field
//     (or the X-CSRF-Token header for the progressive JS).
//
// The sign-in form has no session yet; it uses a signed double-submit
// cookie instead (loginCSRF), which stops login CSRF.

// csrfHeader carries the token for fetch() calls of admin.js.
const csrfHeader = "X-CSRF-Token"

// loginCookie holds the random value the sign-in form's token is signed over.
const loginCookie = "cf_login"

func isSafeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

var errCrossSite = formbuilder.NewError(formbuilder.EFORBIDDEN, formbuilder.MsgCrossSite)

var errBadCSRF = formbuilder.NewError(formbuilder.EFORBIDDEN, formbuilder.MsgBadCSRF)

// checkSameOrigin refuses state-changing requests that the browser says
// come from another site. Requests without either header (old browsers,
// scripts) still need the CSRF token.
func (s *Server) checkSameOrigin(c *fiber.Ctx) error {
	if isSafeMethod(c.Method()) {
		return c.Next()
	}
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default: // same-site, cross-site
		return errCrossSite
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" && !httpx.IsSelfOrigin(c, s.BaseURL, o) {
		return errCrossSite
	}
	return c.Next()
}

// checkCSRF demands the session's token on every state-changing request.
// It runs after requireSession.
func (s *Server) checkCSRF(c *fiber.Ctx) error {
	if isSafeMethod(c.Method()) {
		return c.Next()
	}
	a := currentAdmin(c)
	if a == nil {
		return errBadCSRF
	}
	tok := c.Get(csrfHeader)
	if tok == "" {
		tok = bodyValue(c, "_csrf")
	}
	if !httpx.SameToken(tok, a.sess.CSRF) {
		return errBadCSRF
	}
	return c.Next()
}

// loginCSRF returns the token for the sign-in form, setting the cookie it
// is bound to when the browser has none yet.
func (s *Server) loginCSRF(c *fiber.Ctx) string {
	v := c.Cookies(loginCookie)
	if !validSessionToken(v) {
		v = httpx.NewSecret(sessionTokenBytes)
		c.Cookie(&fiber.Cookie{
			Name:     loginCookie,
			Value:    v,
			Path:     "/admin/login",
			HTTPOnly: true,
			Secure:   s.secureCookies(),
			SameSite: fiber.CookieSameSiteStrictMode,
		})
	}
	return s.Signer.Sign("login-csrf", v)
}

// checkLoginCSRF verifies the sign-in form's token against its cookie.
func (s *Server) checkLoginCSRF(c *fiber.Ctx) bool {
	v := c.Cookies(loginCookie)
	tok := bodyValue(c, "_csrf")
	return validSessionToken(v) && tok != "" && s.Signer.Verify(tok, "login-csrf", v)
}

// bodyValue returns the first value of name in a posted form body
// (url-encoded or multipart), never from the query string: c.FormValue
// falls back to the query, and a token in a URL ends up in logs, history
// and Referer headers, and would let a link carry it.
func bodyValue(c *fiber.Ctx, name string) string {
	if httpx.ContentTypeIs(c.Request().Header.ContentType(), fiber.MIMEMultipartForm) {
		mf, err := c.MultipartForm()
		if err != nil || len(mf.Value[name]) == 0 {
			return ""
		}
		return mf.Value[name][0]
	}
	return string(c.Request().PostArgs().Peek(name))
}
