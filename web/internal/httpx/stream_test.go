package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveStreams runs a Fiber app with the given routes on a real loopback
// connection (app.Test does not run stream writers like a server does).
func serveStreams(t *testing.T, routes func(app *fiber.App, s *Streams)) (string, *Streams, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	s := NewStreams(slog.New(slog.NewTextHandler(logs, nil)))
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	routes(app, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		s.Close()
		_ = app.ShutdownWithTimeout(5 * time.Second)
	})
	return "http://" + ln.Addr().String(), s, logs
}

// TestStreamsDownload: a download that fails after its first rows ends with
// the marker line and a broken chunked body, a panic in it is recovered
// and logged with its stack, and a good one arrives whole.
func TestStreamsDownload(t *testing.T) {
	base, _, logs := serveStreams(t, func(app *fiber.App, s *Streams) {
		app.Get("/ok", func(c *fiber.Ctx) error {
			return s.Download(c, "test export", "x.csv", formbuilder.FormatCSV, func(ctx context.Context, w io.Writer) (int64, error) {
				_, err := io.WriteString(w, "a,b\n1,2\n")
				return 1, err
			})
		})
		app.Get("/fail", func(c *fiber.Ctx) error {
			return s.Download(c, "test export", "x.ndjson", formbuilder.FormatNDJSON, func(ctx context.Context, w io.Writer) (int64, error) {
				_, _ = io.WriteString(w, "{\"id\":1}\n")
				return 1, errors.New("disk on fire")
			})
		})
		app.Get("/panic", func(c *fiber.Ctx) error {
			return s.Download(c, "test export", "x.csv", formbuilder.FormatCSV, func(ctx context.Context, w io.Writer) (int64, error) {
				panic("stream bug 7")
			})
		})
	})
	resp, err := http.Get(base + "/ok")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, "a,b\n1,2\n", string(body))
	assert.Equal(t, `attachment; filename="x.csv"`, resp.Header.Get("Content-Disposition"))

	for path, marker := range map[string]string{"/fail": `{"error":"export incomplete`, "/panic": "# ERROR export incomplete"} {
		// Depending on how soon it fails, the answer breaks before its
		// headers or within its body; never does it end like a whole file.
		resp, err := http.Get(base + path)
		if err != nil {
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Error(t, err, "%s: the client sees a broken download", path)
		if len(body) > 0 {
			assert.Contains(t, string(body), marker, path)
		}
	}
	out := logs.String()
	assert.Contains(t, out, "disk on fire")
	assert.Contains(t, out, `msg="panic in test export"`)
	assert.Contains(t, out, "stream bug 7")
	assert.Contains(t, out, "stream_test.go", "the stack is logged")
}

// TestStreamsCloseCancels: Close cancels the context of a running stream,
// so a shutdown does not wait for an event stream that never ends.
func TestStreamsCloseCancels(t *testing.T) {
	started := make(chan struct{})
	ended := make(chan error, 1)
	base, s, _ := serveStreams(t, func(app *fiber.App, s *Streams) {
		app.Get("/events", func(c *fiber.Ctx) error {
			s.Stream(c, "test stream", func(ctx context.Context, w *Writer) error {
				_, _ = w.WriteString("data: hi\n\n")
				_ = w.Flush()
				close(started)
				<-ctx.Done()
				ended <- ctx.Err()
				return nil
			}, nil)
			return nil
		})
	})
	resp, err := http.Get(base + "/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	<-started
	s.Close()
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end on Close")
	}
}
