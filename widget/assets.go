package widget

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
)

// Asset is a static file the web package serves: under its HashedName with a
// one-year cache (the name changes when the content does), and under Name
// for the embed loader, whose URL site owners paste and so cannot change.
type Asset struct {
	// Name is the stable name, for example "embed.js".
	Name string
	// HashedName carries a content hash, for example "embed.3f9a1c0b2d.js".
	HashedName string
	// ContentType is the full Content-Type header value.
	ContentType string
	// Body is the minified file; Gzip the same bytes gzip-compressed, made
	// once so no request pays for compression.
	Body []byte
	Gzip []byte
	// ETag is a strong, quoted entity tag derived from Body.
	ETag string
}

// assetNames are the files of assets/ the renderer serves, in Assets() order.
var assetNames = []string{"form.js", "form.css", "embed.js", "chat.js", "chat.css"}

// buildAsset minifies one source file and makes it an Asset.
func buildAsset(name string, src []byte) (*Asset, error) {
	switch path.Ext(name) {
	case ".js":
		return NewAsset(name, minify(src, true))
	case ".css":
		return NewAsset(name, minify(src, false))
	}
	return nil, fmt.Errorf("widget: asset %s: unknown type", name)
}

// NewAsset hashes and gzip-compresses body, a finished .js or .css file, so
// that serving it costs no work per request. The web package uses it for
// its own admin assets too, so every static file is served one way.
func NewAsset(name string, body []byte) (*Asset, error) {
	ext := path.Ext(name)
	var ctype string
	switch ext {
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	default:
		return nil, fmt.Errorf("widget: asset %s: unknown type", name)
	}
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &Asset{
		Name:        name,
		HashedName:  strings.TrimSuffix(name, ext) + "." + h[:10] + ext,
		ContentType: ctype,
		Body:        body,
		Gzip:        gz.Bytes(),
		ETag:        `"` + h[:32] + `"`,
	}, nil
}

// minify removes comments, indentation and blank lines from JavaScript (js
// true) or CSS. It keeps every line break between code lines, so automatic
// semicolon insertion sees the same program, and copies string and template
// literals untouched. It does not recognise regular-expression literals: the
// sources in assets/ must not put a quote, "//" or "/*" inside one (a test
// parses the output with node where node is installed).
func minify(src []byte, js bool) []byte {
	var out bytes.Buffer
	out.Grow(len(src))
	n := len(src)
	for i := 0; i < n; {
		c := src[i]
		switch {
		case c == '"' || c == '\'' || (js && c == '`'):
			j := i + 1
			for j < n && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= n {
				j = n - 1
			}
			out.Write(src[i : j+1])
			i = j + 1
		case c == '/' && i+1 < n && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				i = n
				break
			}
			comment := src[i : i+2+end+2]
			if bytes.IndexByte(comment, '\n') >= 0 {
				out.WriteByte('\n')
			} else {
				out.WriteByte(' ')
			}
			i += len(comment)
		case js && c == '/' && i+1 < n && src[i+1] == '/':
			for i < n && src[i] != '\n' {
				i++
			}
		default:
			out.WriteByte(c)
			i++
		}
	}
	lines := strings.Split(out.String(), "\n")
	var b strings.Builder
	b.Grow(out.Len())
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
