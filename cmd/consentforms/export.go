package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// cmdExport streams the consent log, oldest first, as CSV or NDJSON to
// stdout or a file. Memory stays flat whatever the log's size: entries are
// read in batches and written as they come.
func cmdExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("consents export")
	dbPath := dbFlag(fs)
	format := fs.String("format", formbuilder.FormatCSV, "csv or ndjson")
	formKey := fs.String("form", "", "only entries of the form with this key")
	consentID := fs.Int64("consent", 0, "only entries of the consent with this id")
	since := fs.String("since", "", "only entries from this date (YYYY-MM-DD, UTC) or RFC 3339 time on")
	until := fs.String("until", "", "only entries up to this date (inclusive) or before this RFC 3339 time")
	out := fs.String("out", "", "write to this file instead of stdout (written to FILE.partial, renamed when complete)")
	baseURL := fs.String("base-url", "", "public URL of the server, for the document_url column (default: the path /d/… alone)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("consents export takes no arguments, got %q", fs.Arg(0))
	}
	if !formbuilder.ValidExportFormat(*format) {
		return usageError("--format must be csv or ndjson")
	}
	if *consentID < 0 {
		return usageError("--consent must be a consent id")
	}
	base := strings.TrimRight(strings.TrimSpace(*baseURL), "/")
	if base != "" {
		if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError("--base-url must be an http(s) URL such as https://forms.example.com")
		}
	}
	var f formbuilder.RecordFilter
	f.ConsentID = *consentID
	var err error
	if f.Since, err = formbuilder.ParseTimeBound(*since, false); err != nil {
		return usageError("--since %s", formbuilder.ErrorMessage(err))
	}
	if f.Until, err = formbuilder.ParseTimeBound(*until, true); err != nil {
		return usageError("--until %s", formbuilder.ErrorMessage(err))
	}
	db, err := openExistingDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if *formKey != "" {
		form, err := db.FindFormByKey(ctx, *formKey)
		if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
			return exitError{code: 1, msg: fmt.Sprintf("no form with key %q", *formKey)}
		}
		if err != nil {
			return err
		}
		f.FormID = form.ID
	}

	var dst io.Writer = stdout
	var file *os.File
	if *out != "" {
		// A partial file is never mistaken for a complete export: the data
		// goes to FILE.partial, renamed only after the last byte was synced.
		file, err = os.OpenFile(*out+".partial", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer func() {
			if file != nil {
				file.Close()
				os.Remove(file.Name())
			}
		}()
		dst = file
	}
	bw := bufio.NewWriterSize(dst, 64<<10)
	cw := &countWriter{w: bw}

	start := time.Now()
	prog := newProgress(stderr, start)
	n, err := formbuilder.Export(ctx, db, f, *format, base, cw, prog.update)
	prog.done()
	if err != nil {
		return fmt.Errorf("export stopped after %d entries: %w", n, err)
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return err
		}
		if err := file.Close(); err != nil {
			return err
		}
		if err := os.Rename(file.Name(), *out); err != nil {
			return err
		}
		file = nil
	}
	dest := "stdout"
	if *out != "" {
		dest = filepath.Clean(*out)
	}
	el := time.Since(start)
	fmt.Fprintf(stderr, "exported %d entries (%s, %s) to %s in %s (%s entries/s)\n",
		n, *format, fmtBytes(cw.n), dest, el.Round(time.Millisecond), fmtCount(rate(n, el)))
	return nil
}

// countWriter counts the bytes written, for the progress line, and passes
// Flush through so Export's periodic flushes reach the file or pipe.
type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) Flush() error { return c.w.Flush() }

// progress draws "rows written, rate" on stderr when stderr is a terminal,
// at most ten times a second, redrawing one line with \r. Redirected to a
// file or pipe it draws nothing: only the final summary line goes there,
// so logs of scheduled exports stay readable.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, start time.Time) *progress {
	return &progress{w: w, tty: isTerminal(w), start: start}
}

// isTerminal reports whether w is a character device (a terminal). No
// extra dependency: os.File.Stat's mode is enough on Unix and Windows.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) update(rows int64) {
	if !p.tty {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	p.drawn = true
	el := now.Sub(p.start)
	fmt.Fprintf(p.w, "\r%s %s entries  %s entries/s  %s ", spinner(el), fmtCount(rows),
		fmtCount(rate(rows, el)), el.Round(time.Second))
}

// done clears the progress line before the summary is printed.
func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func spinner(el time.Duration) string {
	frames := []string{"|", "/", "-", "\\"}
	return frames[int(el/(100*time.Millisecond))%len(frames)]
}

func rate(rows int64, el time.Duration) int64 {
	if el <= 0 {
		return rows
	}
	return int64(float64(rows) / el.Seconds())
}

// fmtCount writes n with thousands separators: 1,234,567.
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
