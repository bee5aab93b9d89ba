package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/internal/testdoc"
	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exportLog is a database file with a varied consent log, written through
// the real submission path.
type exportLog struct {
	// path opens the database (a file path or a postgres:// URL); raw is
	// a plain connection to it as its owner.
	path         string
	raw          *sql.DB
	formA, formB *formbuilder.Form
	privacy      *formbuilder.Consent
	news         *formbuilder.Consent
	recs         []*formbuilder.ConsentRecord // oldest first
}

// stepClock moves 11 hours per reading, so entries spread over days.
func stepClock() func() time.Time {
	t := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(11 * time.Hour)
		return t
	}
}

func newExportLog(t *testing.T) *exportLog {
	t.Helper()
	ctx := context.Background()
	fresh := testdb.Open(t, testdb.Options{Clock: stepClock()})
	l := &exportLog{path: fresh.DSN, raw: fresh.Raw()}
	db := fresh.Store
	var err error

	u := &formbuilder.User{Email: "owner@example.com", Name: "@Owner, \"the\" boss"}
	require.NoError(t, db.CreateUser(ctx, u))
	mk := func(name, text string) *formbuilder.Consent {
		c := formbuilder.ConsentContent{Text: "<p>" + text + "</p>", Label: "I agree to %this%.", Language: "en"}
		c.Sanitize()
		co := &formbuilder.Consent{Name: name, Type: formbuilder.ConsentCustom}
		require.NoError(t, db.CreateConsent(ctx, co, c, "test"))
		return co
	}
	l.privacy = mk("=Privacy", "We process your data.")
	l.news = mk("Newsletter", "News, monthly.")
	l.formA = &formbuilder.Form{Name: "+Contact, \"A\"", Language: "en",
		Fields:            []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents:          []formbuilder.FormConsent{{ConsentID: l.privacy.ID, Required: true}, {ConsentID: l.news.ID}},
		ResponsibleUserID: u.ID}
	require.NoError(t, db.CreateForm(ctx, l.formA))
	l.formB = &formbuilder.Form{Name: "Phone line", Language: "en",
		Fields:   []formbuilder.Field{{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: l.news.ID, Required: true}}}
	require.NoError(t, db.CreateForm(ctx, l.formB))
	l.formA, err = db.FindFormByID(ctx, l.formA.ID)
	require.NoError(t, err)
	l.formB, err = db.FindFormByID(ctx, l.formB.ID)
	require.NoError(t, err)

	type sub struct {
		form       *formbuilder.Form
		subject    string
		ua, page   string
		initial    bool
		interacted bool
		news       bool
	}
	subs := []sub{
		{l.formA, "=HYPERLINK@example.com", `=HYPERLINK("http://x.example","x")`, "https://shop.example/", true, false, false},
		{l.formA, "+1@example.com", "-2", "https://shop.example/?a=1,2", false, true, true},
		{l.formB, "+49 30 1234567", "@SUM(1+1)", "", true, true, false},
		{l.formA, "-2@example.com", "line one\nline two, \"quoted\"", "https://shop.example/ü", true, false, true},
		{l.formA, "jürgen@exämple.com", "ünïcödé 日本語", "", false, true, false},
		{l.formB, "(030) 1234567", "\tTabbed", "", false, true, false},
		{l.formA, "'quoted@example.com", "'apostrophe", "", true, false, false},
	}
	for i, s := range subs {
		in := formbuilder.SubmissionInput{Values: map[string][]string{}, Consents: map[int64]formbuilder.ConsentInput{},
			PageURL: s.page, IP: "203.0.113." + strconv.Itoa(i+1), UserAgent: s.ua}
		ci := formbuilder.ConsentInput{Checked: true, Touched: formbuilder.TouchOf(s.interacted)}
		// Every box was shown as s says (what the render token records).
		in.Shown = map[int64]bool{l.privacy.ID: s.initial, l.news.ID: s.initial}
		if s.form.ID == l.formA.ID {
			in.Values["email"] = []string{s.subject}
			in.Consents[l.privacy.ID] = ci
			if s.news {
				in.Consents[l.news.ID] = ci
			}
		} else {
			in.Values["phone"] = []string{s.subject}
			in.Consents[l.news.ID] = ci
		}
		stored, recs, err := formbuilder.ValidateSubmission(s.form, in)
		require.NoError(t, err, "submission %d", i)
		require.NoError(t, db.CreateSubmission(ctx, stored, recs))
	}
	_, err = db.Withdraw(ctx, 1, "192.0.2.1", "withdrawing")
	require.NoError(t, err)
	require.NoError(t, db.ExportRecords(ctx, formbuilder.RecordFilter{}, func(r *formbuilder.ConsentRecord) error {
		l.recs = append(l.recs, r)
		return nil
	}))
	// ListRecords sees the same log, newest first.
	page, err := db.ListRecords(ctx, formbuilder.RecordFilter{Limit: formbuilder.MaxPageSize})
	require.NoError(t, err)
	require.Len(t, page, len(l.recs))
	for i := range page {
		require.Equal(t, l.recs[len(l.recs)-1-i], page[i])
	}
	return l
}

func (l *exportLog) filter(keep func(r *formbuilder.ConsentRecord) bool) []*formbuilder.ConsentRecord {
	var out []*formbuilder.ConsentRecord
	for _, r := range l.recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// runExport runs `consentforms consents export args… --db path` and returns
// the exit code, stdout and stderr.
func runExport(t *testing.T, path string, args ...string) (int, []byte, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(append([]string{"consents", "export"}, args...), "--db", path), &out, &errOut)
	return code, out.Bytes(), errOut.String()
}

func parseCSVExport(t *testing.T, data []byte) []*formbuilder.ConsentRecord {
	t.Helper()
	var out []*formbuilder.ConsentRecord
	dec := formbuilder.NewCSVDecoder(bytes.NewReader(data))
	for {
		r, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, r)
	}
}

func parseNDJSONExport(t *testing.T, data []byte) []*formbuilder.ConsentRecord {
	t.Helper()
	var out []*formbuilder.ConsentRecord
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r formbuilder.ConsentRecord
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		r.Time = r.Time.UTC()
		out = append(out, &r)
	}
	return out
}

func requireSameEntries(t *testing.T, want, got []*formbuilder.ConsentRecord) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, *want[i], *got[i], "entry %d", want[i].ID)
		assert.Equal(t, got[i].Hash, got[i].ComputeHash(), "entry %d still matches its hash", got[i].ID)
	}
}

func TestExportCommandRoundTrip(t *testing.T) {
	l := newExportLog(t)

	code, out, stderr := runExport(t, l.path, "--format", "csv")
	require.Equal(t, 0, code, stderr)
	requireSameEntries(t, l.recs, parseCSVExport(t, out))
	// The raw cells: formula-like values start with an apostrophe, and no
	// cell starts with a formula character.
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, formbuilder.CSVColumns, rows[0])
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" {
				assert.NotContains(t, "=+-@\t\r", cell[:1], "cell %q", cell)
			}
		}
	}
	s := string(out)
	for _, v := range []string{"'=HYPERLINK@example.com", "'+1@example.com", "'-2@example.com", "'+49 30 1234567",
		"'@SUM(1+1)", "'=Privacy", "''quoted@example.com", "''apostrophe", "\"'+Contact, \"\"A\"\"\"",
		"\"'@Owner, \"\"the\"\" boss\"", "'\tTabbed", "\"'=HYPERLINK(\"\"http://x.example\"\",\"\"x\"\")\""} {
		assert.Contains(t, s, v)
	}
	// Not a terminal: no progress drawing, one summary line.
	assert.NotContains(t, stderr, "\r")
	assert.Regexp(t, `^exported `+strconv.Itoa(len(l.recs))+` entries \(csv, [0-9.]+ KiB\) to stdout in .* entries/s\)\n$`, stderr)

	code, out, stderr = runExport(t, l.path, "--format", "ndjson")
	require.Equal(t, 0, code, stderr)
	requireSameEntries(t, l.recs, parseNDJSONExport(t, out))
	assert.Equal(t, len(l.recs), strings.Count(string(out), "\n"), "one line per entry")
}

func TestExportCommandFilters(t *testing.T) {
	l := newExportLog(t)
	day := func(r *formbuilder.ConsentRecord) string { return r.Time.UTC().Format("2006-01-02") }
	d2, d3 := day(l.recs[0]), day(l.recs[len(l.recs)-1])
	require.NotEqual(t, d2, d3, "the log spans several days")
	cases := []struct {
		args []string
		keep func(r *formbuilder.ConsentRecord) bool
	}{
		{[]string{"--form", l.formB.Key}, func(r *formbuilder.ConsentRecord) bool { return r.FormID == l.formB.ID }},
		{[]string{"--consent", strconv.FormatInt(l.news.ID, 10)}, func(r *formbuilder.ConsentRecord) bool { return r.ConsentID == l.news.ID }},
		{[]string{"--form", l.formA.Key, "--consent", strconv.FormatInt(l.news.ID, 10)}, func(r *formbuilder.ConsentRecord) bool {
			return r.ConsentID == l.news.ID && r.FormID == l.formA.ID
		}},
		{[]string{"--since", d3}, func(r *formbuilder.ConsentRecord) bool { return day(r) >= d3 }},
		{[]string{"--until", d2}, func(r *formbuilder.ConsentRecord) bool { return day(r) <= d2 }},
		{[]string{"--since", l.recs[2].Time.Format(time.RFC3339Nano), "--until", l.recs[5].Time.Format(time.RFC3339Nano)},
			func(r *formbuilder.ConsentRecord) bool {
				return !r.Time.Before(l.recs[2].Time) && r.Time.Before(l.recs[5].Time)
			}},
	}
	for _, tc := range cases {
		want := l.filter(tc.keep)
		require.NotEmpty(t, want, "%v", tc.args)
		require.Less(t, len(want), len(l.recs), "%v", tc.args)
		for _, format := range []string{"csv", "ndjson"} {
			code, out, stderr := runExport(t, l.path, append([]string{"--format", format}, tc.args...)...)
			require.Equal(t, 0, code, "%v: %s", tc.args, stderr)
			if format == "csv" {
				requireSameEntries(t, want, parseCSVExport(t, out))
			} else {
				requireSameEntries(t, want, parseNDJSONExport(t, out))
			}
		}
	}
}

func TestExportCommandToFile(t *testing.T) {
	l := newExportLog(t)
	dst := filepath.Join(t.TempDir(), "log.ndjson")
	code, out, stderr := runExport(t, l.path, "--format", "ndjson", "--out", dst)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, out, "nothing on stdout")
	assert.Contains(t, stderr, "to "+dst)
	data, err := os.ReadFile(dst)
	require.NoError(t, err)
	requireSameEntries(t, l.recs, parseNDJSONExport(t, data))
	_, err = os.Stat(dst + ".partial")
	assert.True(t, os.IsNotExist(err), "the partial file was renamed")
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "personal data: readable by the owner only")

	// A failing export leaves no file behind.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	code, _, _ = runExport(t, l.path, "--format", "csv", "--out", bad, "--form", "nosuchformkey12")
	assert.Equal(t, 1, code)
	_, err = os.Stat(bad)
	assert.True(t, os.IsNotExist(err))
	_, err = os.Stat(bad + ".partial")
	assert.True(t, os.IsNotExist(err))
}

func TestExportCommandUsage(t *testing.T) {
	l := newExportLog(t)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--format", "xlsx"}, 2, "--format must be csv or ndjson"},
		{[]string{"--since", "yesterday"}, 2, "--since"},
		{[]string{"--until", "2026-02-30"}, 2, "--until"},
		{[]string{"--consent", "-1"}, 2, "--consent"},
		{[]string{"extra"}, 2, "no arguments"},
		{[]string{"--form", "nosuchformkey12"}, 1, `no form with key "nosuchformkey12"`},
	} {
		code, out, stderr := runExport(t, l.path, tc.args...)
		assert.Equal(t, tc.code, code, "%v", tc.args)
		assert.Contains(t, stderr, tc.msg, "%v", tc.args)
		assert.Empty(t, out, "%v", tc.args)
	}
	// An empty selection is a valid file with the header only.
	code, out, _ := runExport(t, l.path, "--consent", "999")
	require.Equal(t, 0, code)
	assert.Equal(t, strings.Join(formbuilder.CSVColumns, ",")+"\n", string(out))
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, time.Now().Add(-time.Second))
	p.update(1000)
	p.done()
	assert.Empty(t, buf.String(), "a buffer is not a terminal")
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a regular file is not a terminal")
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		assert.True(t, isTerminal(tty))
	}
	// Drawn, the line shows count and rate.
	p = &progress{w: &buf, tty: true, start: time.Now().Add(-2 * time.Second)}
	p.update(123456)
	p.done()
	assert.Regexp(t, `^\r. 123,456 entries  [0-9,]+ entries/s  2s \r\x1b\[K$`, buf.String())
	assert.Equal(t, "1,234,567", fmtCount(1234567))
	assert.Equal(t, "999", fmtCount(999))
}

// TestVerifyCommandFindsEditedRow edits an entry the way someone with full
// access to the database could (the SQLite file and its shell, or the
// tables' owner on PostgreSQL): switch the update trigger off, change a
// subject. verify must fail and name that entry.
func TestVerifyCommandFindsEditedRow(t *testing.T) {
	verifyFindsEditedRow(t)
}

// TestVerifyCommandFindsChangedDocument: someone with full access to the
// database switches the documents' triggers off and changes a byte of a
// stored PDF; verify fails and names the document and the first entry that
// pointed at it.
func TestVerifyCommandFindsChangedDocument(t *testing.T) {
	l := newExportLog(t)
	ctx := context.Background()
	db, err := openDB(l.path)
	require.NoError(t, err)
	doc, err := formbuilder.NewDocument("document", "privacy.pdf", testdoc.PDF("Privacy policy"))
	require.NoError(t, err)
	_, err = db.UpdateConsent(ctx, l.news, formbuilder.ConsentContent{Text: "<p>News, monthly.</p>", Label: "I agree to %this%.",
		Language: "en", Document: doc}, "test")
	require.NoError(t, err)
	form, err := db.FindFormByID(ctx, l.formB.ID)
	require.NoError(t, err)
	sub, recs, err := formbuilder.ValidateSubmission(form, formbuilder.SubmissionInput{Values: map[string][]string{"phone": {"+49 30 1234567"}},
		Consents: map[int64]formbuilder.ConsentInput{l.news.ID: {Checked: true}}})
	require.NoError(t, err)
	require.NoError(t, db.CreateSubmission(ctx, sub, recs))
	require.NoError(t, db.Close())
	var out, errOut strings.Builder
	require.Equal(t, 0, run(ctx, []string{"consents", "verify", "--db", l.path}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "consent log ok")

	// The export names the document and links it below --base-url.
	out.Reset()
	require.Equal(t, 0, run(ctx, []string{"consents", "export", "--db", l.path, "--base-url", "https://forms.example.com/"}, &out, &errOut), errOut.String())
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	require.NoError(t, err)
	last := rows[len(rows)-1]
	docCols := slices.Index(rows[0], "document_sha256")
	require.Equal(t, "document_url", rows[0][docCols+1])
	assert.Equal(t, []string{doc.SHA256, "https://forms.example.com/d/" + doc.SHA256 + ".pdf"}, last[docCols:docCols+2])
	assert.Equal(t, []string{"", ""}, rows[1][docCols:docCols+2], "entries of versions without a document")
	errOut.Reset()
	assert.Equal(t, 2, run(ctx, []string{"consents", "export", "--db", l.path, "--base-url", "ftp://x"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "--base-url must be an http(s) URL")

	raw := l.raw
	changed := bytes.Replace(doc.Data, []byte("Privacy"), []byte("Pirates"), 1)
	const edit = "UPDATE consent_documents SET data = $1 WHERE sha256 = $2"
	_, err = raw.ExecContext(ctx, edit, changed, doc.SHA256)
	require.ErrorContains(t, err, "immutable", "the trigger refuses the edit while it exists")
	off := "DROP TRIGGER consent_documents_no_update"
	if testdb.Current() == testdb.Postgres {
		off = "ALTER TABLE consent_documents DISABLE TRIGGER USER"
	}
	_, err = raw.ExecContext(ctx, off)
	require.NoError(t, err)
	_, err = raw.ExecContext(ctx, edit, changed, doc.SHA256)
	require.NoError(t, err)

	out.Reset()
	errOut.Reset()
	assert.Equal(t, 1, run(ctx, []string{"consents", "verify", "--db", l.path}, &out, &errOut))
	assert.Contains(t, errOut.String(), "consent log broken at entry "+strconv.FormatInt(recs[0].ID, 10)+":")
	assert.Contains(t, errOut.String(), "document "+doc.SHA256)
	assert.Contains(t, errOut.String(), "the file was changed")
	assert.Empty(t, out.String())
}

func verifyFindsEditedRow(t *testing.T) {
	l := newExportLog(t)
	ctx := context.Background()
	var out, errOut strings.Builder
	require.Equal(t, 0, run(ctx, []string{"consents", "verify", "--db", l.path}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "consent log ok: "+strconv.Itoa(len(l.recs))+" entries")

	raw := l.raw
	target := l.recs[3].ID
	const edit = "UPDATE consent_records SET subject = 'forged@example.com' WHERE id = $1"
	_, err := raw.ExecContext(ctx, edit, target)
	require.ErrorContains(t, err, "append-only", "the trigger refuses the edit while it exists")
	off := "DROP TRIGGER consent_records_no_update"
	if testdb.Current() == testdb.Postgres {
		off = "ALTER TABLE consent_records DISABLE TRIGGER USER"
	}
	_, err = raw.ExecContext(ctx, off)
	require.NoError(t, err)
	res, err := raw.ExecContext(ctx, edit, target)
	require.NoError(t, err)
	n, _ := res.RowsAffected()
	require.EqualValues(t, 1, n)

	out.Reset()
	errOut.Reset()
	code := run(ctx, []string{"consents", "verify", "--db", l.path}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "consent log broken at entry "+strconv.FormatInt(target, 10)+":")
	assert.Contains(t, errOut.String(), "was changed")
	assert.Empty(t, out.String())
}
