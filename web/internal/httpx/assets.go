package httpx

import (
	"bytes"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// Encoding is a content coding a response body is pre-encoded in.
type Encoding uint8

// The codings bodies are pre-encoded in.
const (
	EncIdentity Encoding = iota
	EncGzip
	EncBrotli
)

// Negotiate picks the coding for an Accept-Encoding value: brotli when
// allowed and acceptable, else gzip when acceptable, else identity. It
// honours q=0 ("not acceptable") and the "*" wildcard but not the order of
// other q-values: every browser that sends "br" prefers it, and the smaller
// body wins for everyone. It reads the raw header, so it does not allocate.
func Negotiate(ae []byte, brOK bool) Encoding {
	var gz, br, star, gzSeen, brSeen bool
	for len(ae) > 0 {
		var item []byte
		if i := bytes.IndexByte(ae, ','); i >= 0 {
			item, ae = ae[:i], ae[i+1:]
		} else {
			item, ae = ae, nil
		}
		name, params, _ := bytes.Cut(item, []byte{';'})
		name = bytes.TrimSpace(name)
		ok := !zeroQ(params)
		switch {
		case bytes.EqualFold(name, []byte("gzip")) || bytes.EqualFold(name, []byte("x-gzip")):
			gz, gzSeen = ok, true
		case bytes.EqualFold(name, []byte("br")):
			br, brSeen = ok, true
		case len(name) == 1 && name[0] == '*':
			star = ok
		}
	}
	// A coding not named is acceptable under a "*" that is.
	if !brSeen {
		br = star
	}
	if !gzSeen {
		gz = star
	}
	switch {
	case br && brOK:
		return EncBrotli
	case gz:
		return EncGzip
	}
	return EncIdentity
}

// zeroQ reports whether the parameters of an Accept-Encoding item hold q=0
// (also written 0.0, 0.00 or 0.000), which refuses the coding.
func zeroQ(params []byte) bool {
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		k, v, ok := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '0' {
			return false
		}
		for _, c := range v[1:] {
			if c != '.' && c != '0' {
				return false
			}
		}
		return true
	}
	return false
}

// EncodedETag derives the entity tag of a coded body from the identity
// body's strong tag: RFC 9110 §8.8.3 wants a different strong validator per
// representation, and a content coding makes another representation.
func EncodedETag(etag string, e Encoding) string {
	if len(etag) < 2 {
		return etag
	}
	switch e {
	case EncGzip:
		return etag[:len(etag)-1] + `-gz"`
	case EncBrotli:
		return etag[:len(etag)-1] + `-br"`
	}
	return etag
}

// ETagMatches reports whether an If-None-Match value names the identity tag
// etag or one of its coded variants: they are the same content, so a cache
// holding any of them may keep it. It takes lists, weak tags (W/, compared
// weakly as §13.1.2 says for If-None-Match) and "*".
func ETagMatches(inm []byte, etag string) bool {
	if len(inm) == 0 || len(etag) < 2 {
		return false
	}
	opaque := etag[1 : len(etag)-1]
	for len(inm) > 0 {
		var t []byte
		if i := bytes.IndexByte(inm, ','); i >= 0 {
			t, inm = inm[:i], inm[i+1:]
		} else {
			t, inm = inm, nil
		}
		t = bytes.TrimSpace(t)
		if len(t) == 1 && t[0] == '*' {
			return true
		}
		t = bytes.TrimPrefix(t, []byte("W/"))
		if len(t) < 2 || t[0] != '"' || t[len(t)-1] != '"' {
			continue
		}
		t = t[1 : len(t)-1]
		t = bytes.TrimSuffix(t, []byte("-gz"))
		t = bytes.TrimSuffix(t, []byte("-br"))
		if string(t) == opaque {
			return true
		}
	}
	return false
}

// assetEntries holds, per static asset body, what serving it needs besides
// the widget.Asset: the brotli variant and the response headers per coding.
// They are keyed by the asset's ETag (a hash of its body), so every server
// in a process (tests make many) shares one compression.
var assetEntries sync.Map // ETag -> *assetEntry

type assetEntry struct {
	once sync.Once
	// br is the body compressed with brotli at the best level: widget.Asset
	// carries only gzip, and brotli is ~15% smaller for these files but
	// takes tens of milliseconds, so it runs once per body, never per
	// request. Nil when it did not pay; requests then get gzip.
	br []byte
	// headers per coding (identity, gzip, br) and cache policy (hashed
	// name or not), Content-Type and Content-Encoding included.
	headers [2][3]HeaderSet
}

// PrepareAsset builds what serving a needs (brotli body, headers) on the
// first call for its body; servers call it at start-up so that no request
// waits for brotli's slow best level.
func PrepareAsset(a *widget.Asset) {
	assetEntryOf(a)
}

func assetEntryOf(a *widget.Asset) *assetEntry {
	v, ok := assetEntries.Load(a.ETag)
	if !ok {
		v, _ = assetEntries.LoadOrStore(a.ETag, &assetEntry{})
	}
	e := v.(*assetEntry)
	e.once.Do(func() { e.build(a) })
	return e
}

func (e *assetEntry) build(a *widget.Asset) {
	e.br = compressBrotli(a.Body)
	// Brotli only pays when it is smaller than the gzip we have.
	if len(a.Gzip) > 0 && len(e.br) >= len(a.Gzip) {
		e.br = nil
	}
	for hashed, cache := range []string{"public, max-age=300, must-revalidate", "public, max-age=31536000, immutable"} {
		for enc := EncIdentity; enc <= EncBrotli; enc++ {
			hs := HeaderSet{
				{HdrContentType, []byte(a.ContentType)},
				{HdrXContentTypeOptions, []byte("nosniff")},
				// Nothing else on the asset routes varies the response.
				{HdrVary, []byte(fiber.HeaderAcceptEncoding)},
				{HdrCacheControl, []byte(cache)},
				// A 304 carries the tag of the coding the client asked for.
				{HdrETag, []byte(EncodedETag(a.ETag, enc))},
			}
			switch enc {
			case EncGzip:
				hs = append(hs, [2][]byte{HdrContentEncoding, []byte("gzip")})
			case EncBrotli:
				hs = append(hs, [2][]byte{HdrContentEncoding, []byte("br")})
			}
			e.headers[hashed][enc] = hs
		}
	}
}

// compressBrotli returns b compressed at brotli's best level, or nil.
func compressBrotli(b []byte) []byte {
	var buf bytes.Buffer
	// A window just above the body's size: the best level's match finder
	// allocates in proportion to the window, and the default (4 MiB) would
	// cost tens of MiB of memory at start-up, for nothing.
	lgwin := 10
	for lgwin < 24 && 1<<lgwin < len(b) {
		lgwin++
	}
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: lgwin})
	if _, err := w.Write(b); err != nil {
		return nil
	}
	if err := w.Close(); err != nil {
		return nil
	}
	return buf.Bytes()
}

// SendAsset serves a pre-built asset: the hashed name is cached for a year,
// the plain name revalidates by ETag. Compressed bytes were made at start-up.
func SendAsset(c *fiber.Ctx, a *widget.Asset, hashed bool) error {
	e := assetEntryOf(a)
	req := &c.Request().Header
	enc := Negotiate(req.Peek(fiber.HeaderAcceptEncoding), len(e.br) > 0)
	if enc == EncGzip && len(a.Gzip) == 0 {
		enc = EncIdentity
	}
	h := 0
	if hashed {
		h = 1
	}
	e.headers[h][enc].Set(c)
	if ETagMatches(req.Peek(fiber.HeaderIfNoneMatch), a.ETag) {
		// Content-Encoding describes a body, and a 304 has none.
		c.Response().Header.Del(fiber.HeaderContentEncoding)
		return c.SendStatus(fiber.StatusNotModified)
	}
	switch enc {
	case EncBrotli:
		return c.Send(e.br)
	case EncGzip:
		return c.Send(a.Gzip)
	}
	return c.Send(a.Body)
}
