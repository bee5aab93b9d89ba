// Package public serves what visitors and site owners' pages load without
// any account: the hosted form and its submissions (form posts and JSON),
// the withdrawal links, the embed loader and the static assets. Every route
// is open to anyone; posts are rate limited per client, per client and
// form, and per form.
package public

import (
	"time"

	"github.com/consentforms/consentforms/formbuilder"

	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// Default limits of the public POST routes, per minute. A person sends a
// form a few times at most; a busy embedded form gets many posts, but from
// many addresses.
const (
	DefaultRateIPForm = 10  // per client IP and form
	DefaultRateIP     = 60  // per client IP over all public posts
	DefaultRateForm   = 600 // per form over all clients
)

// Config is what the public routes need besides the shared Base.
type Config struct {
	// MinFillTime rejects forms sent sooner after rendering (a bot trap);
	// zero disables the check (tests).
	MinFillTime time.Duration
	// IPLimit counts every public post of a client, chat posts included;
	// the app makes one and hands it to the chat too.
	IPLimit *httpx.Limiter
	// RateIPForm and RateForm limit posts per minute per client IP and
	// form, and per form. Zero means the default, negative turns it off.
	RateIPForm, RateForm int
	// RateDocumentIP limits document downloads per minute per client IP.
	// Zero means DefaultRateDocumentIP, negative turns it off.
	RateDocumentIP int
	// ConfirmWithin is how long a visitor has to confirm a consent that
	// needs confirmation by e-mail; zero means
	// formbuilder.DefaultConfirmWithin.
	ConfirmWithin time.Duration
}

// Server is the public side of the app.
type Server struct {
	*httpx.Base
	cfg   Config
	svc   httpx.Services
	forms *formCache
	// ipForm and form are the limits of posts to forms; cfg.IPLimit counts
	// every public post of a client.
	ipForm, form *httpx.Limiter
	// docIP limits the documents one client fetches.
	docIP *httpx.Limiter
	// accessIP and accessAddress limit the self-service link requests per
	// client and per address (see mine.go).
	accessIP, accessAddress *httpx.Limiter
	// decoys answers the honeypot like a stored submission.
	decoys decoys
}

// New returns the public side; Routes registers it.
func New(base *httpx.Base, cfg Config, svc httpx.Services) *Server {
	if cfg.ConfirmWithin <= 0 {
		cfg.ConfirmWithin = formbuilder.DefaultConfirmWithin
	}
	s := &Server{Base: base, cfg: cfg, svc: svc,
		ipForm:        httpx.NewLimiter(httpx.LimitOrDefault(cfg.RateIPForm, DefaultRateIPForm), httpx.RateWindow, httpx.RateMaxKeys),
		form:          httpx.NewLimiter(httpx.LimitOrDefault(cfg.RateForm, DefaultRateForm), httpx.RateWindow, httpx.RateMaxKeys),
		docIP:         httpx.NewLimiter(httpx.LimitOrDefault(cfg.RateDocumentIP, DefaultRateDocumentIP), httpx.RateWindow, httpx.RateMaxKeys),
		accessIP:      httpx.NewLimiter(accessPerIP, accessWindow, httpx.RateMaxKeys),
		accessAddress: httpx.NewLimiter(accessPerAddress, accessWindow, httpx.RateMaxKeys),
	}
	// Static assets are compressed with brotli here, once per process, so
	// that no request waits for the slow best level.
	for _, a := range base.Widget.Assets() {
		httpx.PrepareAsset(a)
	}
	s.forms = newFormCache(s)
	return s
}

// Routes registers the public routes. They need no credentials; posts pass
// the rate limits before their body is read, and so do the pages of the
// signed links that read and sign a receipt per entry (a forwarded link
// stays good for its whole lifetime).
func (s *Server) Routes(app *fiber.App) {
	app.Get("/f/:key", s.handleFormPage)
	app.Post("/f/:key", s.countSubmission, s.limitPost, s.handleFormSubmit)
	app.Options("/f/:key", s.handleFormPreflight)
	app.Get("/w/:token", s.handleWithdrawPage)
	app.Post("/w/:token", s.limitPost, s.handleWithdrawConfirm)
	app.Get("/static/:name", s.handleAsset)
	app.Get("/embed.js", s.handleEmbedJS)
	app.Get("/d/:file", s.limitDocument, s.handleDocument)
	app.Get(KeysPath, s.handleKeys)
	app.Get("/confirm/:token", s.limitPost, s.handleConfirmPage)
	app.Post("/confirm/:token", s.limitPost, s.handleConfirm)
	app.Get(MinePath, s.handleMineAsk)
	app.Post(MinePath, s.limitAccess, s.handleMineRequest)
	app.Get(MinePath+"/:token", s.limitPost, s.handleMineList)
	app.Post(MinePath+"/:token", s.limitPost, s.handleMineWithdraw)
}

// Pages is the cache of rendered form pages, for the admin UI and the API
// to invalidate after a change.
func (s *Server) Pages() httpx.PageCache { return s.forms }
