// Package web assembles the Fiber app of consentforms from one package per
// audience, each of which builds its own routes and attaches its own access
// rules:
//
//   - web/public: hosted forms, submissions, withdrawal links, embed.js and
//     static files, open to anyone and rate limited;
//   - web/chat: the visitor's chat page, API and event stream, open to the
//     holder of a visitor id and rate limited;
//   - web/admin: the admin UI under /admin, behind a session, CSRF token and
//     same-origin check (the operators' chat pages included);
//   - web/api: the JSON API under /api/v1, behind a bearer token.
//
// This package holds no handler of its own but the health check and the
// favicon; it sets up what all parts share (web/internal/httpx), the one
// middleware every request passes, and the error answer for paths no route
// matches. It depends on the services defined in formbuilder and on widget,
// never on storage: cmd/consentforms wires an implementation in.
package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/admin"
	"github.com/consentforms/consentforms/web/api"
	"github.com/consentforms/consentforms/web/chat"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/chatlive"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/web/public"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Services are the domain services the app works with.
type Services = httpx.Services

// Default rate limits, per minute (see Config).
const (
	DefaultRateIPForm      = public.DefaultRateIPForm
	DefaultRateIP          = public.DefaultRateIP
	DefaultRateForm        = public.DefaultRateForm
	DefaultRateChatIP      = chat.DefaultRateChatIP
	DefaultRateChatChannel = chat.DefaultRateChatChannel
	DefaultRateDocumentIP  = public.DefaultRateDocumentIP
)

// Config holds what the app needs from the command line.
type Config struct {
	// BaseURL is the public URL of the server, without trailing slash; it
	// goes into embed codes, withdrawal links and absolute asset URLs.
	BaseURL string
	// Secret signs render tokens and withdrawal links. It must stay the same
	// across restarts, or links already sent stop working.
	Secret []byte
	// Keys sign consent receipts and are published at
	// /.well-known/consentforms-keys. They come from a file outside the
	// database (cmd/consentforms --signing-key); required.
	Keys *formbuilder.KeyRing
	// ConfirmWithin is how long a visitor has to confirm a consent that
	// needs confirmation by e-mail (double opt-in); zero means
	// formbuilder.DefaultConfirmWithin.
	ConfirmWithin time.Duration
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string
	// MinFillTime rejects forms sent sooner after rendering (a bot trap);
	// zero disables the check (tests).
	MinFillTime time.Duration
	// BodyLimit caps request bodies in bytes; 0 means 1 MiB. Larger bodies
	// get 413 before the handler runs. The routes that take a document
	// (the consent editor's posts and the API's consent writes) take
	// formbuilder.MaxDocumentBytes more, from a signed-in admin or an API
	// token only (see bodyLimitFor).
	BodyLimit int
	// ReadTimeout bounds reading one request, headers and body (slow
	// clients hold a connection and a goroutine until then); WriteTimeout
	// bounds writing the answer; IdleTimeout bounds waiting for the next
	// request on a kept-alive connection. Zero means 15s, 30s and 75s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// RateIPForm, RateIP and RateForm limit the public POSTs (submissions,
	// withdrawals) per minute, in a sliding window: per client IP and form,
	// per client IP, and per form. Zero means the default (DefaultRate*),
	// negative turns that limit off.
	RateIPForm, RateIP, RateForm int
	// RateChatIP and RateChatChannel limit the chat's visitor posts per
	// minute: per client IP and channel, and per channel. Zero means the
	// default (DefaultRateChat*), negative turns that limit off.
	RateChatIP, RateChatChannel int
	// RateDocumentIP limits the documents (GET /d/…) one client IP fetches
	// per minute. Zero means DefaultRateDocumentIP, negative turns it off.
	RateDocumentIP int
	// Logger receives request and error logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SMTPConfigured says whether notification mails are sent; when not,
	// the delivery settings say that mails wait.
	SMTPConfigured bool
	// WebhookAllowPrivate lets admins save webhooks whose URL names a
	// loopback, private or other non-public address (or localhost), as the
	// delivery worker's --webhook-allow-private lets it send there. Off,
	// such URLs are refused when saved.
	WebhookAllowPrivate bool
	// Observer hears every request and form post, for metrics (package
	// metrics implements it); nil turns that off.
	Observer Observer
}

// Observer hears what the app does, for metrics.
type Observer = httpx.Observer

// Server is the web application.
type Server struct {
	cfg   Config
	base  *httpx.Base
	app   *fiber.App
	hub   *chatlive.Hub
	adm   *admin.Server
	api   *api.Server
	svc   Services
	pages httpx.PageCache
	// stopChanges ends the subscription to storage's change feed.
	stopChanges func()
	// hsts is the Strict-Transport-Security value every answer carries
	// when the public URL is https; nil over http.
	hsts []byte
}

// New builds the app with every route. It subscribes to storage's change
// feed (svc.Changes), then loads the settings; from then on what this
// server holds in memory (settings, form pages, chat streams) follows the
// changes any server makes.
func New(cfg Config, svc Services) (*Server, error) {
	if svc.Changes == nil {
		return nil, errors.New("web: Services.Changes is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 15 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 75 * time.Second
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	signer, err := httpx.NewSigner(cfg.Secret)
	if err != nil {
		return nil, err
	}
	if cfg.Keys == nil || cfg.Keys.Load() == nil {
		return nil, errors.New("web: Config.Keys is required: consent receipts are signed with them")
	}
	proxies, err := httpx.NewProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	w, err := widget.New(widget.Options{BaseURL: cfg.BaseURL})
	if err != nil {
		return nil, err
	}
	if svc.Audit == nil {
		// Every staff change is recorded; an app that could not would
		// make changes nobody can trace.
		return nil, errors.New("web: Services.Audit is required")
	}
	base := &httpx.Base{
		BaseURL: cfg.BaseURL,
		Log:     cfg.Logger,
		Clock:   cfg.Now,
		Proxies: proxies,
		Signer:  signer,
		// Filled below, once the change feed listens.
		Settings: new(httpx.Settings),
		Streams:  httpx.NewStreams(cfg.Logger),
		Widget:   w,
		Errors:   &httpx.VisitorErrors{Log: cfg.Logger, Widget: w},
		Observer: cfg.Observer,
		Keys:     cfg.Keys,
	}
	s := &Server{cfg: cfg, base: base, svc: svc, hub: chatlive.NewHub(svc.Chat)}
	if strings.HasPrefix(strings.ToLower(cfg.BaseURL), "https://") {
		// A year, subdomains included: once a browser has seen the app over
		// https it never sends a form, a session cookie or a token in
		// clear text again, even from a typed http:// link.
		s.hsts = []byte("max-age=31536000; includeSubDomains")
	}

	// One per-client limit counts every public post, forms and chat alike.
	ipLimit := httpx.NewLimiter(httpx.LimitOrDefault(cfg.RateIP, DefaultRateIP), httpx.RateWindow, httpx.RateMaxKeys)
	pub := public.New(base, public.Config{MinFillTime: cfg.MinFillTime, IPLimit: ipLimit,
		RateIPForm: cfg.RateIPForm, RateForm: cfg.RateForm, RateDocumentIP: cfg.RateDocumentIP,
		ConfirmWithin: cfg.ConfirmWithin}, svc)
	visitors := chat.New(base, chat.Config{IPLimit: ipLimit, RateChatIP: cfg.RateChatIP,
		RateChatChannel: cfg.RateChatChannel}, svc, s.hub)
	office := backoffice.New(base, svc)
	adm, err := admin.New(base, admin.Config{SMTPConfigured: cfg.SMTPConfigured,
		WebhookAllowPrivate: cfg.WebhookAllowPrivate}, svc, office, pub.Pages(), s.hub)
	if err != nil {
		return nil, err
	}
	apiSrv := api.New(base, api.Config{WebhookAllowPrivate: cfg.WebhookAllowPrivate}, svc, office, pub.Pages())
	s.adm, s.api = adm, apiSrv
	s.pages = pub.Pages()

	// Subscribed before the settings are read, so that a save between the
	// two is not missed.
	if s.stopChanges, err = svc.Changes.SubscribeChanges(s.changed); err != nil {
		return nil, err
	}
	st, err := svc.Settings.GetSettings(context.Background())
	if err != nil {
		s.stopChanges()
		return nil, err
	}
	base.Settings.Store(st)

	s.app = fiber.New(fiber.Config{
		AppName:               "consentforms",
		ErrorHandler:          s.handleError,
		DisableStartupMessage: true,
		// The admin pages' templates (gofiber/template/html/v2).
		Views: adm.Views(),
		// Immutable makes every string Fiber hands out a copy, so values kept
		// past the handler (queues, caches, the group-commit writer) never
		// point into reused request buffers.
		Immutable:    true,
		BodyLimit:    cfg.BodyLimit,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		IdleTimeout:  cfg.IdleTimeout,
		// A form page with its headers is 6–8 KiB: with fasthttp's default
		// 4 KiB buffer every page took two write syscalls, a third more
		// server CPU per page (cmd/formbench). It costs 4 KiB more per
		// kept-alive connection.
		WriteBufferSize: 8 << 10,
		// Trusted proxies are handled by httpx.Proxies, which walks
		// X-Forwarded-For from the right; Fiber's ProxyHeader takes the
		// left-most entry, which any client can forge through a proxy.
		EnableTrustedProxyCheck: false,
	})
	// Each request's body limit is decided from its header, before fasthttp
	// reads any of the body (see bodyLimitFor): fasthttp then refuses a
	// declared Content-Length over it at once and a chunked body as soon
	// as it grows past it, on every route alike.
	s.app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		if limit := s.bodyLimitFor(h); limit > cfg.BodyLimit {
			return fasthttp.RequestConfig{MaxRequestBodySize: limit, ReadTimeout: max(cfg.ReadTimeout, uploadReadTimeout)}
		}
		return fasthttp.RequestConfig{}
	}
	// A client that announces a body over the limit and waits for "100
	// Continue" gets 417 and a closed connection at once, without being
	// invited to send the body (fasthttp would send 100 first, then 413).
	s.app.Server().ContinueHandler = func(h *fasthttp.RequestHeader) bool {
		if h.ContentLength() > s.bodyLimitFor(h) {
			h.SetConnectionClose()
			return false
		}
		return true
	}
	s.app.Use(s.frame)
	s.app.Get("/healthz", handleHealth)
	s.app.Get("/favicon.ico", handleFavicon)
	pub.Routes(s.app)
	visitors.Routes(s.app)
	adm.Routes(s.app)
	apiSrv.Routes(s.app)
	return s, nil
}

// ChatStreams counts the chat event streams open now, for metrics.
func (s *Server) ChatStreams() int { return s.hub.Open() }

// ConfirmURL returns the signed link that confirms entry recordID, for the
// double opt-in mail (delivery.VisitorLinks).
func (s *Server) ConfirmURL(recordID int64) string {
	return s.cfg.BaseURL + s.base.Signer.ConfirmPath(recordID)
}

// AccessURL returns the signed link to the consents of address, in lang,
// valid for httpx.AccessTTL from now, for the self-service mail
// (delivery.VisitorLinks).
func (s *Server) AccessURL(address, lang string, now time.Time) string {
	return s.cfg.BaseURL + s.base.Signer.AccessPath(address, lang, now.Add(httpx.AccessTTL))
}

// App returns the Fiber app, for tests (app.Test) and for Listen.
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Listener serves on an existing listener (tests and port 0).
func (s *Server) Listener(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for running requests.
// Streamed answers (event streams, exports) are cancelled first: they never
// end by themselves, and a graceful shutdown would wait for them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopChanges()
	s.base.Streams.Close()
	s.hub.Close()
	return s.app.ShutdownWithContext(ctx)
}

// changed applies a change of storage's feed to what this server holds:
// the form pages, the settings, the chat streams. It runs on the feed's
// goroutine, one change at a time.
func (s *Server) changed(c formbuilder.Change) {
	ctx := context.Background()
	switch c.Kind {
	case formbuilder.ChangeForm:
		s.pages.Invalidate(c.Key)
	case formbuilder.ChangeForms:
		s.pages.InvalidateAll()
	case formbuilder.ChangeSettings:
		s.reloadSettings(ctx)
	case formbuilder.ChangeChat:
		if err := s.hub.Changed(ctx, c); err != nil {
			s.base.Log.Error("chat change: streams end and replay", "conversation_id", c.ID, "err", err)
		}
	case formbuilder.ChangeResync:
		s.base.Log.Warn("change feed resync: re-reading settings, dropping cached pages, ending chat streams")
		s.pages.InvalidateAll()
		s.reloadSettings(ctx)
		s.hub.Resync()
	}
}

// reloadSettings reads the settings again. On failure the old ones stay
// (the IP mode, which matters most, storage applies itself) and the next
// change or resync tries again.
func (s *Server) reloadSettings(ctx context.Context) {
	st, err := s.svc.Settings.GetSettings(ctx)
	if err != nil {
		s.base.Log.Error("reload settings", "err", err)
		return
	}
	s.base.Settings.Store(st)
}

// handleError is the app's error handler: what the audiences' own frames
// leave (the visitor routes' errors, paths no route matches). Fasthttp
// refuses a body over BodyLimit before any handler runs, and Fiber reports
// it as a bare 413; this names the limit, so a client knows what to change.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge {
		h := &c.Request().Header
		if uploadRoute(h.Method(), h.RequestURI()) != "" {
			err = formbuilder.NewError(formbuilder.ETOOLARGE, formbuilder.MsgUploadTooLarge, "kib", strconv.Itoa(s.bodyLimitFor(h)/1024))
		} else {
			err = formbuilder.NewError(formbuilder.ETOOLARGE, formbuilder.MsgRequestTooLarge, "kib", strconv.Itoa(s.cfg.BodyLimit/1024))
		}
	}
	return s.base.Errors.Handle(c, err)
}

// uploadReadTimeout is how long reading a request that carries a document
// may take: 11 MiB at 1 Mbit/s.
const uploadReadTimeout = 2 * time.Minute

// bodyLimitFor is the largest body the request with header h may send:
// BodyLimit, except on the routes that take a document, where a request
// that carries a live admin session (the consent editor) or a valid API
// token (the API's consent writes) may send formbuilder.MaxDocumentBytes
// plus httpx.UploadSlack. The credential is checked here, before any of the
// body is read, so that nobody without one makes the server read more than
// BodyLimit; the route's own handlers check it again, fully (CSRF token,
// same origin), once the body is in.
func (s *Server) bodyLimitFor(h *fasthttp.RequestHeader) int {
	who := uploadRoute(h.Method(), h.RequestURI())
	if who == "" {
		return s.cfg.BodyLimit
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok := false
	switch who {
	case "admin":
		ok = s.adm.MayUpload(ctx, string(h.Cookie(admin.SessionCookie)))
	case "api":
		ok = s.api.MayUpload(ctx, string(h.Peek(fiber.HeaderAuthorization)))
	}
	if !ok {
		return s.cfg.BodyLimit
	}
	return max(s.cfg.BodyLimit, formbuilder.MaxDocumentBytes+httpx.UploadSlack)
}

// uploadRoute names the audience of a route that takes a document ("admin"
// or "api"), or "". It matches the exact paths the editor and API clients
// send to; anything Fiber would also route there (another case, a
// trailing slash) keeps the normal limit, which errs on the safe side. It
// runs for every request, so it compares bytes without allocating.
func uploadRoute(method, uri []byte) string {
	path, _, _ := bytes.Cut(uri, []byte{'?'})
	switch string(method) {
	case fiber.MethodPost:
		if string(path) == admin.Prefix+"/consents" || idPath(path, admin.Prefix+"/consents/") {
			return "admin"
		}
		if string(path) == api.Prefix+"/consents" {
			return "api"
		}
	case fiber.MethodPut:
		if idPath(path, api.Prefix+"/consents/") {
			return "api"
		}
	}
	return ""
}

// idPath reports whether path is prefix followed by a decimal id.
func idPath(path []byte, prefix string) bool {
	if len(path) <= len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	id := path[len(prefix):]
	if len(id) > 19 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
func handleHealth(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// handleFavicon answers the icon request browsers make for every page of
// this host with "no content", cached for a day: the forms have no icon of
// their own, and a 404 per page view only fills consoles and logs.
func handleFavicon(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
	return c.SendStatus(fiber.StatusNoContent)
}

// frame is the one middleware every request passes: it gives the request
// its id, recovers a panic into a 500 and writes the access log line. One
// frame instead of Fiber's recover, requestid and a logger middleware saves
// two handler calls, a UUID and two clock reads per request: perf under wrk
// put the three at about 5 % of the server's CPU on the form page, the
// frame at about 2.5 %.
func (s *Server) frame(c *fiber.Ctx) (err error) {
	var idBuf [32]byte
	c.Response().Header.SetCanonical(httpx.HdrRequestID, httpx.AppendRequestID(idBuf[:0], c))
	if s.hsts != nil {
		c.Response().Header.SetCanonical(hdrHSTS, s.hsts)
	}
	defer func() {
		if r := recover(); r != nil {
			s.base.Log.Error("panic", "method", c.Method(), "path", c.Path(), "panic", r,
				"request_id", httpx.RequestID(c), "stack", string(debug.Stack()))
			err = formbuilder.Internal(fmt.Errorf("panic: %v", r))
		}
		s.accessLog(c, err)
	}()
	return c.Next()
}

var hdrHSTS = []byte(fiber.HeaderStrictTransportSecurity)

// accessLog logs the request at debug level, or as an error when it
// failed with a 5xx, and tells the observer. Paths and user agents are
// visitor controlled, so slog's quoting keeps CR/LF from forging log lines.
func (s *Server) accessLog(c *fiber.Ctx, err error) {
	status := c.Response().StatusCode()
	if err != nil {
		status = httpx.ProblemOf(err).Status
	}
	// The fasthttp context is a context.Context without a Locals lookup;
	// slog's handlers only pass it on.
	ctx := c.Context()
	if obs := s.base.Observer; obs != nil {
		obs.ObserveRequest(httpx.RouteClass(c.Path()), status, time.Since(ctx.Time()))
	}
	log := s.base.Log
	if status >= 500 || log.Enabled(ctx, slog.LevelDebug) {
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelError
		}
		log.Log(ctx, level, "request", "method", c.Method(), "path", c.Path(),
			"status", status, "dur_ms", time.Since(ctx.Time()).Milliseconds(), "request_id", httpx.RequestID(c))
	}
}
