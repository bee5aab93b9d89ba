// Package api is the JSON API under /api/v1. Every route but the OpenAPI
// document takes a bearer token (Authorization: Bearer cf_…) and nothing
// else: the API never sets or reads cookies, so a browser's admin session
// can never be used against it (no CSRF surface) and API clients never
// receive a session. Errors are always JSON.
package api

import (
	_ "embed"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/chatlive"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

//go:embed openapi.json
var openAPIDoc []byte

// Prefix is where the API lives.
const Prefix = "/api/v1"

// maxJSONBody bounds API bodies below the app-wide limit; a form with the
// maximum of fields and options is far smaller.
const maxJSONBody = 512 << 10

// apiTokenTouch bounds how often a token's last use is written.
const apiTokenTouch = time.Minute

const localToken = "cf_token"

// Config is what the API needs besides the shared Base.
type Config struct {
	// WebhookAllowPrivate accepts webhook URLs that name a non-public
	// address; off, they are refused when a form is saved (see
	// formbuilder.WebhookTargetProblem).
	WebhookAllowPrivate bool
}

// Server is the JSON API.
type Server struct {
	*httpx.Base
	cfg    Config
	svc    httpx.Services
	office *backoffice.Office
	pages  httpx.PageCache
	hub    *chatlive.Hub
}

// New returns the API; pages is told about changed forms, hub about
// replies to chats.
func New(base *httpx.Base, cfg Config, svc httpx.Services, office *backoffice.Office, pages httpx.PageCache, hub *chatlive.Hub) *Server {
	return &Server{Base: base, cfg: cfg, svc: svc, office: office, pages: pages, hub: hub}
}

// Routes registers the API. The frame (headers, JSON errors) covers every
// path under the prefix, unknown ones too; the token check is attached to
// each route itself, so no route depends on another having registered a
// middleware first. Only the OpenAPI document is open: it describes the
// API and holds no data.
func (s *Server) Routes(app *fiber.App) {
	app.Use(Prefix, s.frame)
	app.Get(Prefix+"/openapi.json", s.handleOpenAPI)

	// Get (not Add) so that each GET route answers HEAD too.
	get := func(path string, h fiber.Handler) { app.Get(Prefix+path, s.requireToken, h) }
	post := func(path string, h fiber.Handler) { app.Post(Prefix+path, s.requireToken, h) }
	put := func(path string, h fiber.Handler) { app.Put(Prefix+path, s.requireToken, h) }

	get("/forms", s.apiListForms)
	post("/forms", s.apiCreateForm)
	get("/forms/:id", s.apiGetForm)
	put("/forms/:id", s.apiUpdateForm)
	post("/forms/:id/archive", s.apiArchiveForm)
	get("/forms/:id/submissions", s.apiListSubmissions)
	get("/forms/:id/submissions/export", s.apiExportSubmissions)
	get("/submissions/:id", s.apiGetSubmission)

	get("/consents", s.apiListConsents)
	post("/consents", s.apiCreateConsent)
	get("/consents/:id", s.apiGetConsent)
	put("/consents/:id", s.apiUpdateConsent)
	get("/consents/:id/versions", s.apiListConsentVersions)

	// The consent log is read-only here as everywhere: write verbs on
	// these paths get 405, because no route for them exists.
	get("/consent-records", s.apiListRecords)
	get("/consent-records/export", s.apiExportRecords)
	get("/consent-records/:id", s.apiGetRecord)

	get("/users", s.apiListUsers)

	get("/channels", s.chatOn(s.apiListChannels))
	post("/channels", s.chatOn(s.apiCreateChannel))
	get("/channels/:id", s.chatOn(s.apiGetChannel))
	put("/channels/:id", s.chatOn(s.apiUpdateChannel))
	get("/conversations", s.chatOn(s.apiListConversations))
	get("/conversations/:id", s.chatOn(s.apiGetConversation))
	post("/conversations/:id/messages", s.chatOn(s.apiReply))
}

// frame sets the headers of every API answer and answers every error as
// JSON (decode errors with 400, naming the member).
func (s *Server) frame(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	err := c.Next()
	if err == nil {
		return nil
	}
	return s.sendError(c, err)
}

// sendError answers err as JSON.
func (s *Server) sendError(c *fiber.Ctx, err error) error {
	p := httpx.ProblemOf(err)
	if p.Status >= 500 {
		httpx.LogInternal(s.Log, c, err)
	}
	return httpx.SendJSONError(c, p)
}

// chatOn refuses the chat's routes of an app wired without chat.
func (s *Server) chatOn(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if s.svc.Chat == nil {
			return backoffice.ErrChatOff
		}
		return h(c)
	}
}

func (s *Server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(openAPIDoc)
}

// validAPIToken checks the shape of tokens made by `consentforms token
// create` ("cf_" and lower-case base32) before any lookup.
func validAPIToken(tok string) bool {
	if !strings.HasPrefix(tok, "cf_") || len(tok) < 16 || len(tok) > 128 {
		return false
	}
	for _, r := range tok[3:] {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// requireToken authenticates Authorization: Bearer cf_… by the SHA-256 of
// the token, which is all storage keeps.
func (s *Server) requireToken(c *fiber.Ctx) error {
	h := strings.TrimSpace(c.Get(fiber.HeaderAuthorization))
	if h == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="consentforms"`)
		return formbuilder.Errorf(formbuilder.EUNAUTHORIZED,
			"an API token is required: send it as Authorization: Bearer cf_… (create one with `consentforms token create NAME`)")
	}
	invalid := func() error {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="consentforms", error="invalid_token"`)
		return formbuilder.Errorf(formbuilder.EUNAUTHORIZED, "the API token is not valid")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || !validAPIToken(tok) {
		return invalid()
	}
	ctx := c.UserContext()
	t, err := s.svc.Tokens.FindTokenByHash(ctx, httpx.HashToken(tok))
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return invalid()
	}
	if err != nil {
		return err
	}
	if now := s.Now(); now.Sub(t.LastUsed) >= apiTokenTouch {
		if err := s.svc.Tokens.TouchToken(ctx, t.ID, now); err != nil {
			s.Log.Warn("touch api token", "id", t.ID, "err", err)
		}
	}
	c.Locals(localToken, t)
	return c.Next()
}

// apiAuthor names the token in the author of consent versions.
func apiAuthor(c *fiber.Ctx) string {
	if t, ok := c.Locals(localToken).(*formbuilder.APIToken); ok {
		return "api:" + t.Name
	}
	return "api"
}

func (s *Server) apiListUsers(c *fiber.Ctx) error {
	users, err := s.svc.Users.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	if users == nil {
		users = []*formbuilder.User{}
	}
	return c.JSON(fiber.Map{"users": users})
}
