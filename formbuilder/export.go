package formbuilder

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Export formats of the consent log.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// ExportContentType returns the MIME type of an export format.
func ExportContentType(format string) string {
	if format == FormatNDJSON {
		return "application/x-ndjson; charset=utf-8"
	}
	return "text/csv; charset=utf-8"
}

// ValidExportFormat reports whether format is FormatCSV or FormatNDJSON.
func ValidExportFormat(format string) bool {
	return format == FormatCSV || format == FormatNDJSON
}

// CSVColumns is the header row of a CSV export. The names are the JSON names
// of ConsentRecord, so both formats read alike, plus pre_ticked_untouched,
// which spells out the weak-evidence case (Planet49) for whoever opens the
// file in a spreadsheet without knowing the rule, and the document the
// label linked to: its SHA-256 and the URL of exactly that file. Then the
// double opt-in columns: confirm_by of a given consent that needs
// confirmation, confirms_id of a confirmation. Columns added later come
// last, so an export made before they existed is the same file without
// them (CSVDecoder reads each of those).
var CSVColumns = []string{
	"id", "time", "action", "consent_id", "consent_name", "version_id", "version", "text_hash",
	"form_id", "form_key", "channel_id", "source", "page_url", "user_id", "user", "ip",
	"user_agent", "subject", "initial_state", "interacted", "pre_ticked_untouched",
	"submission_id", "withdraws_id", "prev_hash", "hash", "document_sha256", "document_url",
	"confirm_by", "confirms_id",
}

// csvColumnsV1 is the header of exports made before documents, and
// csvColumnsV2 that of exports made before double opt-in.
var (
	csvColumnsV1 = CSVColumns[:25]
	csvColumnsV2 = CSVColumns[:27]
)

// DocumentURL is the URL of the document r's label linked to, below the
// server's base URL base ("" when none, the path alone when base is "").
func (r *ConsentRecord) DocumentURL(base string) string {
	if r.Document == nil {
		return ""
	}
	return base + r.Document.Path()
}

// NeutraliseCell defuses spreadsheet formulas (CSV injection): a cell that
// starts with = + - @, a tab or a carriage return is read by Excel and
// LibreOffice as a formula, so it gets a leading apostrophe, which makes it
// text. A cell that starts with an apostrophe gets one too, so the escape is
// unambiguous: UnneutraliseCell removes exactly one leading apostrophe and
// every value round-trips, including subjects like "'quoted".
func NeutraliseCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

// UnneutraliseCell undoes NeutraliseCell.
func UnneutraliseCell(s string) string {
	return strings.TrimPrefix(s, "'")
}

// RecordEncoder writes consent log entries in one export format. Encode
// buffers; Flush hands what is buffered to the underlying writer (and
// writes the CSV header even when no entry came, so an empty export is
// still a valid file).
type RecordEncoder interface {
	Encode(r *ConsentRecord) error
	Flush() error
}

// NewRecordEncoder returns the encoder of format writing to w; document
// links are below base, the server's public URL (a path alone when base is
// ""). EINVALID for an unknown format.
func NewRecordEncoder(format string, w io.Writer, base string) (RecordEncoder, error) {
	switch format {
	case FormatCSV:
		return NewCSVEncoder(w, base), nil
	case FormatNDJSON:
		return NewNDJSONEncoder(w, base), nil
	}
	return nil, FieldError("format", MsgEither, "a", "csv", "b", "ndjson")
}

// csvTable is what the CSV encoders share: encoding/csv (RFC 4180 quoting
// of commas, quotes and line breaks), the header written once, also for an
// export without rows (so it is still a valid file), and every cell
// neutralised against formula injection.
type csvTable struct {
	w      *csv.Writer
	header []string
	wrote  bool
}

func newCSVTable(w io.Writer, header []string) csvTable {
	return csvTable{w: csv.NewWriter(w), header: header}
}

func (t *csvTable) writeHeader() error {
	if t.wrote {
		return nil
	}
	t.wrote = true
	return t.w.Write(t.header)
}

// write writes row (after the header), neutralising its cells in place.
func (t *csvTable) write(row []string) error {
	if err := t.writeHeader(); err != nil {
		return err
	}
	for i, c := range row {
		row[i] = NeutraliseCell(c)
	}
	return t.w.Write(row)
}

// Flush writes out what is buffered (and the header, if no row came); it
// implements the encoders' Flush.
func (t *csvTable) Flush() error {
	if err := t.writeHeader(); err != nil {
		return err
	}
	t.w.Flush()
	return t.w.Error()
}

// refCell writes an optional reference: absent ones (no form for a chat
// consent, no withdrawal) are empty cells rather than a misleading 0.
func refCell(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// CSVEncoder writes a header row and one row per entry. Times are RFC 3339
// UTC with nanoseconds, so each row still carries what its hash covers.
type CSVEncoder struct {
	csvTable
	base string
	row  []string
}

// NewCSVEncoder returns a CSV encoder writing to w, with document links
// below base.
func NewCSVEncoder(w io.Writer, base string) *CSVEncoder {
	return &CSVEncoder{csvTable: newCSVTable(w, CSVColumns), base: base, row: make([]string, len(CSVColumns))}
}

// Encode implements RecordEncoder.
func (e *CSVEncoder) Encode(r *ConsentRecord) error {
	ref := refCell
	row := e.row[:0]
	row = append(row,
		strconv.FormatInt(r.ID, 10),
		r.Time.UTC().Format(time.RFC3339Nano),
		r.Action,
		strconv.FormatInt(r.ConsentID, 10),
		r.ConsentName,
		strconv.FormatInt(r.VersionID, 10),
		strconv.Itoa(r.VersionNo),
		r.TextHash,
		ref(r.FormID),
		r.FormKey,
		ref(r.ChannelID),
		r.Source,
		r.PageURL,
		ref(r.UserID),
		r.User,
		r.IP,
		r.UserAgent,
		r.Subject,
		strconv.FormatBool(r.InitialState),
		strconv.FormatBool(r.Interacted),
		strconv.FormatBool(r.PreTickedUntouched()),
		ref(r.SubmissionID),
		ref(r.WithdrawsID),
		r.PrevHash,
		r.Hash,
		docHash(r),
		r.DocumentURL(e.base),
		csvTime(r.ConfirmBy),
		ref(r.ConfirmsID),
	)
	return e.write(row)
}

// csvTime is t as in the time column, or an empty cell for no time.
func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func docHash(r *ConsentRecord) string {
	if r.Document == nil {
		return ""
	}
	return r.Document.SHA256
}

// exportedRecord is the JSON of an entry in exports: the ConsentRecord's
// own fields plus the pre-ticked-untouched flag and the URL of the
// document the label linked to.
type exportedRecord struct {
	*ConsentRecord
	PreTickedUntouched bool   `json:"pre_ticked_untouched"`
	DocumentURL        string `json:"document_url,omitempty"`
}

// NDJSONEncoder writes one JSON object per line: the ConsentRecord JSON
// plus "pre_ticked_untouched" and, when the label linked to a document,
// "document_url". JSON escapes line breaks inside strings, so a line is
// always exactly one entry.
type NDJSONEncoder struct {
	ndjson
	base string
}

// ndjson is the buffered JSON-lines writer both NDJSON encoders use.
type ndjson struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

func newNDJSON(w io.Writer) ndjson {
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	// Not HTML: keep <, > and & readable for people grepping the file.
	enc.SetEscapeHTML(false)
	return ndjson{bw: bw, enc: enc}
}

// Flush writes out what is buffered; it implements RecordEncoder and
// SubmissionEncoder.
func (e *ndjson) Flush() error { return e.bw.Flush() }

// NewNDJSONEncoder returns an NDJSON encoder writing to w, with document
// links below base.
func NewNDJSONEncoder(w io.Writer, base string) *NDJSONEncoder {
	return &NDJSONEncoder{ndjson: newNDJSON(w), base: base}
}

// Encode implements RecordEncoder.
func (e *NDJSONEncoder) Encode(r *ConsentRecord) error {
	return e.enc.Encode(exportedRecord{ConsentRecord: r, PreTickedUntouched: r.PreTickedUntouched(),
		DocumentURL: r.DocumentURL(e.base)})
}

// ExportFlushRows is how many entries Export writes between flushes: often
// enough that a download shows progress and a stalled client is noticed,
// rarely enough that flushing costs nothing measurable.
const ExportFlushRows = 512

// Export streams every entry of log matching f, oldest first, to w in
// format, and returns how many it wrote. It flushes the encoder every
// ExportFlushRows entries and at the end; when w has a Flush method
// (bufio.Writer, an HTTP stream) that is called too, so data leaves the
// process as it is produced and memory stays flat whatever the log's size.
// progress, when not nil, is called after each flush with the count so far.
// f.BeforeID, f.AfterID and f.Limit bound the export as ExportRecords does.
// Document links are below base, the server's public URL.
func Export(ctx context.Context, log ConsentLog, f RecordFilter, format, base string, w io.Writer,
	progress func(rows int64)) (int64, error) {
	enc, err := NewRecordEncoder(format, w, base)
	if err != nil {
		return 0, err
	}
	return streamRows(ctx, w, enc, progress, func(each func(*ConsentRecord) error) error {
		return log.ExportRecords(ctx, f, each)
	})
}

// rowEncoder is what the record and the submission encoders share.
type rowEncoder[T any] interface {
	Encode(T) error
	Flush() error
}

// streamRows feeds every row that iterate yields to enc, flushing the
// encoder and w every ExportFlushRows rows (and at the end) so a download
// moves on at a steady pace and memory stays flat; progress hears the count
// at each flush.
func streamRows[T any](ctx context.Context, w io.Writer, enc rowEncoder[T], progress func(rows int64),
	iterate func(each func(T) error) error) (int64, error) {
	flusher, _ := w.(interface{ Flush() error })
	var n int64
	flush := func() error {
		if err := enc.Flush(); err != nil {
			return err
		}
		if flusher != nil {
			if err := flusher.Flush(); err != nil {
				return err
			}
		}
		if progress != nil {
			progress(n)
		}
		return nil
	}
	err := iterate(func(row T) error {
		if err := enc.Encode(row); err != nil {
			return err
		}
		n++
		if n%ExportFlushRows == 0 {
			return flush()
		}
		return ctx.Err()
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// CSVDecoder reads a CSV export back into entries, undoing the formula
// neutralisation. With it an archived export can be checked later: each
// entry's Hash can be recomputed with ComputeHash. One loss: encoding/csv
// reads a CR LF inside a quoted value as LF (the file itself keeps it), so a
// value with CR LF comes back changed; NDJSON has no such loss. Our own
// values hardly carry one: subjects, IPs and page URLs are validated and
// HTTP headers cannot hold line breaks.
type CSVDecoder struct {
	r      *csv.Reader
	header bool
	line   int
}

// NewCSVDecoder returns a decoder reading the CSV export in r.
func NewCSVDecoder(r io.Reader) *CSVDecoder {
	cr := csv.NewReader(r)
	// The header says whether the document columns are there; every row
	// has as many cells as the header (encoding/csv checks, from the first
	// row on).
	cr.FieldsPerRecord = 0
	cr.ReuseRecord = true
	return &CSVDecoder{r: cr}
}

// Decode returns the next entry, or io.EOF after the last. The header row
// must match CSVColumns.
func (d *CSVDecoder) Decode() (*ConsentRecord, error) {
	if !d.header {
		head, err := d.r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("csv export: no header row")
			}
			return nil, err
		}
		want := CSVColumns
		switch len(head) {
		case len(csvColumnsV1):
			want = csvColumnsV1
		case len(csvColumnsV2):
			want = csvColumnsV2
		}
		if len(head) != len(want) {
			return nil, fmt.Errorf("csv export: %d columns, want %d", len(head), len(want))
		}
		for i, c := range want {
			if head[i] != c {
				return nil, fmt.Errorf("csv export: column %d is %q, want %q", i+1, head[i], c)
			}
		}
		d.header = true
	}
	row, err := d.r.Read()
	if err != nil {
		return nil, err
	}
	d.line++
	var r ConsentRecord
	var bad string
	cell := func(i int) string { return UnneutraliseCell(row[i]) }
	i64 := func(i int) int64 {
		s := cell(i)
		if s == "" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil && bad == "" {
			bad = CSVColumns[i]
		}
		return n
	}
	bl := func(i int) bool {
		v, err := strconv.ParseBool(cell(i))
		if err != nil && bad == "" {
			bad = CSVColumns[i]
		}
		return v
	}
	r.ID = i64(0)
	t, err := time.Parse(time.RFC3339Nano, cell(1))
	if err != nil {
		bad = "time"
	}
	r.Time = t.UTC()
	r.Action = cell(2)
	r.ConsentID = i64(3)
	r.ConsentName = cell(4)
	r.VersionID = i64(5)
	r.VersionNo = int(i64(6))
	r.TextHash = cell(7)
	r.FormID = i64(8)
	r.FormKey = cell(9)
	r.ChannelID = i64(10)
	r.Source = cell(11)
	r.PageURL = cell(12)
	r.UserID = i64(13)
	r.User = cell(14)
	r.IP = cell(15)
	r.UserAgent = cell(16)
	r.Subject = cell(17)
	r.InitialState = bl(18)
	r.Interacted = bl(19)
	_ = bl(20) // pre_ticked_untouched is derived
	r.SubmissionID = i64(21)
	r.WithdrawsID = i64(22)
	r.PrevHash = cell(23)
	r.Hash = cell(24)
	if len(row) > 25 {
		// document_url follows from the hash and the server's address.
		if h := cell(25); h != "" {
			r.Document = &Document{SHA256: h}
		}
	}
	if len(row) > 27 {
		if c := cell(27); c != "" {
			t, err := time.Parse(time.RFC3339Nano, c)
			if err != nil && bad == "" {
				bad = "confirm_by"
			}
			r.ConfirmBy = t.UTC()
		}
		r.ConfirmsID = i64(28)
	}
	if bad != "" {
		return nil, fmt.Errorf("csv export: row %d: bad %s", d.line, bad)
	}
	return &r, nil
}

// ParseTimeBound reads a date filter: RFC 3339 ("2026-03-01T12:00:00Z") or
// a plain date ("2026-03-01", taken as UTC). A plain date used as the upper
// bound (end true) means the whole day, so it returns the next midnight:
// RecordFilter.Until is exclusive, and "until 2026-03-01" should include
// that day. Empty input gives the zero time (no bound).
func ParseTimeBound(s string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) == len("2006-01-02") {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return time.Time{}, NewError(EINVALID, MsgTimeBound)
		}
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, NewError(EINVALID, MsgTimeBound)
	}
	return t.UTC(), nil
}
