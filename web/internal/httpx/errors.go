package httpx

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// StatusOf maps a domain error code to an HTTP status.
func StatusOf(code string) int {
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

// ErrorJSON is the JSON shape of every error answer.
type ErrorJSON struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of ErrorJSON.
type ErrorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Problem is an error as a client may see it: status, code, a safe
// message and the per-field messages.
type Problem struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string
}

// ProblemOf maps err to what a client may see: domain errors by their code,
// Fiber's own errors (404, 405, 413 …) by their status, bodies that could
// not be decoded as 400, anything else as an
// internal error whose text never leaves the server.
func ProblemOf(err error) Problem {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		p := Problem{Status: fe.Code, Code: codeOf(fe.Code), Message: fe.Message}
		if p.Status >= 500 {
			p.Message = "internal error"
		}
		return p
	}
	code := formbuilder.ErrorCode(err)
	p := Problem{Status: StatusOf(code), Code: code, Message: formbuilder.ErrorMessage(err),
		Fields: formbuilder.ErrorFields(err)}
	if errors.Is(err, ErrBadJSON) {
		p.Status = fiber.StatusBadRequest
	}
	return p
}

// LogInternal logs err with the request it failed, for answers of 500 and
// above; the client only ever sees "internal error" and the request id.
func LogInternal(log *slog.Logger, c *fiber.Ctx, err error) {
	log.Error("internal error", "method", c.Method(), "path", c.Path(), "err", err.Error(),
		"request_id", RequestID(c))
}

// SendJSONError answers p as ErrorJSON.
func SendJSONError(c *fiber.Ctx, p Problem) error {
	if p.Status == fiber.StatusTooManyRequests && c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
		c.Set(fiber.HeaderRetryAfter, "60")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(p.Status).JSON(ErrorJSON{Error: ErrorBody{Code: p.Code, Message: p.Message, Fields: p.Fields}})
}

// VisitorErrors answers the errors of the routes visitors and embedded
// pages use (forms, withdrawals, chat, assets) and of paths no route
// matches: JSON when the client asked for it, else a small page of the
// widget's, in German when the browser prefers it.
type VisitorErrors struct {
	Log    *slog.Logger
	Widget *widget.Renderer
}

// Handle answers err.
func (e *VisitorErrors) Handle(c *fiber.Ctx, err error) error {
	p := ProblemOf(err)
	if p.Status >= 500 {
		LogInternal(e.Log, c, err)
	}
	if WantsJSON(c) {
		return SendJSONError(c, p)
	}
	if p.Status == fiber.StatusTooManyRequests && c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
		c.Set(fiber.HeaderRetryAfter, "60")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	lang := "en"
	if strings.HasPrefix(c.Get(fiber.HeaderAcceptLanguage), "de") {
		lang = "de"
	}
	page, rerr := e.Widget.MessagePage(lang, titleFor(lang, p.Status), p.Message, c.Query("embed") == "1")
	if rerr != nil {
		return c.Status(p.Status).SendString(p.Message)
	}
	SetPublicPageHeaders(c, PublicCSP(nil))
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(p.Status).Send(page)
}

func titleFor(lang string, status int) string {
	switch status {
	case fiber.StatusNotFound:
		return IfLang(lang, "Nicht gefunden", "Not found")
	case fiber.StatusGone:
		return IfLang(lang, "Nicht mehr verfügbar", "No longer available")
	case fiber.StatusTooManyRequests:
		return IfLang(lang, "Zu viele Anfragen", "Too many requests")
	}
	if status >= 500 {
		return IfLang(lang, "Etwas ist schiefgegangen", "Something went wrong")
	}
	return IfLang(lang, "Fehler", "Error")
}

// IfLang returns de for German and en for every other language.
func IfLang(lang, de, en string) string {
	if lang == "de" {
		return de
	}
	return en
}

// WantsJSON reports whether the client asked for JSON: the API, a JSON body,
// or an Accept header that prefers it.
func WantsJSON(c *fiber.Ctx) bool {
	if strings.HasPrefix(c.Path(), "/api/") {
		return true
	}
	if strings.HasPrefix(string(c.Request().Header.ContentType()), fiber.MIMEApplicationJSON) {
		return true
	}
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// BadRequest is an EINVALID error with a message for the whole request.
func BadRequest(msg string) error { return formbuilder.Errorf(formbuilder.EINVALID, "%s", msg) }

// SafeForMessage cuts a client-supplied string to something that can be
// quoted in an error message: at most 100 bytes of valid UTF-8.
func SafeForMessage(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.ToValidUTF8(s, "?")
}
