package widget

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/tdewolff/minify/v2"
	"github.com/tdewolff/minify/v2/css"
	"github.com/tdewolff/minify/v2/js"
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

// minifier minifies the assets with github.com/tdewolff/minify: it replaced
// a hand-written one that only dropped comments and indentation. Measured on
// embed.js before issue 15's additions: 8,125 B, 2,909 B gzipped and 2,434 B
// brotli by hand; 5,860, 2,466 and 2,102 B with the library; 11,258, 3,889
// and 3,234 B not minified at all. After them: 3,536 B gzipped by hand,
// 3,031 B with the library. It parses the scripts, so a syntax error fails
// at start-up rather than in a visitor's browser.
var minifier = func() *minify.M {
	m := minify.New()
	m.AddFunc("text/css", css.Minify)
	m.AddFunc("text/javascript", js.Minify)
	return m
}()

// buildAsset minifies one source file and makes it an Asset.
func buildAsset(name string, src []byte) (*Asset, error) {
	var mt string
	switch path.Ext(name) {
	case ".js":
		mt = "text/javascript"
	case ".css":
		mt = "text/css"
	default:
		return nil, fmt.Errorf("widget: asset %s: unknown type", name)
	}
	out, err := minifier.Bytes(mt, src)
	if err != nil {
		return nil, fmt.Errorf("widget: asset %s: %w", name, err)
	}
	return NewAsset(name, out)
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
