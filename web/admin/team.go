package admin

import (
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// People and API tokens in the admin UI: one's own account (name and
// password, for everyone), and for admins the list of users (add, change
// name and role, reset password, deactivate, reactivate) and of API tokens
// (create, revoke). Users are never deleted: the consent log names them.
// Generated passwords and new tokens are shown once, on the answer to the
// post that made them, and never stored in plain text.

// accountView is the data of account.html.
type accountView struct {
	Name string
}

func (s *Server) handleAccount(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "account", &view{Title: s.tr(c, "account.title"), Nav: "account",
		Data: &accountView{Name: currentAdmin(c).user.Name}})
}

// handleAccountSave changes the signed-in user's own name.
func (s *Server) handleAccountSave(c *fiber.Ctx) error {
	u := *currentAdmin(c).user
	u.Name = strings.TrimSpace(c.FormValue("name"))
	if err := s.svc.Users.UpdateUser(c.UserContext(), &u); err != nil {
		if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
			return err
		}
		return s.render(c, fiber.StatusUnprocessableEntity, "account", &view{Title: s.tr(c, "account.title"), Nav: "account",
			Errors: fieldErrorsFor(err, "", ""), Data: &accountView{Name: u.Name}})
	}
	backoffice.NoteUser(c, "update", &u, "name", u.Name)
	return c.Redirect("/admin/account?msg=account-saved", fiber.StatusSeeOther)
}

// handleLanguage switches the signed-in user's language (the menu's
// switch, and the account page) and goes back to the page it was made on.
func (s *Server) handleLanguage(c *fiber.Ctx) error {
	u := currentAdmin(c).user
	lang := c.FormValue("language")
	if err := s.svc.Users.SetUserLanguage(c.UserContext(), u.ID, lang); err != nil {
		return err
	}
	backoffice.NoteUser(c, "set_language", u, "language", lang)
	target := "/admin/account?msg=language-saved"
	if next := c.FormValue("next"); safeNext(next) {
		target = next
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// handleAccountPassword changes the signed-in user's password. It needs
// the current one (a session left open on a shared machine must not be
// enough), ends every session of the account and starts a fresh one here.
func (s *Server) handleAccountPassword(c *fiber.Ctx) error {
	a := currentAdmin(c)
	cur, pw, pw2 := c.FormValue("current_password"), c.FormValue("new_password"), c.FormValue("new_password2")
	errs := backoffice.CheckPasswordChange(a.user, cur, pw)
	if len(errs) == 0 && pw != pw2 {
		errs["new_password2"] = formbuilder.M(formbuilder.MsgPasswordMismatch)
	}
	if len(errs) > 0 {
		return s.render(c, fiber.StatusUnprocessableEntity, "account", &view{Title: s.tr(c, "account.title"), Nav: "account",
			Errors: errs, Data: &accountView{Name: a.user.Name}})
	}
	if err := s.office.SetPassword(c.UserContext(), a.user.ID, pw); err != nil {
		return err
	}
	if err := s.startSession(c, a.user); err != nil {
		return err
	}
	backoffice.NoteUser(c, "change_password", a.user)
	return c.Redirect("/admin/account?msg=password-changed", fiber.StatusSeeOther)
}

// userInput is the add-user form as typed.
type userInput struct {
	Email, Name, Role string
}

// usersView is the data of users.html.
type usersView struct {
	Users []*formbuilder.User
	In    userInput
	Self  int64
}

func (s *Server) renderUsers(c *fiber.Ctx, status int, in userInput, v *view) error {
	users, err := s.svc.Users.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	v.Title, v.Nav = s.tr(c, "users.title"), "users"
	v.Data = &usersView{Users: users, In: in, Self: currentAdmin(c).user.ID}
	return s.render(c, status, "users", v)
}

func (s *Server) handleUserList(c *fiber.Ctx) error {
	return s.renderUsers(c, fiber.StatusOK, userInput{Role: formbuilder.RoleOperator}, &view{})
}

// secretView is the data of secret.html: a password or token shown once.
type secretView struct {
	// What is "password" or "token"; Heading, Intro and Back explain.
	What, Heading, Intro, Back, BackText string
	Secret                               string
	User                                 *formbuilder.User
	Token                                *formbuilder.APIToken
}

// renderSecret shows a generated password or a new token once. The page is
// the answer to the post (never a redirect), so the secret is in no URL,
// history entry or log; the admin frame sends it with no-store.
func (s *Server) renderSecret(c *fiber.Ctx, status int, title string, sv *secretView) error {
	return s.render(c, status, "secret", &view{Title: title, Nav: "users", Data: sv})
}

// handleUserCreate adds a user with a random one-time password, which the
// admin passes on; the user changes it under "Your account".
func (s *Server) handleUserCreate(c *fiber.Ctx) error {
	in := userInput{Email: strings.TrimSpace(c.FormValue("email")), Name: strings.TrimSpace(c.FormValue("name")),
		Role: c.FormValue("role")}
	pw, hash, err := backoffice.HashNewPassword()
	if err != nil {
		return err
	}
	u := &formbuilder.User{Email: in.Email, Name: in.Name, Role: in.Role, PasswordHash: hash}
	errs := map[string]formbuilder.Msg{}
	if !formbuilder.ValidRole(in.Role) {
		errs["role"] = formbuilder.M(formbuilder.MsgChooseRole)
	} else if err := s.svc.Users.CreateUser(c.UserContext(), u); err != nil {
		if code := formbuilder.ErrorCode(err); code != formbuilder.EINVALID && code != formbuilder.ECONFLICT {
			return err
		}
		errs = fieldErrorsFor(err, "", "")
	}
	if len(errs) > 0 {
		return s.renderUsers(c, fiber.StatusUnprocessableEntity, in, &view{Errors: errs})
	}
	backoffice.NoteUser(c, "create", u)
	return s.renderSecret(c, fiber.StatusCreated, s.tr(c, "secret.user_added"), &secretView{What: "password", User: u, Secret: pw,
		Heading: s.tr(c, "secret.user_added_heading", "email", u.Email),
		Back:    "/admin/users", BackText: s.tr(c, "secret.back_people")})
}

// adminUser returns the user of the :id parameter.
func (s *Server) adminUser(c *fiber.Ctx) (*formbuilder.User, error) {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return nil, err
	}
	u, err := s.svc.Users.FindUserByID(c.UserContext(), id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgUserMissing)
	}
	return u, err
}

// userEditView is the data of user_edit.html.
type userEditView struct {
	User *formbuilder.User
	In   userInput
	Self bool
	// Forms and Channels are what the user is responsible for or operates.
	Forms    []*formbuilder.Form
	Channels []*formbuilder.Channel
}

func (s *Server) renderUserEdit(c *fiber.Ctx, status int, u *formbuilder.User, in userInput, v *view) error {
	ctx := c.UserContext()
	forms, err := s.svc.Forms.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true})
	if err != nil {
		return err
	}
	ev := &userEditView{User: u, In: in, Self: u.ID == currentAdmin(c).user.ID}
	for _, f := range forms {
		if f.ResponsibleUserID == u.ID {
			ev.Forms = append(ev.Forms, f)
		}
	}
	if s.svc.Chat != nil {
		chs, err := s.svc.Chat.ListChannels(ctx)
		if err != nil {
			return err
		}
		for _, ch := range chs {
			if ch.HasOperator(u.ID) {
				ev.Channels = append(ev.Channels, ch)
			}
		}
	}
	v.Title, v.Nav, v.Data = u.Email, "users", ev
	return s.render(c, status, "user_edit", v)
}

func (s *Server) handleUserEdit(c *fiber.Ctx) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	return s.renderUserEdit(c, fiber.StatusOK, u, userInput{Email: u.Email, Name: u.Name, Role: u.Role}, &view{})
}

// handleUserSave changes a user's name and role.
func (s *Server) handleUserSave(c *fiber.Ctx) error {
	old, err := s.adminUser(c)
	if err != nil {
		return err
	}
	in := userInput{Email: old.Email, Name: strings.TrimSpace(c.FormValue("name")), Role: c.FormValue("role")}
	u := *old
	u.Name, u.Role = in.Name, in.Role
	errs := map[string]formbuilder.Msg{}
	if !formbuilder.ValidRole(in.Role) {
		errs["role"] = formbuilder.M(formbuilder.MsgChooseRole)
	} else if err := s.svc.Users.UpdateUser(c.UserContext(), &u); err != nil {
		if code := formbuilder.ErrorCode(err); code != formbuilder.EINVALID && code != formbuilder.ECONFLICT {
			return err
		}
		errs = fieldErrorsFor(err, "", "")
		if len(errs) == 0 {
			errs["role"] = formbuilder.ErrorMsg(err)
		}
	}
	if len(errs) > 0 {
		return s.renderUserEdit(c, fiber.StatusUnprocessableEntity, old, in, &view{Errors: errs})
	}
	kv := []string{"name", u.Name}
	if old.Role != u.Role {
		kv = append(kv, "old_role", old.Role, "new_role", u.Role)
	}
	backoffice.NoteUser(c, "update", &u, kv...)
	return c.Redirect("/admin/users/"+strconv.FormatInt(u.ID, 10)+"?msg=user-saved", fiber.StatusSeeOther)
}

// handleUserResetPassword gives a user a new random password, shown once,
// and ends their sessions.
func (s *Server) handleUserResetPassword(c *fiber.Ctx) error {
	u, err := s.adminUser(c)
	if err != nil {
		return err
	}
	pw, err := s.office.ResetPassword(c.UserContext(), u)
	if err != nil {
		return err
	}
	if u.ID == currentAdmin(c).user.ID {
		// One's own reset: stay signed in here, as after a change.
		if err := s.startSession(c, u); err != nil {
			return err
		}
	}
	backoffice.NoteUser(c, "reset_password", u)
	return s.renderSecret(c, fiber.StatusOK, s.tr(c, "secret.new_password"), &secretView{What: "password", User: u, Secret: pw,
		Heading: s.tr(c, "secret.new_password_heading", "email", u.Email),
		Back:    "/admin/users/" + strconv.FormatInt(u.ID, 10), BackText: s.tr(c, "secret.back_to", "name", u.Email)})
}

// handleUserActive deactivates or reactivates a user. Deactivation ends the
// user's sessions and revokes their tokens at once (storage does both in
// one transaction); nobody deactivates themselves, and the last active
// admin stays.
func (s *Server) handleUserActive(active bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, err := s.adminUser(c)
		if err != nil {
			return err
		}
		if !active && u.ID == currentAdmin(c).user.ID {
			return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgDeactivateSelf)
		}
		if err := s.svc.Users.SetUserActive(c.UserContext(), u.ID, active); err != nil {
			return err
		}
		action, msg := "deactivate", "user-deactivated"
		if active {
			action, msg = "reactivate", "user-reactivated"
		}
		backoffice.NoteUser(c, action, u)
		return c.Redirect("/admin/users/"+strconv.FormatInt(u.ID, 10)+"?msg="+msg, fiber.StatusSeeOther)
	}
}

// tokenInput is the new-token form as typed.
type tokenInput struct {
	Name, Scope, Expires string
	UserID               int64
}

// tokenRow is one line of the token list.
type tokenRow struct {
	*formbuilder.APIToken
	Status string
}

// tokensView is the data of tokens.html.
type tokensView struct {
	Tokens []tokenRow
	Users  []*formbuilder.User
	In     tokenInput
}

func (s *Server) renderTokens(c *fiber.Ctx, status int, in tokenInput, v *view) error {
	ctx := c.UserContext()
	tokens, err := s.svc.Tokens.ListTokens(ctx)
	if err != nil {
		return err
	}
	users, err := s.svc.Users.ListUsers(ctx)
	if err != nil {
		return err
	}
	tv := &tokensView{In: in}
	now := s.Now()
	// Newest first: the one just made or used is on top.
	for i := len(tokens) - 1; i >= 0; i-- {
		tv.Tokens = append(tv.Tokens, tokenRow{APIToken: tokens[i], Status: tokens[i].Status(now)})
	}
	for _, u := range users {
		if u.Active() {
			tv.Users = append(tv.Users, u)
		}
	}
	v.Title, v.Nav, v.Data = s.tr(c, "tokens.title"), "tokens", tv
	return s.render(c, status, "tokens", v)
}

func (s *Server) handleTokenList(c *fiber.Ctx) error {
	in := tokenInput{Scope: formbuilder.ScopeRead, Expires: "90", UserID: currentAdmin(c).user.ID}
	return s.renderTokens(c, fiber.StatusOK, in, &view{})
}

// handleTokenCreate makes a token for the chosen user with a scope and an
// optional expiry, and shows it once.
func (s *Server) handleTokenCreate(c *fiber.Ctx) error {
	in := tokenInput{Name: strings.TrimSpace(c.FormValue("name")), Scope: c.FormValue("scope"),
		Expires: strings.TrimSpace(c.FormValue("expires_at"))}
	in.UserID, _ = strconv.ParseInt(c.FormValue("user_id"), 10, 64)
	errs := map[string]formbuilder.Msg{}
	expires, err := formbuilder.ParseTokenExpiry(in.Expires, s.Now())
	if err != nil {
		errs["token-expires_at"] = formbuilder.ErrorFieldMsgs(err)["expires_at"]
	}
	if !formbuilder.ValidScope(in.Scope) {
		errs["token-scope"] = formbuilder.M(formbuilder.MsgChooseScope)
	}
	plain, hash := formbuilder.NewAPIToken()
	t := &formbuilder.APIToken{Name: in.Name, Hash: hash, UserID: in.UserID, Scope: in.Scope, ExpiresAt: expires}
	for k, m := range formbuilder.ErrorFieldMsgs(t.Validate()) {
		if k != "scope" {
			errs["token-"+k] = m
		}
	}
	if len(errs) == 0 {
		if err := s.svc.Tokens.CreateToken(c.UserContext(), t); err != nil {
			if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
				return err
			}
			for k, m := range formbuilder.ErrorFieldMsgs(err) {
				errs["token-"+k] = m
			}
		}
	}
	if len(errs) > 0 {
		return s.renderTokens(c, fiber.StatusUnprocessableEntity, in, &view{Errors: errs})
	}
	backoffice.NoteToken(c, "create", t)
	return s.renderSecret(c, fiber.StatusCreated, s.tr(c, "secret.token_created"), &secretView{What: "token", Token: t, Secret: plain,
		Heading: s.tr(c, "secret.token_created_heading", "name", t.Name),
		Back:    "/admin/tokens", BackText: s.tr(c, "secret.back_tokens")})
}

func (s *Server) handleTokenRevoke(c *fiber.Ctx) error {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	t, err := s.svc.Tokens.FindTokenByID(ctx, id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgTokenGone)
	}
	if err != nil {
		return err
	}
	if err := s.svc.Tokens.RevokeToken(ctx, t.ID); err != nil {
		return err
	}
	backoffice.NoteToken(c, "revoke", t)
	return c.Redirect("/admin/tokens?msg=token-revoked#token-"+strconv.FormatInt(t.ID, 10), fiber.StatusSeeOther)
}
