package admin

import (
	"errors"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// errorPage renders err as an admin page; only client-safe messages show.
func (s *Server) errorPage(c *fiber.Ctx, err error) error {
	status, msg := fiber.StatusInternalServerError, "Something went wrong. The error was logged; please try again."
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
		switch status {
		case fiber.StatusNotFound:
			msg = "This page does not exist."
		case fiber.StatusMethodNotAllowed:
			msg = "This address does not accept that kind of request."
		default:
			if status < 500 {
				msg = fe.Message
			}
		}
	} else {
		code := formbuilder.ErrorCode(err)
		status = httpx.StatusOf(code)
		if status < 500 {
			msg = formbuilder.ErrorMessage(err)
		}
	}
	if status >= 500 {
		httpx.LogInternal(s.Log, c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	v := &view{Title: statusTitle(status), Error: msg, Data: status}
	if rerr := s.render(c, status, "error", v); rerr != nil {
		return err
	}
	return nil
}

func statusTitle(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "Not found"
	case fiber.StatusForbidden:
		return "Not allowed"
	case fiber.StatusMethodNotAllowed:
		return "Method not allowed"
	case fiber.StatusConflict:
		return "Changed meanwhile"
	case fiber.StatusGone:
		return "No longer available"
	case fiber.StatusTooManyRequests:
		return "Too many requests"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "Error"
}
