// Package api is the JSON API under /api/v1. Every route but the OpenAPI
// document takes a bearer token (Authorization: Bearer cf_…) and nothing
// else: the API never sets or reads cookies, so a browser's admin session
// can never be used against it (no CSRF surface) and API clients never
// receive a session. Errors are always JSON.
package api

import (
	"context"
	_ "embed"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
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
}

// New returns the API; pages is told about changed forms. Replies to chats
// reach open pages through storage's change feed.
func New(base *httpx.Base, cfg Config, svc httpx.Services, office *backoffice.Office, pages httpx.PageCache) *Server {
	return &Server{Base: base, cfg: cfg, svc: svc, office: office, pages: pages}
}

// Routes registers the API. The frame (headers, JSON errors) covers every
// path under the prefix, unknown ones too; the token check is attached to
// each route itself, so no route depends on another having registered a
// middleware first. Only the OpenAPI document is open: it describes the
// API and holds no data.
func (s *Server) Routes(app *fiber.App) {
	app.Use(Prefix, s.frame)
	app.Get(Prefix+"/openapi.json", s.handleOpenAPI)

	// Each route names who may use it (httpx.Access) next to the token
	// check. Get (not Add) so that each GET route answers HEAD too; the
	// write verbs also need a read-write token and record their change in
	// the audit trail (backoffice.Audit).
	get := func(path string, a httpx.Access, h fiber.Handler) {
		app.Get(Prefix+path, s.requireToken, httpx.Allow(a), h)
	}
	write := func(method string) func(path string, a httpx.Access, h fiber.Handler) {
		return func(path string, a httpx.Access, h fiber.Handler) {
			app.Add(method, Prefix+path, s.requireToken, httpx.Allow(a), requireWriteScope, s.office.Audit, h)
		}
	}
	post, put := write(fiber.MethodPost), write(fiber.MethodPut)
	const admin, staff = httpx.AdminOnly, httpx.Staff

	// Operators list the forms they are responsible for and read their
	// submissions; everything else about forms is for admins.
	get("/forms", staff, s.apiListForms)
	post("/forms", admin, s.apiCreateForm)
	get("/forms/:id", admin, s.apiGetForm)
	put("/forms/:id", admin, s.apiUpdateForm)
	post("/forms/:id/archive", admin, s.apiArchiveForm)
	get("/forms/:id/submissions", staff, s.apiListSubmissions)
	get("/forms/:id/submissions/export", staff, s.apiExportSubmissions)
	get("/submissions/:id", staff, s.apiGetSubmission)

	get("/consents", admin, s.apiListConsents)
	post("/consents", admin, s.apiCreateConsent)
	get("/consents/:id", admin, s.apiGetConsent)
	put("/consents/:id", admin, s.apiUpdateConsent)
	get("/consents/:id/versions", admin, s.apiListConsentVersions)

	// The consent log is read-only here as everywhere: write verbs on
	// these paths get 405, because no route for them exists.
	get("/consent-records", admin, s.apiListRecords)
	get("/consent-records/export", admin, s.apiExportRecords)
	get("/consent-records/:id", admin, s.apiGetRecord)

	// People and tokens; /me is every token's own user.
	get("/me", staff, s.apiGetMe)
	put("/me", staff, s.apiUpdateMe)
	post("/me/password", staff, s.apiChangeMyPassword)
	get("/users", admin, s.apiListUsers)
	post("/users", admin, s.apiCreateUser)
	get("/users/:id", admin, s.apiGetUser)
	put("/users/:id", admin, s.apiUpdateUser)
	post("/users/:id/password", admin, s.apiResetPassword)
	post("/users/:id/deactivate", admin, s.apiSetUserActive(false))
	post("/users/:id/reactivate", admin, s.apiSetUserActive(true))
	get("/tokens", admin, s.apiListTokens)
	post("/tokens", admin, s.apiCreateToken)
	post("/tokens/:id/revoke", admin, s.apiRevokeToken)

	get("/channels", admin, s.chatOn(s.apiListChannels))
	post("/channels", admin, s.chatOn(s.apiCreateChannel))
	get("/channels/:id", admin, s.chatOn(s.apiGetChannel))
	put("/channels/:id", admin, s.chatOn(s.apiUpdateChannel))
	get("/conversations", staff, s.chatOn(s.apiListConversations))
	get("/conversations/:id", staff, s.chatOn(s.apiGetConversation))
	post("/conversations/:id/messages", staff, s.chatOn(s.apiReply))
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

// requireToken authenticates Authorization: Bearer cf_… by the SHA-256 of
// the token, which is all storage keeps. A revoked or expired token, and
// the token of a deactivated user, are refused at once: each request
// checks them, nothing is cached.
func (s *Server) requireToken(c *fiber.Ctx) error {
	h := strings.TrimSpace(c.Get(fiber.HeaderAuthorization))
	if h == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="consentforms"`)
		return formbuilder.NewError(formbuilder.EUNAUTHORIZED, formbuilder.MsgTokenMissing)
	}
	invalid := func(msg formbuilder.MsgCode) error {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="consentforms", error="invalid_token"`)
		return formbuilder.NewError(formbuilder.EUNAUTHORIZED, msg)
	}
	tok, ok := bearerToken(h)
	if !ok {
		return invalid(formbuilder.MsgTokenInvalid)
	}
	ctx := c.UserContext()
	t, err := s.svc.Tokens.FindTokenByHash(ctx, formbuilder.HashToken(tok))
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return invalid(formbuilder.MsgTokenInvalid)
	}
	if err != nil {
		return err
	}
	now := s.Now()
	switch t.Status(now) {
	case "revoked":
		return invalid(formbuilder.MsgTokenRevoked)
	case "expired":
		return invalid(formbuilder.MsgTokenExpired)
	}
	u, err := s.svc.Users.FindUserByID(ctx, t.UserID)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND || err == nil && !u.Active() {
		return invalid(formbuilder.MsgTokenUserOff)
	}
	if err != nil {
		return err
	}
	if now.Sub(t.LastUsed) >= apiTokenTouch {
		if err := s.svc.Tokens.TouchToken(ctx, t.ID, now); err != nil {
			s.Log.Warn("touch api token", "id", t.ID, "err", err)
		}
	}
	c.Locals(localToken, t)
	httpx.SetPrincipal(c, &httpx.Principal{User: u, Via: formbuilder.ViaAPI, Token: t})
	return c.Next()
}

// errReadOnly refuses a change made with a read-only token.
var errReadOnly = formbuilder.NewError(formbuilder.EFORBIDDEN, formbuilder.MsgReadOnlyToken)

// requireWriteScope lets a change through only with a read-write token.
func requireWriteScope(c *fiber.Ctx) error {
	if p := httpx.PrincipalOf(c); p == nil || p.Token == nil || !p.Token.CanWrite() {
		return errReadOnly
	}
	return c.Next()
}

// bearerToken returns the token of an Authorization header value, when it
// is a bearer token of the shape `consentforms token create` makes.
func bearerToken(h string) (string, bool) {
	scheme, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	return tok, strings.EqualFold(scheme, "Bearer") && formbuilder.ValidAPIToken(tok)
}

// MayUpload reports whether a request with the Authorization header value
// authz may send a body as large as a document: it names a stored token
// that may write, neither revoked nor expired, of an active admin (the
// consent writes are admin routes). The app asks before the body is read;
// requireToken, the role and the scope are checked again, fully, once it
// is in.
func (s *Server) MayUpload(ctx context.Context, authz string) bool {
	tok, ok := bearerToken(authz)
	if !ok {
		return false
	}
	t, err := s.svc.Tokens.FindTokenByHash(ctx, formbuilder.HashToken(tok))
	if err != nil || t.Status(s.Now()) != "active" || !t.CanWrite() {
		return false
	}
	u, err := s.svc.Users.FindUserByID(ctx, t.UserID)
	return err == nil && u.IsAdmin()
}

// apiAuthor names the token in the author of consent versions.
func apiAuthor(c *fiber.Ctx) string {
	if t, ok := c.Locals(localToken).(*formbuilder.APIToken); ok {
		return "api:" + t.Name
	}
	return "api"
}
