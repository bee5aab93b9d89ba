package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// requestIDPrefix makes request ids unique across restarts: fasthttp's
// request ids (connection number, request number on it) only are within
// one process.
var requestIDPrefix = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// HdrRequestID is the canonical name of the X-Request-Id header.
var HdrRequestID = []byte(fiber.HeaderXRequestID)

// AppendRequestID appends the id of c's request to dst.
func AppendRequestID(dst []byte, c *fiber.Ctx) []byte {
	dst = append(dst, requestIDPrefix...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, c.Context().ID(), 36)
}

// RequestID is the id of c's request, as its X-Request-Id header and the
// log lines about it show it. Computed where needed rather than stored:
// only error paths need it as a string.
func RequestID(c *fiber.Ctx) string { return string(AppendRequestID(make([]byte, 0, 32), c)) }
