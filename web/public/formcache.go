package public

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"
)

// tokenSlot returns the placeholder rendered where the render token goes;
// the page is split around it once, so serving a form is two copies and a
// signature, not a template run. It is random per render and must occur
// exactly once in the page: a fixed string could also be typed into a
// title or label by an admin, and the token would go there instead.
func tokenSlot() string {
	return "cftoken" + formbuilder.RandomKey(24)
}

// formCacheTTL bounds how long a form definition is served without a look at
// storage, for changes made by another process (the CLI, a second server).
// Changes made through this app invalidate the entry at once.
const formCacheTTL = 30 * time.Second

// formCacheMax bounds memory against key scans: only existing forms are
// cached, but an installation may have many; past it the cache starts over
// rather than track LRU.
const formCacheMax = 10000

// formCache holds the pre-encoded form pages the public GET route serves,
// per form and version.
//
// Three rules keep it right under concurrency:
//   - a miss is loaded once, however many requests ask at the same time
//     (single flight per key); they all get that one result;
//   - a load that read the form before an invalidation never stores its
//     page after it: every invalidation bumps gen, and a load stores only
//     when gen is what it was when the load began;
//   - a refresh after the TTL is done by one request while the others
//     keep serving the entry, and whatever happens to it (an error, a
//     panic in a render) it clears its flag, so the entry is never stuck.
type formCache struct {
	s     *Server
	group singleflight.Group
	mu    sync.Mutex
	m     map[string]*cachedForm
	gen   uint64
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

// renderedPage is a form page split around the render token.
type renderedPage struct {
	prefix, suffix []byte
	// etag is the entity tag of the identity body; the gzip body carries
	// etag with a "-gz" suffix (see httpx.EncodedETag), as RFC 9110 wants a
	// different strong validator per content coding.
	etag string
	// headers are the response headers per coding (identity, gzip) but
	// Content-Type and Content-Encoding, made once per version.
	headers [2]httpx.HeaderSet
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
	b := &pageBodies{sec: sec, identity: id, gzip: gzipBody(id)}
	p.bodies.Store(b)
	return b
}

func newFormCache(s *Server) *formCache {
	return &formCache{s: s, m: map[string]*cachedForm{}}
}

// get returns the cached form, loading and rendering it when missing or
// stale at now (the request's time). Keys that cannot exist are refused
// before storage is asked; a key found in the cache was checked when it was
// stored, which spares the hot path the key check.
func (fc *formCache) get(ctx context.Context, key string, now time.Time) (*cachedForm, error) {
	fc.mu.Lock()
	cf, gen := fc.m[key], fc.gen
	fc.mu.Unlock()
	if cf == nil {
		if !formbuilder.ValidFormKey(key) {
			return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgFormNotFound)
		}
		// The flight is per key and generation: a request after an
		// invalidation never joins a load that began before it. The load
		// outlives the request that started it, for the others waiting.
		flight := key + "\x00" + strconv.FormatUint(gen, 10)
		ctx := context.WithoutCancel(ctx)
		v, err, _ := fc.group.Do(flight, func() (any, error) { return fc.load(ctx, key, nil, gen, now) })
		if err != nil {
			return nil, err
		}
		return v.(*cachedForm), nil
	}
	if now.Sub(cf.loaded) < formCacheTTL || !cf.refreshing.CompareAndSwap(false, true) {
		return cf, nil
	}
	// This request refreshes; the flag is cleared whatever happens, and a
	// successful refresh replaces the entry anyway.
	defer cf.refreshing.Store(false)
	return fc.load(ctx, key, cf, gen, now)
}

// load reads the form of key, renders its pages unless old already has them
// for the same version, and stores the result unless an invalidation came
// after gen was read.
func (fc *formCache) load(ctx context.Context, key string, old *cachedForm, gen uint64, now time.Time) (*cachedForm, error) {
	f, err := fc.s.svc.Forms.FindFormByKey(ctx, key)
	if err != nil {
		if old != nil && formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
			fc.Invalidate(key)
		}
		return nil, err
	}
	var fresh *cachedForm
	if old != nil && old.form.Version == f.Version && old.form.UpdatedAt.Equal(f.UpdatedAt) {
		// Unchanged: keep the rendered pages (and their bodies of this
		// second), just note the check.
		fresh = &cachedForm{form: old.form, loaded: now, pages: old.pages}
	} else {
		fresh = &cachedForm{form: f, loaded: now}
		for i, embed := range []bool{false, true} {
			p, err := fc.render(f, embed)
			if err != nil {
				return nil, err
			}
			fresh.pages[i] = p
		}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.gen != gen {
		// The form (or every form) changed while this load ran: what it
		// read may be from before the change. Serve it to the requests that
		// asked before, but do not keep it.
		return fresh, nil
	}
	if len(fc.m) >= formCacheMax {
		fc.m = map[string]*cachedForm{}
	}
	fc.m[key] = fresh
	return fresh, nil
}

func (fc *formCache) render(f *formbuilder.Form, embed bool) (*renderedPage, error) {
	slot := tokenSlot()
	page, err := fc.s.Widget.FormPage(f, widget.PageState{Embed: embed, Token: slot})
	if err != nil {
		return nil, err
	}
	if n := bytes.Count(page, []byte(slot)); n != 1 {
		return nil, formbuilder.Internal(fmt.Errorf("rendered form has %d token slots, not one", n))
	}
	i := bytes.Index(page, []byte(slot))
	sum := sha256.Sum256(page)
	prefix, suffix := page[:i:i], page[i+len(slot):]
	etag := `"` + strconv.Itoa(f.Version) + "-" + hex.EncodeToString(sum[:8]) + `"`
	p := &renderedPage{prefix: prefix, suffix: suffix, etag: etag}
	csp := httpx.PublicCSP(f)
	for i, enc := range []httpx.Encoding{httpx.EncIdentity, httpx.EncGzip} {
		p.headers[i] = httpx.HeaderSet{
			{httpx.HdrCSP, []byte(csp)},
			{httpx.HdrXContentTypeOptions, []byte("nosniff")},
			{httpx.HdrReferrerPolicy, []byte("strict-origin-when-cross-origin")},
			// Revalidate every time: the page carries a render token
			// that expires.
			{httpx.HdrCacheControl, []byte("private, no-cache")},
			{httpx.HdrVary, []byte(fiber.HeaderAcceptEncoding)},
			{httpx.HdrETag, []byte(httpx.EncodedETag(etag, enc))},
		}
	}
	return p, nil
}

// Invalidate drops a form after a change made through this app.
func (fc *formCache) Invalidate(key string) {
	fc.mu.Lock()
	fc.gen++
	delete(fc.m, key)
	fc.mu.Unlock()
}

// InvalidateAll drops every form.
func (fc *formCache) InvalidateAll() {
	fc.mu.Lock()
	fc.gen++
	fc.m = map[string]*cachedForm{}
	fc.mu.Unlock()
}

// gzipBody compresses a page body. It runs once a second per page (the
// bodies are shared per second), about 0.2 ms for a form page, so a
// request never compresses. It replaced a splice that compressed the page
// once per version and put each token in as a stored deflate block: server
// CPU per gzip page was the same within the noise of formbench (17–19 µs
// per request either way), the splice only saved the once-a-second
// compression (issue 13).
func gzipBody(b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		panic("gzip: " + err.Error()) // only for an invalid level
	}
	_, _ = zw.Write(b) // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}
