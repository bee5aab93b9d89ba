// Package admin is the admin UI under /admin: sign-in and sessions, forms
// and their fields, consents and their versions, the consent log, a form's
// submissions and deliveries, the chat's channels and the operators'
// conversations, and the settings. Every page but the sign-in page and the
// static files needs a live session; every post also a same-origin request
// and the session's CSRF token. These checks are attached to each route
// itself, never to a prefix that another part registers.
//
// Pages are server-rendered with gofiber/template/html/v2 as Fiber's Views
// engine from embedded files: each page composes the shared head and foot
// with {{template}}, so no layout is passed and the engine's layout lock is
// never taken. Admin pages never answer JSON; errors become admin pages.
package admin

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/chatlive"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/template/html/v2"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/admin.css static/admin.js static/chat_admin.js
var staticFS embed.FS

// csp lets admin pages load only their own scripts, styles and frames (the
// preview iframe of /f/KEY): no inline script or style, no plugins, no
// framing of the admin by anyone.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; frame-src 'self'"

// Prefix is where the admin UI lives.
const Prefix = "/admin"

// Config is what the admin UI needs besides the shared Base.
type Config struct {
	// SMTPConfigured says whether notification mails are sent; when not,
	// the delivery settings say that mails wait.
	SMTPConfigured bool
	// WebhookAllowPrivate accepts webhook URLs that name a non-public
	// address; off, they are refused when saved (see
	// formbuilder.WebhookTargetProblem).
	WebhookAllowPrivate bool
}

// Server is the admin UI.
type Server struct {
	*httpx.Base
	cfg    Config
	svc    httpx.Services
	office *backoffice.Office
	pages  httpx.PageCache
	hub    *chatlive.Hub
	views  *html.Engine
	// assets are admin.css, admin.js and chat_admin.js by plain and hashed
	// name; css, js and chatJS are the URLs pages link.
	assets          map[string]*widget.Asset
	css, js, chatJS string
	// loginAccount and loginIP limit failed sign-ins per account and per
	// client address (IPv6 per /64).
	loginAccount, loginIP *httpx.Limiter
}

// New returns the admin UI; pages is told about changed forms, hub streams
// chat events to the operators' pages.
func New(base *httpx.Base, cfg Config, svc httpx.Services, office *backoffice.Office, pages httpx.PageCache,
	hub *chatlive.Hub) (*Server, error) {
	s := &Server{Base: base, cfg: cfg, svc: svc, office: office, pages: pages, hub: hub,
		assets:       map[string]*widget.Asset{},
		loginAccount: httpx.NewLimiter(loginLimit, loginWindow, httpx.RateMaxKeys),
		loginIP:      httpx.NewLimiter(loginLimit, loginWindow, httpx.RateMaxKeys),
	}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	s.views = html.NewFileSystem(http.FS(sub), ".html")
	s.views.AddFuncMap(funcs)
	// Parse now, so a broken template fails at start-up and no request
	// ever parses.
	if err := s.views.Load(); err != nil {
		return nil, err
	}
	for _, name := range []string{"admin.css", "admin.js", "chat_admin.js"} {
		body, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			return nil, err
		}
		a, err := widget.NewAsset(name, body)
		if err != nil {
			return nil, err
		}
		httpx.PrepareAsset(a)
		s.assets[a.Name] = a
		s.assets[a.HashedName] = a
		url := Prefix + "/static/" + a.HashedName
		switch {
		case name == "admin.css":
			s.css = url
		case name == "admin.js":
			s.js = url
		case strings.HasPrefix(name, "chat_"):
			s.chatJS = url
		}
	}
	return s, nil
}

// Views is the template engine of the admin pages, for the app's
// fiber.Config.Views.
func (s *Server) Views() fiber.Views { return s.views }

// Routes registers the admin UI. frame covers every path under /admin
// (unknown ones too) with the admin's headers and error pages; the session
// and CSRF checks are attached to each route explicitly.
func (s *Server) Routes(app *fiber.App) {
	app.Use(Prefix, s.frame)
	// Open: the files the sign-in page needs, and signing in.
	app.Get(Prefix+"/static/:name", s.handleAsset)
	app.Get(Prefix+"/login", s.handleLoginPage)
	app.Post(Prefix+"/login", s.checkSameOrigin, s.handleLogin)

	// Each route names who may use it (httpx.Access) next to the session
	// check; every post also carries the same-origin and CSRF checks and
	// the audit trail (backoffice.Audit), which records what it changed.
	get := func(p string, a httpx.Access, h ...fiber.Handler) {
		app.Get(Prefix+p, append([]fiber.Handler{s.requireSession, httpx.Allow(a)}, h...)...)
	}
	post := func(p string, a httpx.Access, h ...fiber.Handler) {
		app.Post(Prefix+p, append([]fiber.Handler{s.checkSameOrigin, s.requireSession, httpx.Allow(a), s.checkCSRF,
			s.office.Audit}, h...)...)
	}
	const admin, staff = httpx.AdminOnly, httpx.Staff
	get("", staff, func(c *fiber.Ctx) error { return c.Redirect(Prefix+"/forms", fiber.StatusSeeOther) })
	post("/logout", staff, s.handleLogout)
	get("/account", staff, s.handleAccount)
	post("/account", staff, s.handleAccountSave)
	post("/account/password", staff, s.handleAccountPassword)
	post("/account/language", staff, s.handleLanguage)

	// Operators see the list of their own forms, each with its inbox.
	get("/forms", staff, s.handleFormList)
	get("/forms/new", admin, s.handleFormNew)
	post("/forms", admin, s.handleFormCreate)
	get("/forms/:id", admin, s.handleFormEdit)
	post("/forms/:id", admin, s.handleFormSave)
	post("/forms/:id/archive", admin, s.handleFormArchive)
	get("/forms/:id/preview", admin, s.handleFormPreview)
	get("/forms/:id/embed", admin, s.handleFormEmbed)
	post("/forms/:id/fields", admin, s.handleFieldAdd)
	get("/forms/:id/fields/:idx", admin, s.handleFieldEdit)
	post("/forms/:id/fields/:idx", admin, s.handleFieldSave)
	post("/forms/:id/fields/:idx/move", admin, s.handleFieldMove)
	post("/forms/:id/fields/:idx/delete", admin, s.handleFieldDelete)
	post("/forms/:id/consents", admin, s.handleFormConsentAttach)
	post("/forms/:id/consents/:cid", admin, s.handleFormConsentSave)
	post("/forms/:id/consents/:cid/move", admin, s.handleFormConsentMove)
	post("/forms/:id/consents/:cid/delete", admin, s.handleFormConsentDetach)

	// A form's inbox (operators: of their own forms) and deliveries;
	// static paths before /submissions/:sid.
	get("/forms/:id/submissions", staff, s.handleInbox)
	get("/forms/:id/submissions/export.csv", staff, s.handleInboxExport(formbuilder.FormatCSV))
	get("/forms/:id/submissions/export.ndjson", staff, s.handleInboxExport(formbuilder.FormatNDJSON))
	get("/forms/:id/submissions/:sid", staff, s.handleSubmission)
	get("/forms/:id/deliveries", admin, s.handleDeliveries)
	post("/forms/:id/webhooks", admin, s.handleWebhookAdd)
	post("/forms/:id/webhooks/:n/delete", admin, s.handleReceiverDelete(formbuilder.DeliveryWebhook))
	post("/forms/:id/webhooks/:n/secret", admin, s.handleWebhookSecret)
	post("/forms/:id/webhooks/:n/test", admin, s.handleReceiverTest(formbuilder.DeliveryWebhook))
	post("/forms/:id/emails", admin, s.handleEmailAdd)
	post("/forms/:id/emails/:n/delete", admin, s.handleReceiverDelete(formbuilder.DeliveryEmail))
	post("/forms/:id/emails/:n/test", admin, s.handleReceiverTest(formbuilder.DeliveryEmail))

	get("/consents", admin, s.handleConsentList)
	get("/consents/new", admin, s.handleConsentNew)
	post("/consents", admin, s.handleConsentCreate)
	post("/consents/preview", admin, s.handleConsentPreview)
	get("/consents/:id", admin, s.handleConsentEdit)
	post("/consents/:id", admin, s.handleConsentSave)
	post("/consents/:id/update-standard", admin, s.handleConsentUpdateStandard)
	get("/consents/:id/versions", admin, s.handleConsentVersions)

	// The consent log: read-only here as everywhere (no route changes or
	// deletes an entry; write verbs get 405). Static paths before /log/:id.
	get("/log", admin, s.handleLogList)
	get("/log/export.csv", admin, s.handleLogExport(formbuilder.FormatCSV))
	get("/log/export.ndjson", admin, s.handleLogExport(formbuilder.FormatNDJSON))
	get("/log/:id", admin, s.handleLogDetail)
	get("/forms/:id/log", admin, s.handleFormLog)
	get("/consents/:id/log", admin, s.handleConsentLog)

	// The chat: channels are admin settings; conversations are the
	// operators' (of their own channels).
	get("/channels", admin, s.chatOn, s.handleChannelList)
	get("/channels/new", admin, s.chatOn, s.handleChannelNew)
	post("/channels", admin, s.chatOn, s.handleChannelCreate)
	get("/channels/:id", admin, s.chatOn, s.handleChannelEdit)
	post("/channels/:id", admin, s.chatOn, s.handleChannelSave)
	get("/conversations", staff, s.chatOn, s.handleConversationList)
	get("/conversations/events", staff, s.chatOn, s.handleChatListEvents)
	get("/conversations/:id", staff, s.chatOn, s.handleConversation)
	get("/conversations/:id/messages", staff, s.chatOn, s.handleConversationMessages)
	get("/conversations/:id/events", staff, s.chatOn, s.handleConversationEvents)
	post("/conversations/:id/reply", staff, s.chatOn, s.handleConversationReply)
	post("/conversations/:id/assign", staff, s.chatOn, s.handleConversationAssign)
	post("/conversations/:id/read", staff, s.chatOn, s.handleConversationRead)

	get("/settings", admin, s.handleSettings)
	post("/settings", admin, s.handleSettingsSave)

	// People, API tokens and the audit trail.
	get("/users", admin, s.handleUserList)
	post("/users", admin, s.handleUserCreate)
	get("/users/:id", admin, s.handleUserEdit)
	post("/users/:id", admin, s.handleUserSave)
	post("/users/:id/password", admin, s.handleUserResetPassword)
	post("/users/:id/deactivate", admin, s.handleUserActive(false))
	post("/users/:id/reactivate", admin, s.handleUserActive(true))
	get("/tokens", admin, s.handleTokenList)
	post("/tokens", admin, s.handleTokenCreate)
	post("/tokens/:id/revoke", admin, s.handleTokenRevoke)
	get("/audit", admin, s.handleAuditList)
	get("/audit/export.csv", admin, s.handleAuditExport(formbuilder.FormatCSV))
	get("/audit/export.ndjson", admin, s.handleAuditExport(formbuilder.FormatNDJSON))
}

// frame sets the security headers of every admin response and turns
// errors of admin handlers (and Fiber's 404/405 under /admin) into admin
// HTML pages.
func (s *Server) frame(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set(fiber.HeaderCrossOriginResourcePolicy, "same-origin")
	err := c.Next()
	if err == nil {
		return nil
	}
	return s.errorPage(c, err)
}

// handleAsset serves admin.css, admin.js and chat_admin.js. They are public
// (the sign-in page needs them) and hold nothing secret; pages link the
// hashed name, cached for a year.
func (s *Server) handleAsset(c *fiber.Ctx) error {
	name := c.Params("name")
	a := s.assets[name]
	if a == nil {
		return fiber.ErrNotFound
	}
	return httpx.SendAsset(c, a, name == a.HashedName)
}
