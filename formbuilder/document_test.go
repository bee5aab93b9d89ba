package formbuilder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/consentforms/consentforms/internal/testdoc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestNewDocument(t *testing.T) {
	pdf := testdoc.PDF("Privacy policy")
	cases := []struct {
		name     string
		file     string
		data     []byte
		wantType string
		wantName string
		problem  string // part of the field message when refused
	}{
		{"pdf", "policy.pdf", pdf, DocPDF, "policy.pdf", ""},
		{"pdf with upper-case extension", "POLICY.PDF", pdf, DocPDF, "POLICY.PDF", ""},
		{"pdf without extension gets one", "policy", pdf, DocPDF, "policy.pdf", ""},
		{"pdf with another extension gets one", "policy.v2", pdf, DocPDF, "policy.v2.pdf", ""},
		{"windows path", `C:\Users\ada\Desktop\policy.pdf`, pdf, DocPDF, "policy.pdf", ""},
		{"plain text", "policy.txt", []byte("Privacy policy\n\nWe keep your data.\n"), DocText, "policy.txt", ""},
		{"plain text with BOM", "policy.txt", []byte("\xef\xbb\xbfDatenschutz für Sie\r\n"), DocText, "policy.txt", ""},
		{"html", "policy.html", []byte(testdoc.HTML), DocHTML, "policy.html", ""},
		{"html by its tag", "policy.htm", []byte("  <html lang=en><body>x</body></html>"), DocHTML, "policy.htm", ""},
		{"text that mentions html is text", "notes.txt", []byte("<htmlish> is no tag"), DocText, "notes.txt", ""},
		{"png disguised as pdf", "policy.pdf", testdoc.PNG, "", "", "must be a PDF, a plain text file (UTF-8) or an HTML page"},
		{"html disguised as pdf", "policy.pdf", []byte(testdoc.HTML), "", "", "its content is HTML, not PDF"},
		{"pdf disguised as text", "policy.txt", pdf, "", "", "its content is PDF, not plain text"},
		{"truncated pdf", "policy.pdf", pdf[:len(pdf)/2], "", "", "not a complete PDF"},
		{"latin-1 text", "policy.txt", []byte("Datenschutz f\xfcr Sie"), "", "", "must be UTF-8"},
		{"nul byte", "policy.txt", []byte("abc\x00def"), "", "", "binary content"},
		{"empty", "policy.pdf", nil, "", "", "is empty"},
		{"only spaces", "policy.txt", []byte(" \n\t "), "", "", "is empty"},
		{"too large", "policy.pdf", testdoc.Padded("big", MaxDocumentBytes+1), "", "", "larger than 10 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDocument("document", tc.file, tc.data)
			if tc.problem != "" {
				require.Error(t, err)
				assert.Equal(t, EINVALID, ErrorCode(err))
				assert.Contains(t, ErrorFields(err)["document"], tc.problem)
				assert.Nil(t, d)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantType, d.ContentType)
			assert.Equal(t, tc.wantName, d.Name)
			assert.Equal(t, sha(tc.data), d.SHA256)
			assert.EqualValues(t, len(tc.data), d.Size)
			assert.NoError(t, d.Check())
			assert.Equal(t, "", VerifyDocument(d))
		})
	}
	// The largest allowed size passes.
	d, err := NewDocument("document", "big.pdf", testdoc.Padded("big", MaxDocumentBytes))
	require.NoError(t, err)
	assert.EqualValues(t, MaxDocumentBytes, d.Size)
}

func TestDocumentPathAndJSON(t *testing.T) {
	d, err := NewDocument("document", "Datenschutz.pdf", testdoc.PDF("x"))
	require.NoError(t, err)
	assert.Equal(t, "/d/"+d.SHA256+".pdf", d.Path())
	b, err := json.Marshal(d)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "Data", "the bytes never go into JSON")
	assert.JSONEq(t, `{"sha256":"`+d.SHA256+`","name":"Datenschutz.pdf","content_type":"application/pdf","size":`+
		strings.TrimSpace(string(mustJSON(t, d.Size)))+`,"path":"/d/`+d.SHA256+`.pdf"}`, string(b))
	var back Document
	require.NoError(t, json.Unmarshal(b, &back))
	d.Data = nil
	assert.Equal(t, *d, back)
	assert.Equal(t, "/d/"+d.SHA256+".txt", DocumentPath(d.SHA256, DocText))
	assert.Equal(t, "/d/"+d.SHA256+".html", DocumentPath(d.SHA256, DocHTML))
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestDocumentCheckRefusesWhatTheBytesDoNotSay(t *testing.T) {
	good, err := NewDocument("document", "p.pdf", testdoc.PDF("x"))
	require.NoError(t, err)
	for name, change := range map[string]func(d *Document){
		"bad hash":      func(d *Document) { d.SHA256 = strings.ToUpper(d.SHA256) },
		"other hash":    func(d *Document) { d.SHA256 = sha([]byte("other")) },
		"wrong size":    func(d *Document) { d.Size++ },
		"wrong type":    func(d *Document) { d.ContentType = DocHTML },
		"unclean name":  func(d *Document) { d.Name = "../p.pdf" },
		"changed bytes": func(d *Document) { d.Data = append([]byte(nil), d.Data...); d.Data[20] ^= 1 },
	} {
		d := *good
		change(&d)
		err := d.Check()
		require.Error(t, err, name)
		assert.NotEmpty(t, ErrorFields(err)["document"], name)
	}
	// A reference to a stored document is its hash alone.
	assert.NoError(t, (&Document{SHA256: good.SHA256}).Check())
}

func TestVerifyDocument(t *testing.T) {
	d, err := NewDocument("document", "p.pdf", testdoc.PDF("x"))
	require.NoError(t, err)
	assert.Empty(t, VerifyDocument(d))
	changed := *d
	changed.Data = bytes.Replace(d.Data, []byte("(x)"), []byte("(y)"), 1)
	assert.Contains(t, VerifyDocument(&changed), "was changed")
	retyped := *d
	retyped.ContentType = DocHTML
	assert.Contains(t, VerifyDocument(&retyped), "type")
}

func TestCleanDocumentName(t *testing.T) {
	long := strings.Repeat("ä", 150) + ".pdf"
	for in, want := range map[string]string{
		"policy.pdf":                      "policy.pdf",
		"  policy.pdf  ":                  "policy.pdf",
		"/etc/passwd":                     "passwd",
		`..\..\boot.ini`:                  "boot.ini",
		"a\r\nContent-Type: x.pdf":        "aContent-Type: x.pdf",
		"":                                "document",
		"..":                              "document",
		"dir/":                            "document",
		"bad\xffutf8.pdf":                 "badutf8.pdf",
		`quote"and;semi.pdf`:              `quote"and;semi.pdf`,
		long:                              strings.Repeat("ä", 98) + ".pdf",
		"Datenschutzerklärung.pdf":        "Datenschutzerklärung.pdf",
		"tab\tname.pdf":                   "tabname.pdf",
		"\u202epdf.exe":                   "\u202epdf.exe",
		strings.Repeat("x", 300):          strings.Repeat("x", MaxDocumentName),
		"name." + strings.Repeat("e", 20): ("name." + strings.Repeat("e", 20)),
	} {
		got := CleanDocumentName(in)
		assert.Equal(t, want, got, "%q", in)
		assert.LessOrEqual(t, len(got), MaxDocumentName)
		assert.True(t, utf8.ValidString(got))
		assert.Equal(t, got, CleanDocumentName(got), "cleaning twice equals once")
	}
}

// TestCanonicalContentWithDocument: a version with a document has its own
// encoding (v2) with the document's SHA-256 as a fifth part, so versions
// without one keep their hashes (TestConsentContentHash pins v1).
func TestCanonicalContentWithDocument(t *testing.T) {
	c := ConsentContent{Text: "<p>T</p>", Label: "I agree to the %terms%.", Language: "en"}
	doc := &Document{SHA256: sha([]byte("file"))}
	c.LinkURL = ""
	c.Document = doc
	v2 := "consentforms/consent-version/v2\n8:<p>T</p>\n23:I agree to the %terms%.\n0:\n2:en\n64:" + doc.SHA256 + "\n"
	assert.Equal(t, v2, string(c.CanonicalContent()))
	other := c
	other.Document = &Document{SHA256: sha([]byte("other file"))}
	assert.NotEqual(t, c.Hash(), other.Hash(), "another document is another version")
	v := versionOf(1, 1, 1, c)
	v.Document = doc
	v.Hash = c.Hash()
	assert.True(t, v.VerifyHash())
	v.Document = other.Document
	assert.False(t, v.VerifyHash(), "the version's hash covers its document")
}

func TestConsentContentWithDocument(t *testing.T) {
	d, err := NewDocument("document", "p.pdf", testdoc.PDF("x"))
	require.NoError(t, err)
	c := ConsentContent{Label: "I agree to the %policy%.", Language: "en", Document: d}
	assert.NoError(t, c.Validate(), "a document stands in for the text, as a link URL does")
	c.LinkURL = "https://e.example/p"
	assert.Contains(t, ErrorFields(c.Validate())["document"], "link URL")
	c.LinkURL = ""
	c.Document = &Document{SHA256: "nothex"}
	assert.Contains(t, ErrorFields(c.Validate())["document"], "SHA-256")

	v := &ConsentVersion{LinkURL: "https://e.example/p"}
	assert.Equal(t, "https://e.example/p", v.LinkTarget("https://forms.example"))
	v = &ConsentVersion{Document: d}
	assert.Equal(t, "https://forms.example/d/"+d.SHA256+".pdf", v.LinkTarget("https://forms.example"))
	assert.Equal(t, "", (&ConsentVersion{}).LinkTarget("https://forms.example"))
	assert.Equal(t, "", (&ConsentVersion{LinkURL: "javascript:alert(1)"}).LinkTarget(""))
}

// FuzzNewDocument holds the upload check to its promises for any bytes and
// name: what it accepts has the type, hash and size of the bytes, a clean
// name whose known extension matches the type, and passes Check.
func FuzzNewDocument(f *testing.F) {
	f.Add("policy.pdf", testdoc.PDF("x"))
	f.Add("p.html", []byte(testdoc.HTML))
	f.Add("p.txt", []byte("text\n"))
	f.Add("p.pdf", testdoc.PNG)
	f.Add("", []byte("%PDF-%%EOF"))
	f.Add("a/b\\c.htm", []byte("\xef\xbb\xbf <HTML>"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		d, err := NewDocument("document", name, data)
		if err != nil {
			require.Equal(t, EINVALID, ErrorCode(err))
			require.NotEmpty(t, ErrorFields(err)["document"])
			return
		}
		require.Equal(t, sha(data), d.SHA256)
		require.EqualValues(t, len(data), d.Size)
		ct, problem := DetectDocument(data)
		require.Empty(t, problem)
		require.Equal(t, ct, d.ContentType)
		require.Equal(t, d.Name, CleanDocumentName(d.Name))
		require.LessOrEqual(t, len(d.Name), MaxDocumentName)
		if claimed, ok := extTypes[strings.ToLower(extOf(d.Name))]; ok {
			require.Equal(t, ct, claimed)
		}
		require.NoError(t, d.Check())
		if ct != DocPDF {
			require.True(t, utf8.Valid(data))
		}
	})
}

func extOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}
