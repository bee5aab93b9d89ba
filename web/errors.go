package web

import (
	"errors"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// statusOf maps a domain error code to an HTTP status.
func statusOf(code string) int {
	switch code {
	case formbuilder.EINVALID:
		return fiber.StatusUnprocessableEntity
	case formbuilder.ENOTFOUND:
		return fiber.StatusNotFound
	case formbuilder.ECONFLICT:
		return fiber.StatusConflict
	case formbuilder.EUNAUTHORIZED:
		return fiber.StatusUnauthorized
	case formbuilder.EFORBIDDEN:
		return fiber.StatusForbidden
	case formbuilder.ERATELIMIT:
		return fiber.StatusTooManyRequests
	case formbuilder.ETOOLARGE:
		return fiber.StatusRequestEntityTooLarge
	case formbuilder.EGONE:
		return fiber.StatusGone
	}
	return fiber.StatusInternalServerError
}

// codeOf maps an HTTP status (from Fiber's own errors) to a domain code.
func codeOf(status int) string {
	switch status {
	case fiber.StatusBadRequest, fiber.StatusUnprocessableEntity, fiber.StatusUnsupportedMediaType:
		return formbuilder.EINVALID
	case fiber.StatusNotFound:
		return formbuilder.ENOTFOUND
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusConflict:
		return formbuilder.ECONFLICT
	case fiber.StatusUnauthorized:
		return formbuilder.EUNAUTHORIZED
	case fiber.StatusForbidden:
		return formbuilder.EFORBIDDEN
	case fiber.StatusTooManyRequests:
		return formbuilder.ERATELIMIT
	case fiber.StatusRequestEntityTooLarge:
		return formbuilder.ETOOLARGE
	case fiber.StatusGone:
		return formbuilder.EGONE
	}
	if status >= 500 {
		return formbuilder.EINTERNAL
	}
	return "error"
}

// apiError is the JSON shape of every error answer.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// handleError is the one error handler: it maps codes to statuses, logs
// internal errors with their detail and shows clients only safe messages.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status, code, msg := fiber.StatusInternalServerError, formbuilder.EINTERNAL, "internal error"
	var fields map[string]string
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status, code, msg = fe.Code, codeOf(fe.Code), fe.Message
		if status >= 500 {
			msg = "internal error"
		}
	} else {
		code = formbuilder.ErrorCode(err)
		status = statusOf(code)
		msg = formbuilder.ErrorMessage(err)
		fields = formbuilder.ErrorFields(err)
	}
	if status >= 500 {
		s.log.Error("internal error", "method", c.Method(), "path", c.Path(), "err", err.Error(),
			"request_id", requestID(c))
	}
	if status == fiber.StatusTooManyRequests && c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
		c.Set(fiber.HeaderRetryAfter, "60")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if wantsJSON(c) {
		return c.Status(status).JSON(apiError{Error: apiErrorBody{Code: code, Message: msg, Fields: fields}})
	}
	lang := "en"
	if strings.HasPrefix(c.Get(fiber.HeaderAcceptLanguage), "de") {
		lang = "de"
	}
	page, rerr := s.widget.MessagePage(lang, titleFor(lang, status), msg, c.Query("embed") == "1")
	if rerr != nil {
		return c.Status(status).SendString(msg)
	}
	setPublicPageHeaders(c, nil)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(page)
}

func titleFor(lang string, status int) string {
	switch status {
	case fiber.StatusNotFound:
		return ifLang(lang, "Nicht gefunden", "Not found")
	case fiber.StatusGone:
		return ifLang(lang, "Nicht mehr verfügbar", "No longer available")
	case fiber.StatusTooManyRequests:
		return ifLang(lang, "Zu viele Anfragen", "Too many requests")
	}
	if status >= 500 {
		return ifLang(lang, "Etwas ist schiefgegangen", "Something went wrong")
	}
	return ifLang(lang, "Fehler", "Error")
}

func ifLang(lang, de, en string) string {
	if lang == "de" {
		return de
	}
	return en
}

// wantsJSON reports whether the client asked for JSON: the API, a JSON body,
// or an Accept header that prefers it.
func wantsJSON(c *fiber.Ctx) bool {
	if strings.HasPrefix(c.Path(), "/api/") {
		return true
	}
	if strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		return true
	}
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}
