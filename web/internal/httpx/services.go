package httpx

import "github.com/consentforms/consentforms/formbuilder"

// Services are the domain services the web app works with; cmd/consentforms
// wires a storage implementation in. Chat, Inbox, Outbox and Documents may
// be nil: their routes then answer 404.
type Services struct {
	Forms       formbuilder.FormService
	Consents    formbuilder.ConsentService
	Documents   formbuilder.DocumentService
	Submissions formbuilder.SubmissionService
	Log         formbuilder.ConsentLog
	Users       formbuilder.UserService
	Sessions    formbuilder.SessionService
	Tokens      formbuilder.TokenService
	Settings    formbuilder.SettingsService
	// Chat stores chat channels and conversations.
	Chat formbuilder.ChatService
	// Inbox reads, searches and exports submissions; Outbox holds their
	// webhook and e-mail deliveries.
	Inbox  formbuilder.SubmissionReader
	Outbox formbuilder.OutboxService
	// Audit is the audit trail every staff change is appended to.
	Audit formbuilder.AuditLog
	// Changes tells this server of changes made by any server: the form
	// pages, settings and chat streams it holds follow them. Required.
	Changes formbuilder.ChangeFeed
}
