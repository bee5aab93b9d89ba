package httpx

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// Principal is who a staff request acts as: the signed-in user of the
// admin UI, or the owner of the API token. The credential check of each
// audience sets it; the role check and the audit trail read it.
type Principal struct {
	User *formbuilder.User
	// Via is formbuilder.ViaAdmin or formbuilder.ViaAPI.
	Via string
	// Token is the API token of the request; nil in the admin UI.
	Token *formbuilder.APIToken
}

const localPrincipal = "cf_principal"

// SetPrincipal records who c acts as.
func SetPrincipal(c *fiber.Ctx, p *Principal) { c.Locals(localPrincipal, p) }

// PrincipalOf returns who c acts as, nil before a credential check.
func PrincipalOf(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(localPrincipal).(*Principal)
	return p
}

// Access is who may call a staff route. Every admin and API route names
// one next to its credential check, so the rule is read where the route is
// registered and no route depends on another's middleware.
type Access int

const (
	// AdminOnly routes are for admins: consents, the log, settings,
	// users, tokens, the audit trail, form and channel definitions.
	AdminOnly Access = iota
	// Staff routes are for admins and operators: the inbox of a form and
	// the chat's conversations, one's own account. Their handlers keep an
	// operator to the forms they are responsible for and to the
	// conversations of their channels.
	Staff
)

// ErrRole refuses a route the user's role does not allow.
var ErrRole = formbuilder.NewError(formbuilder.EFORBIDDEN, formbuilder.MsgRole)

// Allow returns the middleware that lets a request through only when its
// principal's role is admitted to a route of access a. It runs after the
// credential check; without a principal it refuses too.
func Allow(a Access) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := PrincipalOf(c)
		switch {
		case p == nil || !p.User.Active():
			return ErrRole
		case p.User.IsAdmin(), a == Staff && p.User.Role == formbuilder.RoleOperator:
			return c.Next()
		}
		return ErrRole
	}
}
