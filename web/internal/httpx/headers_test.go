package httpx

import (
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestContentTypeIsMatchesToLower(t *testing.T) {
	for _, ct := range []string{
		"", "application/json", "Application/JSON; charset=utf-8", "APPLICATION/X-WWW-FORM-URLENCODED",
		"multipart/form-data; boundary=x", "application/jso", "text/plain", "applİcation/json", "multipart/form-data\xff",
		"application/x-www-form-urlencoded", "ＡPPLICATION/JSON", "application/json\u212a",
	} {
		for _, prefix := range []string{fiber.MIMEApplicationJSON, fiber.MIMEApplicationForm, fiber.MIMEMultipartForm} {
			want := strings.HasPrefix(strings.ToLower(ct), prefix)
			if got := ContentTypeIs([]byte(ct), prefix); got != want {
				t.Errorf("ContentTypeIs(%q, %q) = %v, want %v", ct, prefix, got, want)
			}
		}
	}
}
