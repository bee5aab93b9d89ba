package httpx

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// StreamWriteTimeout is how long one flush of a streamed body may take.
// Fiber's WriteTimeout is set once for the whole response, which would cut
// off any download or event stream longer than that; a stream pushes the
// deadline on at each flush instead, so a slow but live client gets
// everything and a stalled one is dropped.
const StreamWriteTimeout = 30 * time.Second

// Streams runs the bodies of streamed responses (exports, event streams).
// It is the one place that owns what they share: the write deadline per
// flush, recovery from a panic (fasthttp runs stream writers in a goroutine
// of its own, outside any middleware, where a panic would end the server),
// the abort of a broken download, and cancellation when the server shuts
// down.
type Streams struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
}

// NewStreams returns a Streams that logs to log.
func NewStreams(log *slog.Logger) *Streams {
	ctx, cancel := context.WithCancel(context.Background())
	return &Streams{log: log, ctx: ctx, cancel: cancel}
}

// Close cancels the context of every running and future stream: exports
// stop at their next row, event streams end. A graceful shutdown calls it
// first, or it would wait for streams that never end.
func (s *Streams) Close() { s.cancel() }

// Done is closed once Close was called.
func (s *Streams) Done() <-chan struct{} { return s.ctx.Done() }

// Writer is the body of a streamed response: each Flush extends the
// connection's write deadline before pushing the data on.
type Writer struct {
	w    *bufio.Writer
	conn net.Conn
}

// Write buffers p.
func (w *Writer) Write(p []byte) (int, error) { return w.w.Write(p) }

// WriteString buffers s.
func (w *Writer) WriteString(s string) (int, error) { return w.w.WriteString(s) }

// Flush sends what is buffered, allowing StreamWriteTimeout for it.
func (w *Writer) Flush() error {
	if w.conn != nil {
		_ = w.conn.SetWriteDeadline(time.Now().Add(StreamWriteTimeout))
	}
	return w.w.Flush()
}

// breakConn makes the response end broken: a write deadline in the past
// makes fasthttp's next write on the connection fail, so a chunked response
// never gets its final chunk and clients report an incomplete download.
// Unlike Close, it cannot panic the server. The stream writer runs beside
// the handler, and fasthttp sets its own deadline once the handler has
// returned, just before it writes the response; a stream that fails at once
// could be first, so the past deadline is set again for a while. The final
// chunk only goes out after the writer returns, into the past deadline.
func (w *Writer) breakConn() {
	if w.conn == nil {
		return
	}
	for i := 0; i < 25; i++ {
		_ = w.conn.SetWriteDeadline(time.Unix(1, 0))
		time.Sleep(10 * time.Millisecond)
	}
	_ = w.conn.SetWriteDeadline(time.Unix(1, 0))
}

// Stream makes c's body what write produces, sent as it is produced, after
// the handler returned; everything write needs must be taken from c now,
// because c goes back to Fiber's pool. ctx is cancelled when the server
// shuts down. A panic in write is recovered and logged with its stack. When
// write fails (or panics), the failure is logged and, when abort is set, it
// writes a last word before the connection is broken so the client sees an
// incomplete response rather than a complete-looking one.
func (s *Streams) Stream(c *fiber.Ctx, what string, write func(ctx context.Context, w *Writer) error,
	abort func(w *Writer, reqID string)) {
	conn, reqID, logger, ctx := c.Context().Conn(), RequestID(c), s.log, s.ctx
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		w := &Writer{w: bw, conn: conn}
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					logger.Error("panic in "+what, "panic", r, "request_id", reqID, "stack", string(debug.Stack()))
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return write(ctx, w)
		}()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			logger.Info(what+" ended by shutdown", "request_id", reqID)
		} else {
			logger.Error(what+" aborted", "err", err.Error(), "request_id", reqID)
		}
		if abort != nil {
			abort(w, reqID)
			_ = w.Flush()
			w.breakConn()
		}
	})
}

// Download answers with a file named name in export format (CSV or NDJSON)
// that export writes as it reads: chunked, constant memory whatever the
// size. Callers check the filter before, while a status can still be sent;
// an error after the first byte ends the file with a line that marks it
// incomplete and a broken chunked stream.
func (s *Streams) Download(c *fiber.Ctx, what, name, format string,
	export func(ctx context.Context, w io.Writer) (int64, error)) error {
	c.Set(fiber.HeaderContentType, formbuilder.ExportContentType(format))
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if c.Method() == fiber.MethodHead {
		return nil
	}
	// One response per connection: a failed download must not be followed
	// by another request on a connection in an unknown state.
	c.Context().SetConnectionClose()
	s.Stream(c, what, func(ctx context.Context, w *Writer) error {
		n, err := export(ctx, w)
		if err != nil {
			return fmt.Errorf("%s after %d rows: %w", format, n, err)
		}
		return nil
	}, func(w *Writer, reqID string) { WriteExportAbort(w, format, reqID) })
	return nil
}

// WriteExportAbort writes the line that marks a failed export incomplete:
// a comment line for CSV, an object with an "error" member for NDJSON
// (export rows never have one).
func WriteExportAbort(w io.Writer, format, reqID string) {
	msg := "export incomplete: internal error (request " + reqID + ")"
	if format == formbuilder.FormatNDJSON {
		b, _ := json.Marshal(map[string]string{"error": msg})
		_, _ = w.Write(append(b, '\n'))
	} else {
		_, _ = w.Write([]byte("\n# ERROR " + msg + "\n"))
	}
}
