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

// ErrorBody is the inside of ErrorJSON. Message and Fields are sentences:
// English on the API, in the page's language on the visitors' routes.
// MessageCode, Params and FieldCodes say the same by message code, for
// clients that translate themselves.
type ErrorBody struct {
	Code        string                     `json:"code"`
	Message     string                     `json:"message"`
	MessageCode formbuilder.MsgCode        `json:"message_code,omitempty"`
	Params      map[string]string          `json:"params,omitempty"`
	Fields      map[string]string          `json:"fields,omitempty"`
	FieldCodes  map[string]formbuilder.Msg `json:"field_codes,omitempty"`
}

// Problem is an error as a client may see it: status, code, the message by
// code (and, for Fiber's own errors, Fiber's English text) and the
// per-field messages.
type Problem struct {
	Status int
	Code   string
	Msg    formbuilder.Msg
	// Message is the English text; for Fiber's own errors Fiber's words
	// ("Cannot GET /x"), which Msg says only in general.
	Message string
	Fields  map[string]formbuilder.Msg
}

// ProblemOf maps err to what a client may see: domain errors by their code,
// Fiber's own errors (404, 405, 413 …) by their status, bodies that could
// not be decoded as 400, anything else as an
// internal error whose text never leaves the server.
func ProblemOf(err error) Problem {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		p := Problem{Status: fe.Code, Code: codeOf(fe.Code), Msg: statusMsg(fe), Message: fe.Message}
		if p.Status >= 500 {
			p.Message = p.Msg.String()
		}
		return p
	}
	code := formbuilder.ErrorCode(err)
	m := formbuilder.ErrorMsg(err)
	p := Problem{Status: StatusOf(code), Code: code, Msg: m, Message: m.String(), Fields: formbuilder.ErrorFieldMsgs(err)}
	if errors.Is(err, ErrBadJSON) {
		p.Status = fiber.StatusBadRequest
	}
	return p
}

// statusMsg says what Fiber's own error fe means: in general by its
// status, with Fiber's (English, technical) words as the detail of a 400.
func statusMsg(fe *fiber.Error) formbuilder.Msg {
	status := fe.Code
	switch status {
	case fiber.StatusNotFound:
		return formbuilder.M(formbuilder.MsgNotFoundPage)
	case fiber.StatusMethodNotAllowed:
		return formbuilder.M(formbuilder.MsgMethodNotAllowed)
	case fiber.StatusUnsupportedMediaType:
		return formbuilder.M(formbuilder.MsgSendJSON)
	case fiber.StatusBadRequest:
		return formbuilder.M(formbuilder.MsgBadRequest, "detail", SafeForMessage(fe.Message))
	case fiber.StatusRequestEntityTooLarge:
		return formbuilder.M(formbuilder.MsgTooLarge)
	}
	if status >= 500 {
		return formbuilder.M(formbuilder.MsgInternal)
	}
	return formbuilder.M(formbuilder.MsgError)
}

// LogInternal logs err with the request it failed, for answers of 500 and
// above; the client only ever sees "internal error" and the request id.
func LogInternal(log *slog.Logger, c *fiber.Ctx, err error) {
	log.Error("internal error", "method", c.Method(), "path", c.Path(), "err", err.Error(),
		"request_id", RequestID(c))
}

// SendJSONError answers p as ErrorJSON: in English on the API, in the
// page's language (LangOf) elsewhere, with the message codes beside.
func SendJSONError(c *fiber.Ctx, p Problem) error {
	if p.Status == fiber.StatusTooManyRequests && c.GetRespHeader(fiber.HeaderRetryAfter) == "" {
		c.Set(fiber.HeaderRetryAfter, "60")
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	b := ErrorBody{Code: p.Code, Message: p.Message, MessageCode: p.Msg.Code, Params: p.Msg.Params,
		FieldCodes: p.Fields}
	lang := formbuilder.LangEN
	if !strings.HasPrefix(c.Path(), "/api/") {
		lang = LangOf(c)
		b.Message = p.Msg.Text(lang)
	}
	if len(p.Fields) > 0 {
		b.Fields = make(map[string]string, len(p.Fields))
		for k, m := range p.Fields {
			b.Fields[k] = m.Text(lang)
		}
	}
	return c.Status(p.Status).JSON(ErrorJSON{Error: b})
}

// localLang is the Locals key of the language of the page a request is
// about (SetLang).
const localLang = "cf_lang"

// SetLang says that the request concerns a page in lang (a form's or a
// channel's language), so that its errors speak it too.
func SetLang(c *fiber.Ctx, lang string) { c.Locals(localLang, formbuilder.Lang(lang)) }

// LangOf is the language to answer c's visitor in: the page's (SetLang),
// else the one the browser prefers.
func LangOf(c *fiber.Ctx) string {
	if l, ok := c.Locals(localLang).(string); ok && l != "" {
		return l
	}
	return formbuilder.NegotiateLang(c.Get(fiber.HeaderAcceptLanguage))
}

// VisitorErrors answers the errors of the routes visitors and embedded
// pages use (forms, withdrawals, chat, assets) and of paths no route
// matches: JSON when the client asked for it, else a small page of the
// widget's, in the page's language or else the browser's.
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
	lang := LangOf(c)
	msg := p.Msg.Text(lang)
	page, rerr := e.Widget.MessagePage(lang, titleFor(lang, p.Status), msg, c.Query("embed") == "1")
	if rerr != nil {
		return c.Status(p.Status).SendString(msg)
	}
	SetPublicPageHeaders(c, PublicCSP(nil))
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(p.Status).Send(page)
}

// titleFor is the heading of a visitor's error page.
func titleFor(lang string, status int) string {
	switch status {
	case fiber.StatusNotFound:
		return formbuilder.T(lang, "error.title.not_found")
	case fiber.StatusGone:
		return formbuilder.T(lang, "error.title.gone")
	case fiber.StatusTooManyRequests:
		return formbuilder.T(lang, "error.title.too_many")
	}
	if status >= 500 {
		return formbuilder.T(lang, "error.title.internal")
	}
	return formbuilder.T(lang, "error.title.error")
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
func BadRequest(msg formbuilder.MsgCode, kv ...string) error {
	return formbuilder.NewError(formbuilder.EINVALID, msg, kv...)
}

// SafeForMessage cuts a client-supplied string to something that can be
// quoted in an error message: at most 100 bytes of valid UTF-8.
func SafeForMessage(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.ToValidUTF8(s, "?")
}
