package formbuilder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A consent's label can link to a document the admin uploaded, typically
// the privacy policy as a PDF. A URL can change or vanish after a visitor
// agreed; an uploaded document cannot: it is stored once under the SHA-256
// of its bytes, the version that links to it records that hash (and the
// version's own hash covers it), and it is served from a path named by the
// hash, so every log entry proves which file the visitor was pointed to.

// MaxDocumentBytes is the largest document an admin may upload (10 MiB).
const MaxDocumentBytes = 10 << 20

// MaxDocumentName bounds a document's file name, in bytes.
const MaxDocumentName = 200

// Document types, by what the bytes are; names are not trusted.
const (
	DocPDF  = "application/pdf"
	DocText = "text/plain"
	DocHTML = "text/html"
)

// Document is a file a consent version links to. Data is set when the
// document is uploaded and when it is served; versions carry the rest.
type Document struct {
	// SHA256 is the hex SHA-256 of Data: the document's identity.
	SHA256 string
	// Name is the file name as uploaded (the first upload of these bytes),
	// without any directory.
	Name string
	// ContentType is DocPDF, DocText or DocHTML, as the bytes say.
	ContentType string
	Size        int64
	CreatedAt   time.Time
	Data        []byte
}

// documentJSON is how a document appears in answers and exports: its
// metadata and the path it is served at, never its bytes.
type documentJSON struct {
	SHA256      string `json:"sha256"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Path        string `json:"path"`
}

// MarshalJSON writes the metadata and Path, not the bytes.
func (d *Document) MarshalJSON() ([]byte, error) {
	return json.Marshal(documentJSON{SHA256: d.SHA256, Name: d.Name, ContentType: d.ContentType, Size: d.Size, Path: d.Path()})
}

// UnmarshalJSON reads what MarshalJSON writes (the path follows from the
// rest), so exports read back into entries keep their document.
func (d *Document) UnmarshalJSON(b []byte) error {
	var j documentJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Document{SHA256: j.SHA256, Name: j.Name, ContentType: j.ContentType, Size: j.Size}
	return nil
}

// Ext is the file extension the document is served with: pdf, txt or html.
func (d *Document) Ext() string { return DocumentExt(d.ContentType) }

// Path is where the document is served: /d/SHA256.EXT.
func (d *Document) Path() string { return DocumentPath(d.SHA256, d.ContentType) }

// DocumentPath is the path a document with hash sha and content type ct is
// served at.
func DocumentPath(sha, ct string) string { return "/d/" + sha + "." + DocumentExt(ct) }

// DocumentExt returns the extension of a document type ("" for others).
func DocumentExt(ct string) string {
	switch ct {
	case DocPDF:
		return "pdf"
	case DocText:
		return "txt"
	case DocHTML:
		return "html"
	}
	return ""
}

// TypeName is the document type for people: PDF, plain text or HTML.
func (d *Document) TypeName() string { return typeName(d.ContentType) }

// typeMsg is the document type for people by message code.
func typeMsg(ct string) Msg {
	switch ct {
	case DocPDF:
		return M(MsgDocTypePDF)
	case DocText:
		return M(MsgDocTypeText)
	case DocHTML:
		return M(MsgDocTypeHTML)
	}
	return M(MsgDocTypeText)
}

func typeName(ct string) string {
	switch ct {
	case DocPDF:
		return "PDF"
	case DocText:
		return "plain text"
	case DocHTML:
		return "HTML"
	}
	return ct
}

// extTypes maps the file name extensions that claim one of the accepted
// types to it.
var extTypes = map[string]string{
	".pdf": DocPDF, ".txt": DocText, ".text": DocText, ".html": DocHTML, ".htm": DocHTML,
}

// NewDocument checks an uploaded file and returns it as a Document: its
// type comes from the bytes alone (a PDF, UTF-8 plain text, or an HTML
// page); a name whose extension claims another type is refused, so a file
// disguised by its name does not pass as what it is not, and a name
// without one of those extensions gets the real one. EINVALID naming
// field, also for more than MaxDocumentBytes.
func NewDocument(field, name string, data []byte) (*Document, error) {
	bad := func(msg Msg) error { return FieldErrors(map[string]Msg{field: msg}) }
	if len(data) > MaxDocumentBytes {
		return nil, bad(M(MsgDocTooLarge))
	}
	if len(data) == 0 {
		return nil, bad(M(MsgDocEmpty))
	}
	ct, problem := DetectDocument(data)
	if !problem.IsZero() {
		return nil, bad(problem)
	}
	name = CleanDocumentName(name)
	if claimed, ok := extTypes[strings.ToLower(path.Ext(name))]; !ok {
		name = CleanDocumentName(name + "." + DocumentExt(ct))
	} else if claimed != ct {
		return nil, bad(M(MsgDocMisnamed, "name", name).With("actual", typeMsg(ct)).With("claimed", typeMsg(claimed)))
	}
	sum := sha256.Sum256(data)
	return &Document{SHA256: hex.EncodeToString(sum[:]), Name: name, ContentType: ct,
		Size: int64(len(data)), Data: data}, nil
}

// DetectDocument returns the type of data from its bytes: DocPDF for a file
// that starts with the PDF header and ends with its end-of-file marker
// (within the last 1024 bytes, as readers allow), DocHTML for UTF-8 text
// that starts with an HTML doctype or <html> tag, DocText for other UTF-8
// text without control characters but tab, line feed, form feed and
// carriage return. Anything else gets a problem to show next to the field.
func DetectDocument(data []byte) (contentType string, problem Msg) {
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		tail := data[max(0, len(data)-1024):]
		if !bytes.Contains(tail, []byte("%%EOF")) {
			return "", M(MsgDocPDFIncomplete)
		}
		return DocPDF, Msg{}
	}
	text := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(text) {
		return "", M(MsgDocNotUTF8)
	}
	for _, r := range string(text) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			return "", M(MsgDocBinary)
		}
	}
	start := bytes.TrimLeftFunc(text, unicode.IsSpace)
	head := strings.ToLower(string(start[:min(len(start), 15)]))
	if strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html") &&
		(len(head) == 5 || head[5] == '>' || head[5] == ' ' || head[5] == '\t' || head[5] == '\n' || head[5] == '\r') {
		return DocHTML, Msg{}
	}
	if strings.TrimSpace(string(start)) == "" {
		return "", M(MsgDocEmpty)
	}
	return DocText, Msg{}
}

// CleanDocumentName keeps what a document's name may be: the last part of
// a path (browsers on Windows sent whole paths), without control
// characters, at most MaxDocumentName bytes, "document" when nothing is
// left. It is shown to admins and sent in Content-Disposition, escaped.
func CleanDocumentName(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if len(name) > MaxDocumentName {
		ext := path.Ext(name)
		if len(ext) > 10 {
			ext = ""
		}
		cut := MaxDocumentName - len(ext)
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = strings.TrimSpace(name[:cut]) + ext
	}
	if name == "" || name == "." || name == ".." {
		return "document"
	}
	return name
}

// ValidDocumentHash reports whether s can name a document: a lower-case
// hex SHA-256.
func ValidDocumentHash(s string) bool { return lowerHex(s, 64) }

// Check verifies a document before storage writes it: a valid hash, and,
// with Data, that the hash, size and type are those of the bytes. A
// version may also name a stored document by hash alone (Data nil).
// EINVALID naming "document".
func (d *Document) Check() error {
	bad := func(msg MsgCode) error { return FieldError("document", msg) }
	if !ValidDocumentHash(d.SHA256) {
		return bad(MsgDocHash)
	}
	if d.Data == nil {
		return nil
	}
	sum := sha256.Sum256(d.Data)
	if hex.EncodeToString(sum[:]) != d.SHA256 {
		return bad(MsgDocHashMismatch)
	}
	if d.Size != int64(len(d.Data)) || d.Size > MaxDocumentBytes {
		return bad(MsgDocSize)
	}
	if ct, problem := DetectDocument(d.Data); !problem.IsZero() || ct != d.ContentType {
		return bad(MsgDocType)
	}
	if d.Name != CleanDocumentName(d.Name) {
		return bad(MsgDocName)
	}
	return nil
}

// VerifyDocument reports what is wrong with a stored document, or "": its
// bytes must still hash to its SHA-256, and its recorded size and type
// must still be those of the bytes (a changed type would change how it is
// served).
func VerifyDocument(d *Document) string {
	sum := sha256.Sum256(d.Data)
	switch {
	case hex.EncodeToString(sum[:]) != d.SHA256:
		return "its bytes no longer match its SHA-256: the file was changed"
	case d.Size != int64(len(d.Data)):
		return "its recorded size differs from its bytes"
	}
	if ct, _ := DetectDocument(d.Data); ct != d.ContentType {
		return "its recorded type differs from its bytes"
	}
	return ""
}

// DocumentService serves the stored documents. Documents are written only
// together with the consent version that links to them
// (ConsentService.CreateConsent and UpdateConsent with
// ConsentContent.Document carrying Data), and never changed or deleted:
// the database refuses it, as for consent versions.
type DocumentService interface {
	// FindDocument returns the document with hex SHA-256 sha, bytes
	// included. ENOTFOUND.
	FindDocument(ctx context.Context, sha string) (*Document, error)
}
