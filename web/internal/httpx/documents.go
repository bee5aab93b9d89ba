package httpx

import (
	"io"
	"mime/multipart"
	"strings"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// UploadSlack is what an upload's body may carry besides the document: the
// editor's other fields (a consent text is at most 100 KB) and the
// multipart framing. A route that takes a document takes bodies of
// formbuilder.MaxDocumentBytes + UploadSlack.
const UploadSlack = 1 << 20

// Multipart returns the parsed multipart form of c, or nil when the body
// is not multipart/form-data. Fasthttp has read it already, in memory: the
// route's body limit keeps it below formbuilder.MaxDocumentBytes +
// UploadSlack.
func Multipart(c *fiber.Ctx) (*multipart.Form, error) {
	if !ContentTypeIs(c.Request().Header.ContentType(), fiber.MIMEMultipartForm) {
		return nil, nil
	}
	mf, err := c.MultipartForm()
	if err != nil {
		return nil, BadRequest("the multipart body cannot be read")
	}
	return mf, nil
}

// UploadedDocument reads the file part field of mf as a document
// (formbuilder.NewDocument: typed by its bytes, at most 10 MiB), or nil
// when none was chosen (browsers send an empty part without a name then).
// Errors are EINVALID naming field, so they answer 422.
func UploadedDocument(mf *multipart.Form, field string) (*formbuilder.Document, error) {
	if mf == nil || len(mf.File[field]) == 0 {
		return nil, nil
	}
	fh := mf.File[field][0]
	if fh.Filename == "" && fh.Size == 0 {
		return nil, nil
	}
	if len(mf.File[field]) > 1 {
		return nil, formbuilder.FieldError(field, formbuilder.MsgDocOneFile)
	}
	if fh.Size > formbuilder.MaxDocumentBytes {
		return nil, formbuilder.FieldError(field, formbuilder.MsgDocTooLarge)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, formbuilder.Internal(err)
	}
	defer f.Close()
	// One byte more than allowed tells a file that grew past its header's
	// size. ReadAll copies: the document outlives the request, whose
	// buffers Fiber reuses.
	data, err := io.ReadAll(io.LimitReader(f, formbuilder.MaxDocumentBytes+1))
	if err != nil {
		return nil, formbuilder.Internal(err)
	}
	return formbuilder.NewDocument(field, strings.Clone(fh.Filename), data)
}

// ContentDisposition is the Content-Disposition value that shows a
// document in the browser under name: an ASCII fallback in filename
// (quotes, backslashes and anything else unsafe replaced) and the exact
// name in filename* (RFC 6266, RFC 8187 percent-encoding), which browsers
// prefer.
func ContentDisposition(name string) string {
	var ascii strings.Builder
	for _, r := range name {
		switch {
		case r == '"' || r == '\\' || r == '%' || r < 0x20 || r == 0x7f:
			ascii.WriteByte('_')
		case r < utf8.RuneSelf:
			ascii.WriteRune(r)
		default:
			ascii.WriteByte('_')
		}
	}
	var ext strings.Builder
	const attrChar = "!#$&+-.^_`|~"
	for _, b := range []byte(name) {
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte(attrChar, b) >= 0 {
			ext.WriteByte(b)
		} else {
			ext.WriteByte('%')
			ext.WriteByte("0123456789ABCDEF"[b>>4])
			ext.WriteByte("0123456789ABCDEF"[b&15])
		}
	}
	return `inline; filename="` + ascii.String() + `"; filename*=UTF-8''` + ext.String()
}

// DocumentCSP is the Content-Security-Policy of a served document: a
// sandbox without any allow- flag, so an HTML page runs no script, gets a
// unique opaque origin (no cookies, no storage of ours) and submits no
// form; nothing may load, not even its own images or styles; no other
// page may frame it. Chromium's PDF viewer still shows a PDF under it.
const DocumentCSP = "sandbox; default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// DocumentContentType is the Content-Type a document is served with.
func DocumentContentType(ct string) string {
	if strings.HasPrefix(ct, "text/") {
		return ct + "; charset=utf-8"
	}
	return ct
}
