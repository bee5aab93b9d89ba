// Package testdoc makes the documents the tests upload: small valid PDFs
// with a line of text (so two of them differ and a browser can show them),
// and files that only pretend to be a PDF. It imports the standard library
// only, so the tests of any package can use it.
package testdoc

import (
	"bytes"
	"fmt"
	"strings"
)

// PDF returns a one-page PDF 1.4 file showing text in Helvetica, with a
// correct cross-reference table, as PDF readers (Chromium's among them)
// expect.
func PDF(text string) []byte {
	var b bytes.Buffer
	var offsets []int
	// The second line's high bytes mark the file as binary, as writers do.
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R " +
		"/Resources << /Font << /F1 5 0 R >> >> >>")
	esc := strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(text)
	stream := "BT /F1 24 Tf 72 700 Td (" + esc + ") Tj ET"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream))
	obj("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// PNG is the start of a PNG image: what a file named policy.pdf may really
// be.
var PNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

// HTML is a page with a script in it, as a hostile upload would carry.
const HTML = "<!DOCTYPE html>\n<html><head><title>Policy</title></head><body><h1>Privacy policy</h1>" +
	"<script>document.title = 'pwned'; parent.postMessage(document.cookie, '*')</script></body></html>\n"

// Padded returns a PDF of exactly n bytes (n must exceed the plain PDF's
// size): the text is followed by a comment that fills it up, before the
// end marker, so it stays a PDF of that size.
func Padded(text string, n int) []byte {
	base := PDF(text)
	if n <= len(base)+3 {
		panic("testdoc: Padded size too small")
	}
	end := bytes.LastIndex(base, []byte("%%EOF"))
	pad := n - len(base) - 2 // "%" and "\n" around the filler
	out := make([]byte, 0, n)
	out = append(out, base[:end]...)
	out = append(out, '%')
	out = append(out, bytes.Repeat([]byte("x"), pad)...)
	out = append(out, '\n')
	out = append(out, base[end:]...)
	return out
}
