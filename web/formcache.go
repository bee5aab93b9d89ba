package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
)

// tokenPlaceholder is rendered where the per-request render token goes; the
// page is split around it once, so serving a form is two copies and a
// signature, not a template run.
const tokenPlaceholder = "cftokenplaceholderxq7"

// formCacheTTL bounds how long a form definition is served without a look at
// storage, for changes made by another process (the CLI, a second server).
// Changes made through this app invalidate the entry at once.
const formCacheTTL = 30 * time.Second

type formCache struct {
	s  *Server
	mu sync.Mutex
	m  map[string]*cachedForm
}

// cachedForm is one form definition with its pages rendered for one version.
// It is never mutated after it is published in the map.
type cachedForm struct {
	form   *formbuilder.Form
	loaded time.Time
	pages  [2]*renderedPage // [0] standalone, [1] embed
}

// renderedPage is a form page split around the render token.
type renderedPage struct {
	prefix, suffix []byte
	etag           string
}

func newFormCache(s *Server) *formCache {
	return &formCache{s: s, m: map[string]*cachedForm{}}
}

// get returns the cached form, loading and rendering it when missing or stale.
func (fc *formCache) get(ctx context.Context, key string) (*cachedForm, error) {
	now := time.Now()
	fc.mu.Lock()
	cf := fc.m[key]
	fc.mu.Unlock()
	if cf != nil && now.Sub(cf.loaded) < formCacheTTL {
		return cf, nil
	}
	f, err := fc.s.svc.Forms.FindFormByKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if cf != nil && cf.form.Version == f.Version && cf.form.UpdatedAt.Equal(f.UpdatedAt) {
		// Unchanged: keep the rendered pages, just note the check.
		fresh := &cachedForm{form: cf.form, loaded: now, pages: cf.pages}
		fc.put(key, fresh)
		return fresh, nil
	}
	fresh := &cachedForm{form: f, loaded: now}
	for i, embed := range []bool{false, true} {
		p, err := fc.render(f, embed)
		if err != nil {
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
		return nil, formbuilder.Internal(errString("rendered form has no token slot"))
	}
	sum := sha256.Sum256(page)
	return &renderedPage{
		prefix: page[:i:i],
		suffix: page[i+len(tokenPlaceholder):],
		etag:   `"` + strconv.Itoa(f.Version) + "-" + hex.EncodeToString(sum[:8]) + `"`,
	}, nil
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

type errString string

func (e errString) Error() string { return string(e) }
