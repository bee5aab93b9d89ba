package web_test

import (
	"bytes"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// withLog sends the app's log at level to buf.
func withLog(buf io.Writer, level slog.Level) testenv.Option {
	return testenv.WithConfig(func(c *web.Config) {
		c.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}))
	})
}

// TestFrame checks the one middleware every request passes: a request id
// on every answer, unique per request, and a panic in a handler turned
// into a 500 that shows nothing of the panic, with the id, the panic and
// its stack in the log.
func TestFrame(t *testing.T) {
	var logs syncBuffer
	e := newPerfEnvWith(t, withLog(&logs, slog.LevelInfo))
	e.App().Get("/test-panic", func(c *fiber.Ctx) error { panic("secret detail 42") })

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
		resp, body := e.Get("/test-panic", "Accept", accept)
		assert.Equal(t, 500, resp.StatusCode, accept)
		assert.NotContains(t, body, "secret detail", accept)
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

// TestFavicon: the icon request every browser makes gets an empty,
// cacheable answer instead of a 404.
func TestFavicon(t *testing.T) {
	e := newPerfEnv(t)
	resp, body := e.get("/favicon.ico")
	assert.Equal(t, 204, resp.StatusCode)
	assert.Empty(t, body)
	assert.Equal(t, "public, max-age=86400", resp.Header.Get("Cache-Control"))
}
