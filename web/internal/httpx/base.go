package httpx

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// Base is what every audience's server is built from: one value per app,
// shared by all of them.
type Base struct {
	// BaseURL is the public URL of the server, without trailing slash.
	BaseURL string
	Log     *slog.Logger
	// Clock is the time source; Now reads it in UTC.
	Clock    func() time.Time
	Proxies  *Proxies
	Signer   *Signer
	Settings *Settings
	Streams  *Streams
	Widget   *widget.Renderer
	// Errors answers the errors of visitor routes and of unmatched paths.
	Errors *VisitorErrors
	// Observer hears requests and submissions for metrics; nil when
	// metrics are off.
	Observer Observer
	// Keys sign consent receipts (and are published as JWKS); they are
	// kept outside the database.
	Keys *formbuilder.KeyRing
}

// Now is the current time in UTC.
func (b *Base) Now() time.Time { return b.Clock().UTC() }

// ClientIP is the address of c's client, behind trusted proxies.
func (b *Base) ClientIP(c *fiber.Ctx) string { return b.Proxies.ClientIP(c) }

// Settings is the installation's settings as this process last saw them,
// kept current by the change feed: an atomic copy rather than a storage
// read on every use. Storage applies the IP mode itself, from the settings
// it reads in the transaction that stores an address.
type Settings struct {
	p atomic.Pointer[formbuilder.Settings]
}

// NewSettings returns a holder of st.
func NewSettings(st *formbuilder.Settings) *Settings {
	s := &Settings{}
	s.p.Store(st)
	return s
}

// Load returns the current settings; callers must not change them.
func (s *Settings) Load() *formbuilder.Settings { return s.p.Load() }

// Store replaces the settings after they were saved.
func (s *Settings) Store(st *formbuilder.Settings) { s.p.Store(st) }

// PageCache is the public side's cache of rendered form pages. Changes made
// through the admin UI or the API drop what they touched at once, changes
// made by another server when the change feed tells of them, and changes
// the feed does not carry (the CLI on a SQLite file) when an entry's TTL
// runs out.
type PageCache interface {
	// Invalidate drops the pages of the form with key.
	Invalidate(key string)
	// InvalidateAll drops every page, after a change that can touch many
	// forms (a new consent version changes each form that attaches it).
	InvalidateAll()
}
