package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// People and tokens in the API, as in the admin UI: /me for every token's
// own user (name, password), and for admins /users (add, change, reset
// password, deactivate, reactivate) and /tokens (create, revoke). A new
// token or a generated password is in the answer of the request that made
// it, and nowhere else, ever.

func (s *Server) apiGetMe(c *fiber.Ctx) error {
	p := httpx.PrincipalOf(c)
	return c.JSON(fiber.Map{"user": p.User, "token": p.Token})
}

// meRequest is the body of PUT /me; a missing language keeps the user's.
type meRequest struct {
	Name     string  `json:"name"`
	Language *string `json:"language"`
}

func (s *Server) apiUpdateMe(c *fiber.Ctx) error {
	var req meRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	u := *httpx.PrincipalOf(c).User
	u.Name = strings.TrimSpace(req.Name)
	if req.Language != nil && !formbuilder.ValidLanguage(*req.Language) {
		// Checked before anything is stored, so a refusal changes nothing.
		return formbuilder.FieldError("language", formbuilder.MsgOneOf, "values", "de, en")
	}
	if err := s.svc.Users.UpdateUser(c.UserContext(), &u); err != nil {
		return err
	}
	kv := []string{"name", u.Name}
	if req.Language != nil && *req.Language != u.Language {
		if err := s.svc.Users.SetUserLanguage(c.UserContext(), u.ID, *req.Language); err != nil {
			return err
		}
		u.Language = *req.Language
		kv = append(kv, "language", u.Language)
	}
	backoffice.NoteUser(c, "update", &u, kv...)
	return c.JSON(&u)
}

// passwordRequest is the body of POST /me/password.
type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// apiChangeMyPassword changes the token user's password; it needs the
// current one, and ends every admin session of the user.
func (s *Server) apiChangeMyPassword(c *fiber.Ctx) error {
	var req passwordRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	u := httpx.PrincipalOf(c).User
	if err := formbuilder.FieldErrors(backoffice.CheckPasswordChange(u, req.CurrentPassword, req.NewPassword)); err != nil {
		return err
	}
	if err := s.office.SetPassword(c.UserContext(), u.ID, req.NewPassword); err != nil {
		return err
	}
	backoffice.NoteUser(c, "change_password", u)
	return c.SendStatus(fiber.StatusNoContent)
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

// userRequest is the body of POST /users and PUT /users/:id (which takes
// name and role; the e-mail stays).
type userRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

// userWithPassword answers a request that made a password: shown once.
type userWithPassword struct {
	*formbuilder.User
	Password string `json:"password"`
}

func (s *Server) apiCreateUser(c *fiber.Ctx) error {
	var req userRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	if !formbuilder.ValidRole(req.Role) {
		return formbuilder.FieldError("role", formbuilder.MsgEither, "a", "admin", "b", "operator")
	}
	pw, hash, err := backoffice.HashNewPassword()
	if err != nil {
		return err
	}
	u := &formbuilder.User{Email: strings.TrimSpace(req.Email), Name: strings.TrimSpace(req.Name), Role: req.Role,
		PasswordHash: hash}
	if err := s.svc.Users.CreateUser(c.UserContext(), u); err != nil {
		return err
	}
	backoffice.NoteUser(c, "create", u)
	c.Location(Prefix + "/users/" + strconv.FormatInt(u.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(userWithPassword{User: u, Password: pw})
}

// apiUser loads the user of :id.
func (s *Server) apiUser(c *fiber.Ctx) (*formbuilder.User, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgUserNotFound)
	}
	return s.svc.Users.FindUserByID(c.UserContext(), id)
}

func (s *Server) apiGetUser(c *fiber.Ctx) error {
	u, err := s.apiUser(c)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (s *Server) apiUpdateUser(c *fiber.Ctx) error {
	old, err := s.apiUser(c)
	if err != nil {
		return err
	}
	var req userRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Email != "" && !strings.EqualFold(strings.TrimSpace(req.Email), old.Email) {
		return formbuilder.FieldError("email", formbuilder.MsgEmailFixed)
	}
	if !formbuilder.ValidRole(req.Role) {
		return formbuilder.FieldError("role", formbuilder.MsgEither, "a", "admin", "b", "operator")
	}
	u := *old
	u.Name, u.Role = strings.TrimSpace(req.Name), req.Role
	if err := s.svc.Users.UpdateUser(c.UserContext(), &u); err != nil {
		return err
	}
	kv := []string{"name", u.Name}
	if old.Role != u.Role {
		kv = append(kv, "old_role", old.Role, "new_role", u.Role)
	}
	backoffice.NoteUser(c, "update", &u, kv...)
	return c.JSON(&u)
}

// apiResetPassword gives a user a new random password, answered once, and
// ends their sessions.
func (s *Server) apiResetPassword(c *fiber.Ctx) error {
	u, err := s.apiUser(c)
	if err != nil {
		return err
	}
	pw, err := s.office.ResetPassword(c.UserContext(), u)
	if err != nil {
		return err
	}
	backoffice.NoteUser(c, "reset_password", u)
	return c.JSON(userWithPassword{User: u, Password: pw})
}

// apiSetUserActive deactivates or reactivates a user; deactivation ends
// their sessions and revokes their tokens at once. A token cannot
// deactivate its own user.
func (s *Server) apiSetUserActive(active bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, err := s.apiUser(c)
		if err != nil {
			return err
		}
		if !active && u.ID == httpx.PrincipalOf(c).User.ID {
			return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgTokenSelf)
		}
		ctx := c.UserContext()
		if err := s.svc.Users.SetUserActive(ctx, u.ID, active); err != nil {
			return err
		}
		action := "deactivate"
		if active {
			action = "reactivate"
		}
		backoffice.NoteUser(c, action, u)
		fresh, err := s.svc.Users.FindUserByID(ctx, u.ID)
		if err != nil {
			return err
		}
		return c.JSON(fresh)
	}
}

// apiToken is a token as lists show it: with its state at the time of the
// answer.
type apiToken struct {
	*formbuilder.APIToken
	Status string `json:"status"`
}

func (s *Server) apiListTokens(c *fiber.Ctx) error {
	tokens, err := s.svc.Tokens.ListTokens(c.UserContext())
	if err != nil {
		return err
	}
	now := s.Now()
	out := make([]apiToken, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, apiToken{APIToken: t, Status: t.Status(now)})
	}
	return c.JSON(fiber.Map{"tokens": out})
}

// tokenRequest is the body of POST /tokens. UserID defaults to the
// caller's user, Scope to read-only, ExpiresAt to never.
type tokenRequest struct {
	Name      string    `json:"name"`
	UserID    int64     `json:"user_id"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
}

// tokenWithSecret answers POST /tokens: the token, shown once.
type tokenWithSecret struct {
	apiToken
	Token string `json:"token"`
}

func (s *Server) apiCreateToken(c *fiber.Ctx) error {
	var req tokenRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	if req.UserID == 0 {
		req.UserID = httpx.PrincipalOf(c).User.ID
	}
	if req.Scope == "" {
		req.Scope = formbuilder.ScopeRead
	}
	if err := formbuilder.CheckTokenExpiry(req.ExpiresAt, s.Now()); err != nil {
		return err
	}
	plain, hash := formbuilder.NewAPIToken()
	t := &formbuilder.APIToken{Name: strings.TrimSpace(req.Name), Hash: hash, UserID: req.UserID, Scope: req.Scope,
		ExpiresAt: req.ExpiresAt.UTC()}
	if err := s.svc.Tokens.CreateToken(c.UserContext(), t); err != nil {
		return err
	}
	backoffice.NoteToken(c, "create", t)
	c.Location(Prefix + "/tokens")
	return c.Status(fiber.StatusCreated).JSON(tokenWithSecret{apiToken: apiToken{APIToken: t, Status: t.Status(s.Now())},
		Token: plain})
}

func (s *Server) apiRevokeToken(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgTokenNotFound)
	}
	ctx := c.UserContext()
	t, err := s.svc.Tokens.FindTokenByID(ctx, id)
	if err != nil {
		return err
	}
	if err := s.svc.Tokens.RevokeToken(ctx, t.ID); err != nil {
		return err
	}
	backoffice.NoteToken(c, "revoke", t)
	if t, err = s.svc.Tokens.FindTokenByID(ctx, id); err != nil {
		return err
	}
	return c.JSON(apiToken{APIToken: t, Status: t.Status(s.Now())})
}
