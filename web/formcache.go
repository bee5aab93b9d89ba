package web

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// tokenPlaceholder is rendered where the per-request render token goes; the
// page is split around it once, so serving a form is two copies and a
// signature, not a template run.
const tokenPlaceholder = "cftokenplaceholderxq7"

// formCacheTTL bounds how long a form definition is served without a look at
// storage, for changes made by another process (the CLI, a second server).
// Changes made through this app invalidate the entry at once.
const formCacheTTL = 30 * time.Second

// formCache holds the pre-encoded bodies the public GET routes serve: form
// pages (per form and version) and, warmed at start-up, the brotli variants
// of the static assets.
type formCache struct {
	s  *Server
	mu sync.Mutex
	m  map[string]*cachedForm
}

// cachedForm is one form definition with its pages rendered for one version.
// It is never mutated after it is published in the map, except for the
// refreshing flag and the pages' per-second bodies, which are atomic.
type cachedForm struct {
	form   *formbuilder.Form
	loaded time.Time
	pages  [2]*renderedPage // [0] standalone, [1] embed
	// refreshing is set by the one request that looks the form up again
	// after formCacheTTL; the others keep serving this entry meanwhile, so
	// an expiry never sends a burst of requests to storage at once.
	refreshing atomic.Bool
}

// renderedPage is a form page split around the render token, as identity
// bytes and as a gzip member cut at the same place.
type renderedPage struct {
	prefix, suffix []byte
	gz             *gzipSplice
	// etag is the entity tag of the identity body; the gzip body carries
	// etag with a "-gz" suffix (see encodedETag), as RFC 9110 wants a
	// different strong validator per content coding.
	etag string
	// headers are the response headers per coding (identity, gzip) but
	// Content-Type and Content-Encoding, made once per version: setting a
	// header by name makes fasthttp normalise the name on every call,
	// which was a quarter of this route's time.
	headers [2]headerSet
	// bodies are the complete bodies for the current second. The render
	// token only changes once a second (it signs the time in seconds), so
	// all requests of a second share one assembled body instead of each
	// signing and copying its own; the first request of a second builds it.
	bodies atomic.Pointer[pageBodies]
}

// pageBodies are the bodies of a page carrying the token of one second.
type pageBodies struct {
	sec      int64
	identity []byte
	gzip     []byte
}

// body returns the page bodies for the token of the second of now, building
// them when the second changed. Two requests that race at a second's start
// both build; one result wins, and both are correct.
func (p *renderedPage) body(now time.Time, token func(time.Time) string) *pageBodies {
	sec := now.Unix()
	if b := p.bodies.Load(); b != nil && b.sec == sec {
		return b
	}
	tok := token(now)
	id := make([]byte, 0, len(p.prefix)+len(tok)+len(p.suffix))
	id = append(id, p.prefix...)
	id = append(id, tok...)
	id = append(id, p.suffix...)
	b := &pageBodies{sec: sec, identity: id, gzip: p.gz.appendWithToken(nil, tok)}
	p.bodies.Store(b)
	return b
}

func newFormCache(s *Server) *formCache {
	// Static assets are compressed with brotli here, once per process, so
	// that no request waits for the slow best level (see assets.go).
	if s.widget != nil {
		for _, a := range s.widget.Assets() {
			assetEntryOf(a)
		}
	}
	return &formCache{s: s, m: map[string]*cachedForm{}}
}

// get returns the cached form, loading and rendering it when missing or
// stale at now (the request's time). Keys that cannot exist are refused
// before storage is asked; a key found in the cache was checked when it was
// stored, which spares the hot path the key check.
func (fc *formCache) get(ctx context.Context, key string, now time.Time) (*cachedForm, error) {
	fc.mu.Lock()
	cf := fc.m[key]
	fc.mu.Unlock()
	if cf == nil && !formbuilder.ValidFormKey(key) {
		return nil, formbuilder.Errorf(formbuilder.ENOTFOUND, "form not found")
	}
	if cf != nil && (now.Sub(cf.loaded) < formCacheTTL || !cf.refreshing.CompareAndSwap(false, true)) {
		return cf, nil
	}
	f, err := fc.s.svc.Forms.FindFormByKey(ctx, key)
	if err != nil {
		if cf != nil {
			if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
				fc.invalidate(key)
			} else {
				// A passing storage error: let the next request try again.
				cf.refreshing.Store(false)
			}
		}
		return nil, err
	}
	if cf != nil && cf.form.Version == f.Version && cf.form.UpdatedAt.Equal(f.UpdatedAt) {
		// Unchanged: keep the rendered pages (and their bodies of this
		// second), just note the check.
		fresh := &cachedForm{form: cf.form, loaded: now, pages: cf.pages}
		fc.put(key, fresh)
		return fresh, nil
	}
	fresh := &cachedForm{form: f, loaded: now}
	for i, embed := range []bool{false, true} {
		p, err := fc.render(f, embed)
		if err != nil {
			if cf != nil {
				cf.refreshing.Store(false)
			}
			return nil, err
		}
		fresh.pages[i] = p
	}
	fc.put(key, fresh)
	return fresh, nil
}

func (fc *formCache) put(key string, cf *cachedForm) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	// Bound memory against key scans: only existing forms get here, but an
	// installation may have many; drop everything rather than track LRU.
	if len(fc.m) > 10000 {
		fc.m = map[string]*cachedForm{}
	}
	fc.m[key] = cf
}

func (fc *formCache) render(f *formbuilder.Form, embed bool) (*renderedPage, error) {
	page, err := fc.s.widget.FormPage(f, widget.PageState{Embed: embed, Token: tokenPlaceholder})
	if err != nil {
		return nil, err
	}
	i := bytes.Index(page, []byte(tokenPlaceholder))
	if i < 0 {
		return nil, formbuilder.Internal(errors.New("rendered form has no token slot"))
	}
	sum := sha256.Sum256(page)
	prefix, suffix := page[:i:i], page[i+len(tokenPlaceholder):]
	gz, err := newGzipSplice(prefix, suffix)
	if err != nil {
		return nil, formbuilder.Internal(err)
	}
	etag := `"` + strconv.Itoa(f.Version) + "-" + hex.EncodeToString(sum[:8]) + `"`
	p := &renderedPage{prefix: prefix, suffix: suffix, gz: gz, etag: etag}
	csp := publicCSP(f)
	for i, enc := range []encoding{encIdentity, encGzip} {
		p.headers[i] = headerSet{
			{hdrCSP, []byte(csp)},
			{hdrXContentTypeOptions, []byte("nosniff")},
			{hdrReferrerPolicy, []byte("strict-origin-when-cross-origin")},
			// Revalidate every time: the page carries a render token
			// that expires.
			{hdrCacheControl, []byte("private, no-cache")},
			{hdrVary, []byte(fiber.HeaderAcceptEncoding)},
			{hdrETag, []byte(encodedETag(etag, enc))},
		}
	}
	return p, nil
}

// invalidate drops a form after a change made through this app.
func (fc *formCache) invalidate(key string) {
	fc.mu.Lock()
	delete(fc.m, key)
	fc.mu.Unlock()
}

// invalidateAll drops every form, after a change that can touch many (a new
// consent version changes every form that attaches the consent).
func (fc *formCache) invalidateAll() {
	fc.mu.Lock()
	fc.m = map[string]*cachedForm{}
	fc.mu.Unlock()
}

// gzipSplice is a gzip member of prefix+token+suffix, compressed once with
// the token cut out, so a gzip body with any token costs two copies and a
// CRC instead of a compression run (~100 µs for a form page).
//
// DEFLATE (RFC 1951) allows it: a sync flush ends the prefix's blocks on a
// byte boundary without ending the stream; the token follows as a stored
// (uncompressed) block, which starts on a byte boundary too; the suffix is
// a second deflate run from a fresh compressor, whose blocks never refer
// back past their own start, ending with the final block. Only the gzip
// trailer (RFC 1952: CRC-32 and length of the whole text) depends on the
// token, and the CRC of the prefix is kept so only token and suffix are
// hashed per token.
type gzipSplice struct {
	head      []byte // gzip header + deflate(prefix), ending in a sync flush
	tail      []byte // deflate(suffix), ending with the final block
	prefixCRC uint32
	suffix    []byte
	size      int // len(prefix) + len(suffix)
}

func newGzipSplice(prefix, suffix []byte) (*gzipSplice, error) {
	var head bytes.Buffer
	zw, err := gzip.NewWriterLevel(&head, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(prefix); err != nil {
		return nil, err
	}
	// Flush is a sync flush: an empty stored block that byte-aligns the
	// stream. The writer is dropped unclosed, so no final block is written.
	if err := zw.Flush(); err != nil {
		return nil, err
	}
	var tail bytes.Buffer
	fw, err := flate.NewWriter(&tail, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(suffix); err != nil {
		return nil, err
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return &gzipSplice{
		head:      head.Bytes(),
		tail:      tail.Bytes(),
		prefixCRC: crc32.ChecksumIEEE(prefix),
		suffix:    suffix,
		size:      len(prefix) + len(suffix),
	}, nil
}

// maxStoredBlock is the most a stored deflate block can hold.
const maxStoredBlock = 65535

// appendWithToken appends the gzip member of prefix+tok+suffix to dst.
func (g *gzipSplice) appendWithToken(dst []byte, tok string) []byte {
	n := len(g.head) + len(g.tail) + len(tok) + 5*(len(tok)/maxStoredBlock+1) + 8
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	dst = append(dst, g.head...)
	for rest := tok; ; {
		chunk := rest[:min(len(rest), maxStoredBlock)]
		rest = rest[len(chunk):]
		// A stored block: header bits BFINAL=0, BTYPE=00 padded to a byte,
		// then LEN and its one's complement NLEN, little-endian.
		l := uint16(len(chunk))
		dst = append(dst, 0, byte(l), byte(l>>8), ^byte(l), ^byte(l>>8))
		dst = append(dst, chunk...)
		if len(rest) == 0 {
			break
		}
	}
	dst = append(dst, g.tail...)
	crc := crc32.Update(g.prefixCRC, crc32.IEEETable, []byte(tok))
	crc = crc32.Update(crc, crc32.IEEETable, g.suffix)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return binary.LittleEndian.AppendUint32(dst, uint32(g.size+len(tok)))
}
