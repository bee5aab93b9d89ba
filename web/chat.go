package web

import (
	_ "embed"

	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// chatAdminJS adds live updates to the operators' pages (see chat_admin.go).
//
//go:embed static/chat_admin.js
var chatAdminJS []byte

// routesChat registers the chat: the visitor's page and API under /c/KEY,
// the operators' pages under /admin and the API under /api/v1. It must run
// after routesAdmin and routesAPI, whose prefix middleware (adminFrame;
// apiFrame and the token check) then runs before these handlers.
func (s *Server) routesChat(app *fiber.App) {
	a, err := widget.NewAsset("chat_admin.js", chatAdminJS)
	if err != nil {
		// Hashing and compressing embedded bytes cannot fail at run time.
		panic("web: chat_admin.js: " + err.Error())
	}
	s.admin.assets[a.Name] = a
	s.admin.assets[a.HashedName] = a
	s.chat = &chatState{hub: newChatHub(), limits: newChatLimits(s.cfg), adminJS: "/admin/static/" + a.HashedName}

	app.Get("/c/:key", s.handleChatPage)
	app.Get("/c/:key/consent", s.handleChatConsentPage)
	app.Get("/c/:key/messages", s.limitChatRead, s.handleChatHistory)
	app.Post("/c/:key/messages", s.limitChatPost, s.handleChatPost)
	app.Post("/c/:key/consent", s.limitChatPost, s.handleChatConsent)
	app.Post("/c/:key/consent/reopen", s.limitChatPost, s.handleChatReopen)
	app.Get("/c/:key/events", s.handleChatEvents)

	get := func(p string, h fiber.Handler) { app.Get("/admin"+p, s.requireSession, s.adminChat, h) }
	post := func(p string, h fiber.Handler) {
		app.Post("/admin"+p, s.checkSameOrigin, s.requireSession, s.checkCSRF, s.adminChat, h)
	}
	get("/channels", s.handleChannelList)
	get("/channels/new", s.handleChannelNew)
	post("/channels", s.handleChannelCreate)
	get("/channels/:id", s.handleChannelEdit)
	post("/channels/:id", s.handleChannelSave)
	get("/conversations", s.handleConversationList)
	get("/conversations/events", s.handleChatListEvents)
	get("/conversations/:id", s.handleConversation)
	get("/conversations/:id/messages", s.handleConversationMessages)
	get("/conversations/:id/events", s.handleConversationEvents)
	post("/conversations/:id/reply", s.handleConversationReply)
	post("/conversations/:id/assign", s.handleConversationAssign)
	post("/conversations/:id/read", s.handleConversationRead)

	api := func(method, p string, h fiber.Handler) { app.Add(method, "/api/v1"+p, s.apiChatOn, h) }
	api(fiber.MethodGet, "/channels", s.apiListChannels)
	api(fiber.MethodPost, "/channels", s.apiCreateChannel)
	api(fiber.MethodGet, "/channels/:id", s.apiGetChannel)
	api(fiber.MethodPut, "/channels/:id", s.apiUpdateChannel)
	api(fiber.MethodGet, "/conversations", s.apiListConversations)
	api(fiber.MethodGet, "/conversations/:id", s.apiGetConversation)
	api(fiber.MethodPost, "/conversations/:id/messages", s.apiReply)
}

// apiChatOn refuses the chat's API routes of an app wired without chat.
func (s *Server) apiChatOn(c *fiber.Ctx) error {
	if s.svc.Chat == nil {
		return errChatOff
	}
	return c.Next()
}
