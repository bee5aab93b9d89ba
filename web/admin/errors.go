package admin

import (
	"errors"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// errorPage renders err as an admin page in the reader's language; only
// client-safe messages show.
func (s *Server) errorPage(c *fiber.Ctx, err error) error {
	status, msg := fiber.StatusInternalServerError, formbuilder.M(formbuilder.MsgSomethingWrong)
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
		switch status {
		case fiber.StatusNotFound:
			msg = formbuilder.M(formbuilder.MsgPageMissing)
		case fiber.StatusMethodNotAllowed:
			msg = formbuilder.M(formbuilder.MsgMethodRefused)
		default:
			if status < 500 {
				msg = httpx.ProblemOf(err).Msg
			}
		}
	} else {
		code := formbuilder.ErrorCode(err)
		status = httpx.StatusOf(code)
		if status < 500 {
			msg = formbuilder.ErrorMsg(err)
		}
	}
	if status >= 500 {
		httpx.LogInternal(s.Log, c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	v := &view{Title: s.tr(c, statusTitle(status)), Error: msg, Data: status}
	if rerr := s.render(c, status, "error", v); rerr != nil {
		return err
	}
	return nil
}

// statusTitle is the catalog key of the error page's heading for status.
func statusTitle(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "error.title.not_found"
	case fiber.StatusForbidden:
		return "error.title.forbidden"
	case fiber.StatusMethodNotAllowed:
		return "error.title.method"
	case fiber.StatusConflict:
		return "error.title.conflict"
	case fiber.StatusGone:
		return "error.title.gone"
	case fiber.StatusTooManyRequests:
		return "error.title.too_many"
	}
	if status >= 500 {
		return "error.title.internal"
	}
	return "error.title.error"
}
