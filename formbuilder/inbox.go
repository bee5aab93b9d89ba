package formbuilder

import (
	"context"
	"encoding/json"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Submission exports: the inbox of a form as CSV (one column per field) or
// NDJSON (the Submission JSON per line), streamed like the consent log's.

// submissionMetaColumns come before the field columns of a CSV export;
// OtherValuesColumn comes last.
var submissionMetaColumns = []string{"id", "time", "subject", "page_url", "ip"}

// OtherValuesColumn holds, as JSON, the values of keys that are no longer
// fields of the form (a field removed after submissions came in), so an
// export never silently drops answers.
const OtherValuesColumn = "other_values"

// MultiValueSeparator joins the values of a checkbox group in one CSV cell,
// as spreadsheets of form tools usually show them. NDJSON keeps the list.
const MultiValueSeparator = ", "

// SubmissionCSVColumns returns the header row of a CSV export of form:
// id, time, subject, page_url, ip, one column per field key in the form's
// order, then other_values. A field whose key equals one of the fixed
// column names is headed "field.KEY", so every header is unique.
func SubmissionCSVColumns(form *Form) []string {
	fixed := map[string]bool{OtherValuesColumn: true}
	for _, c := range submissionMetaColumns {
		fixed[c] = true
	}
	cols := append([]string{}, submissionMetaColumns...)
	for _, f := range form.Fields {
		name := f.Key
		if fixed[name] {
			name = "field." + name
		}
		cols = append(cols, name)
	}
	return append(cols, OtherValuesColumn)
}

// SubmissionEncoder writes submissions in one export format. Encode
// buffers; Flush hands what is buffered to the writer (and writes the CSV
// header even when nothing came, so an empty export is a valid file).
type SubmissionEncoder interface {
	Encode(s *Submission) error
	Flush() error
}

// NewSubmissionEncoder returns the encoder of format for form's
// submissions, or an EINVALID error naming "format".
func NewSubmissionEncoder(format string, form *Form, w io.Writer) (SubmissionEncoder, error) {
	switch format {
	case FormatCSV:
		return NewSubmissionCSVEncoder(form, w), nil
	case FormatNDJSON:
		return NewSubmissionNDJSONEncoder(w), nil
	}
	return nil, FieldError("format", MsgEither, "a", "csv", "b", "ndjson")
}

// SubmissionCSVEncoder writes the header of SubmissionCSVColumns and one
// row per submission. Every cell is neutralised against formula injection
// (visitors type the values; a spreadsheet must not run them).
type SubmissionCSVEncoder struct {
	csvTable
	keys   map[string]bool
	fields []string
	row    []string
}

// NewSubmissionCSVEncoder returns a CSV encoder for form's submissions.
func NewSubmissionCSVEncoder(form *Form, w io.Writer) *SubmissionCSVEncoder {
	e := &SubmissionCSVEncoder{csvTable: newCSVTable(w, SubmissionCSVColumns(form)), keys: map[string]bool{}}
	for _, f := range form.Fields {
		e.fields = append(e.fields, f.Key)
		e.keys[f.Key] = true
	}
	e.row = make([]string, 0, len(e.header))
	return e
}

// Encode implements SubmissionEncoder.
func (e *SubmissionCSVEncoder) Encode(s *Submission) error {
	row := append(e.row[:0],
		strconv.FormatInt(s.ID, 10),
		s.CreatedAt.UTC().Format(time.RFC3339),
		s.Subject,
		s.PageURL,
		s.IP,
	)
	for _, k := range e.fields {
		row = append(row, strings.Join(s.Values[k], MultiValueSeparator))
	}
	other, err := e.otherValues(s)
	if err != nil {
		return err
	}
	row = append(row, other)
	e.row = row
	return e.write(row)
}

// otherValues returns the JSON of the values whose keys are not fields of
// the form, or "" when there are none.
func (e *SubmissionCSVEncoder) otherValues(s *Submission) (string, error) {
	var extra map[string][]string
	for k, v := range s.Values {
		if !e.keys[k] {
			if extra == nil {
				extra = map[string][]string{}
			}
			extra[k] = v
		}
	}
	if extra == nil {
		return "", nil
	}
	b, err := json.Marshal(extra)
	return string(b), err
}

// SubmissionNDJSONEncoder writes the JSON of each Submission on a line of
// its own; JSON escapes line breaks inside values, so a line is always one
// submission.
type SubmissionNDJSONEncoder struct{ ndjson }

// NewSubmissionNDJSONEncoder returns an NDJSON encoder writing to w.
func NewSubmissionNDJSONEncoder(w io.Writer) *SubmissionNDJSONEncoder {
	return &SubmissionNDJSONEncoder{newNDJSON(w)}
}

// Encode implements SubmissionEncoder.
func (e *SubmissionNDJSONEncoder) Encode(s *Submission) error {
	if s.Values == nil {
		c := *s
		c.Values = map[string][]string{}
		s = &c
	}
	return e.enc.Encode(s)
}

// ExportSubmissions streams every submission of f (f.FormID must be
// form's), oldest first, to w in format and returns how many it wrote. It
// flushes every ExportFlushRows rows, and w too when it has a Flush method,
// so memory stays flat however many there are. progress, when not nil, is
// called after each flush with the count so far.
func ExportSubmissions(ctx context.Context, r SubmissionReader, f SubmissionFilter, form *Form, format string,
	w io.Writer, progress func(rows int64)) (int64, error) {
	enc, err := NewSubmissionEncoder(format, form, w)
	if err != nil {
		return 0, err
	}
	f.FormID = form.ID
	return streamRows(ctx, w, enc, progress, func(each func(*Submission) error) error {
		return r.ExportSubmissions(ctx, f, each)
	})
}

// LabeledValue is one answer of a submission under its field's label, for
// the inbox and notification mails.
type LabeledValue struct {
	Key    string
	Label  string
	Kind   FieldKind
	Values []string
}

// LabeledValues returns the values of s in the order of form's fields,
// labelled (a hidden field, which has no label, by its key), followed by
// values whose keys are no longer fields, sorted by key and labelled by it.
// Fields without a value are included with no Values when all is true.
func LabeledValues(form *Form, s *Submission, all bool) []LabeledValue {
	out := make([]LabeledValue, 0, len(form.Fields))
	seen := make(map[string]bool, len(form.Fields))
	for _, f := range form.Fields {
		seen[f.Key] = true
		v := s.Values[f.Key]
		if len(v) == 0 && !all {
			continue
		}
		label := strings.TrimSpace(f.Label)
		if label == "" {
			label = f.Key
		}
		out = append(out, LabeledValue{Key: f.Key, Label: label, Kind: f.Kind, Values: v})
	}
	var extra []string
	for k := range s.Values {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		out = append(out, LabeledValue{Key: k, Label: k, Values: s.Values[k]})
	}
	return out
}
