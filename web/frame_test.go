package web

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFrame checks the one middleware every request passes: a request id
// on every answer, unique per request, and a panic in a handler turned
// into a 500 that shows nothing of the panic, with the id, the panic and
// its stack in the log.
func TestFrame(t *testing.T) {
	e := newPerfEnv(t)
	var logs bytes.Buffer
	e.srv.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.srv.App().Get("/test-panic", func(c *fiber.Ctx) error { panic("secret detail 42") })

	idRE := regexp.MustCompile(`^[0-9a-f]{12}-[0-9a-z]+$`)
	seen := map[string]bool{}
	for range 3 {
		resp, _ := e.get("/f/" + e.form.Key)
		require.Equal(t, 200, resp.StatusCode)
		id := resp.Header.Get("X-Request-Id")
		assert.Regexp(t, idRE, id)
		assert.False(t, seen[id], "request id %s repeated", id)
		seen[id] = true
	}
	assert.Empty(t, logs.String(), "a 200 at info level logs nothing")

	for _, accept := range []string{"application/json", "text/html"} {
		req := httptest.NewRequest("GET", "/test-panic", nil)
		req.Header.Set("Accept", accept)
		resp, err := e.srv.App().Test(req, -1)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 500, resp.StatusCode, accept)
		assert.NotContains(t, string(body), "secret detail", accept)
		id := resp.Header.Get("X-Request-Id")
		require.Regexp(t, idRE, id)
		out := logs.String()
		assert.Contains(t, out, `msg=panic`)
		assert.Contains(t, out, "secret detail 42")
		assert.Contains(t, out, "request_id="+id)
		assert.Contains(t, out, "frame_test.go", "the stack is logged")
		assert.Contains(t, out, "status=500", "the access log line names the status")
		assert.Equal(t, 3, strings.Count(out, "request_id="+id), "panic, error and access lines: %s", out)
		logs.Reset()
	}
}

// TestRecoverStream: a panic in a body stream writer (a goroutine of
// fasthttp's, outside frame) is logged with its stack and goes no further.
func TestRecoverStream(t *testing.T) {
	e := newPerfEnv(t)
	var logs bytes.Buffer
	e.srv.log = slog.New(slog.NewTextHandler(&logs, nil))
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer e.srv.recoverStream("test stream", "abc-1")
		panic("stream bug 7")
	}()
	<-done
	out := logs.String()
	assert.Contains(t, out, `msg="panic in test stream"`)
	assert.Contains(t, out, "stream bug 7")
	assert.Contains(t, out, "request_id=abc-1")
	assert.Contains(t, out, "frame_test.go", "the stack is logged")
}

// TestFavicon: the icon request every browser makes gets an empty,
// cacheable answer instead of a 404.
func TestFavicon(t *testing.T) {
	e := newPerfEnv(t)
	resp, body := e.get("/favicon.ico")
	assert.Equal(t, 204, resp.StatusCode)
	assert.Empty(t, body)
	assert.Equal(t, "public, max-age=86400", resp.Header.Get("Cache-Control"))
}
