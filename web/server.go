// Package web is the Fiber application of consentforms: the public form
// routes that visitors and embedded forms use, the admin UI and the JSON API.
//
// It depends on the services defined in formbuilder and on widget for what
// visitors see, never on the storage package: cmd/consentforms wires the
// SQLite implementation in.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// Services are the domain services the app works with.
type Services struct {
	Forms       formbuilder.FormService
	Consents    formbuilder.ConsentService
	Submissions formbuilder.SubmissionService
	Log         formbuilder.ConsentLog
	Users       formbuilder.UserService
	Sessions    formbuilder.SessionService
	Tokens      formbuilder.TokenService
	Settings    formbuilder.SettingsService
	// Chat stores chat channels and conversations; without it the chat's
	// routes answer 404.
	Chat formbuilder.ChatService
	// Inbox reads, searches and exports submissions; Outbox holds their
	// webhook and e-mail deliveries (inbox.go, deliveries.go). Without
	// them those pages answer 404.
	Inbox  formbuilder.SubmissionReader
	Outbox formbuilder.OutboxService
}

// Config holds what the app needs from the command line.
type Config struct {
	// BaseURL is the public URL of the server, without trailing slash; it
	// goes into embed codes, withdrawal links and absolute asset URLs.
	BaseURL string
	// Secret signs render tokens and withdrawal links. It must stay the same
	// across restarts, or links already sent stop working.
	Secret []byte
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string
	// MinFillTime rejects forms sent sooner after rendering (a bot trap);
	// zero disables the check (tests).
	MinFillTime time.Duration
	// BodyLimit caps request bodies in bytes; 0 means 1 MiB. Larger bodies
	// get 413 before the handler runs.
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
	// Logger receives request and error logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SMTPConfigured says whether notification mails are sent; when not,
	// the delivery settings say that mails wait.
	SMTPConfigured bool
}

// Server is the web application.
type Server struct {
	cfg Config
	// macs pools HMAC-SHA256 states keyed with cfg.Secret for sign: a new
	// one per signature cost two hash states and a key schedule.
	macs     sync.Pool
	svc      Services
	log      *slog.Logger
	app      *fiber.App
	widget   *widget.Renderer
	trusted  []netip.Prefix
	forms    *formCache
	settings atomic.Pointer[formbuilder.Settings]
	// rates are the limits of the public POST routes (see ratelimit.go).
	rates *rateLimits
	// admin holds the admin UI's templates, assets and sign-in throttle;
	// routesAdmin sets it (see admin.go).
	admin *adminUI
	// chat holds the chat's event broadcaster and limits (see chat.go).
	chat *chatState
}

// New builds the app with every route. It loads the settings once; later
// changes go through the app, which refreshes its copy.
func New(cfg Config, svc Services) (*Server, error) {
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
	if len(cfg.Secret) < 32 {
		return nil, errors.New("web: secret must be at least 32 bytes")
	}
	s := &Server{cfg: cfg, svc: svc, log: cfg.Logger, rates: newRateLimits(cfg)}
	for _, p := range cfg.TrustedProxies {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, errors.New("web: bad trusted proxy " + p)
			}
			p = netip.PrefixFrom(a, a.BitLen()).String()
		}
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, errors.New("web: bad trusted proxy " + p)
		}
		s.trusted = append(s.trusted, pre.Masked())
	}
	w, err := widget.New(widget.Options{BaseURL: cfg.BaseURL})
	if err != nil {
		return nil, err
	}
	s.widget = w
	s.forms = newFormCache(s)
	st, err := svc.Settings.GetSettings(context.Background())
	if err != nil {
		return nil, err
	}
	s.settings.Store(st)

	s.app = fiber.New(fiber.Config{
		AppName:               "consentforms",
		ErrorHandler:          s.handleServerError,
		DisableStartupMessage: true,
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
		// Trusted proxies are handled by clientIP, which walks
		// X-Forwarded-For from the right; Fiber's ProxyHeader takes the
		// left-most entry, which any client can forge through a proxy.
		EnableTrustedProxyCheck: false,
	})
	s.app.Use(s.frame)
	s.routes()
	return s, nil
}

// App returns the Fiber app, for tests (app.Test) and for Listen.
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Listener serves on an existing listener (tests and port 0).
func (s *Server) Listener(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for running requests.
func (s *Server) Shutdown(ctx context.Context) error {
	// Chat event streams never end by themselves; a graceful shutdown
	// would wait for them.
	s.chat.hub.close()
	return s.app.ShutdownWithContext(ctx)
}

// handleServerError is the app's error handler. Fasthttp refuses a body
// over BodyLimit before any handler runs, and Fiber reports it as a bare
// 413; this names the limit, so a client knows what to change.
func (s *Server) handleServerError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge {
		err = formbuilder.Errorf(formbuilder.ETOOLARGE, "The request body is larger than %d KiB.", s.cfg.BodyLimit/1024)
	}
	return s.handleError(c, err)
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

func (s *Server) routes() {
	app := s.app
	app.Get("/healthz", s.handleHealth)
	app.Get("/favicon.ico", s.handleFavicon)
	s.routesPublic(app)
	s.routesAdmin(app)
	s.routesAPI(app)
	// After both: the consent log's routes rely on their prefix middleware.
	s.routesLog(app)
	s.routesChat(app)
	s.routesInbox(app)
}

func (s *Server) handleHealth(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// handleFavicon answers the icon request browsers make for every page of
// this host with "no content", cached for a day: the forms have no icon of
// their own, and a 404 per page view only fills consoles and logs.
func (s *Server) handleFavicon(c *fiber.Ctx) error {
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
	c.Response().Header.SetCanonical(hdrRequestID, appendRequestID(idBuf[:0], c))
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic", "method", c.Method(), "path", c.Path(), "panic", r,
				"request_id", requestID(c), "stack", string(debug.Stack()))
			err = formbuilder.Internal(fmt.Errorf("panic: %v", r))
		}
		s.accessLog(c, err)
	}()
	return c.Next()
}

// recoverStream, deferred by a body stream writer, logs a panic of it
// instead of letting it end the server: fasthttp runs stream writers in a
// goroutine of their own, outside frame's recover.
func (s *Server) recoverStream(what, reqID string) {
	if r := recover(); r != nil {
		s.log.Error("panic in "+what, "panic", r, "request_id", reqID, "stack", string(debug.Stack()))
	}
}

// requestIDPrefix makes request ids unique across restarts: fasthttp's
// request ids (connection number, request number on it) only are within
// one process.
var requestIDPrefix = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

var hdrRequestID = []byte(fiber.HeaderXRequestID)

// appendRequestID appends the id of c's request to dst.
func appendRequestID(dst []byte, c *fiber.Ctx) []byte {
	dst = append(dst, requestIDPrefix...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, c.Context().ID(), 36)
}

// requestID is the id of c's request, as its X-Request-Id header and the
// log lines about it show it. Computed where needed rather than stored:
// only error paths need it as a string.
func requestID(c *fiber.Ctx) string { return string(appendRequestID(make([]byte, 0, 32), c)) }

// accessLog logs the request at debug level, or as an error when it
// failed with a 5xx. Paths and user agents are visitor controlled, so
// slog's quoting keeps CR/LF from forging log lines.
func (s *Server) accessLog(c *fiber.Ctx, err error) {
	status := c.Response().StatusCode()
	if err != nil {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			status = fe.Code
		} else if code := formbuilder.ErrorCode(err); code != "" {
			status = statusOf(code)
		}
	}
	// The fasthttp context is a context.Context without a Locals lookup;
	// slog's handlers only pass it on.
	ctx := c.Context()
	if status >= 500 || s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Log(ctx, levelFor(status), "request", "method", c.Method(), "path", c.Path(),
			"status", status, "dur_ms", time.Since(ctx.Time()).Milliseconds(), "request_id", requestID(c))
	}
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelDebug
}

// clientIP returns the visitor's address. X-Forwarded-For is only read when
// the peer is a trusted proxy, and then from the right, skipping trusted
// hops, so a forged left-most entry never counts.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if !s.isTrusted(peer) {
		return peer.String()
	}
	xff := c.Get(fiber.HeaderXForwardedFor)
	if xff == "" {
		return peer.String()
	}
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			// A hop we cannot read: stop trusting what lies beyond it.
			return peer.String()
		}
		a = a.Unmap()
		if !s.isTrusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (s *Server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
