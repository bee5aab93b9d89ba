package admin

import (
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// Sign-in throttling: at most loginLimit sign-in attempts that failed per
// account and per client address (IPv6 per /64, as the public limits
// count, so rotating addresses within one subscriber's block buys nothing)
// in a sliding window of loginWindow. It uses the rate limiter of the
// public routes (httpx.Limiter); an attempt is counted up front and taken
// back when it succeeds. One process is enough: a restart forgets at most a
// minute of history, and with several servers each allows the limit.
const (
	loginLimit  = 5
	loginWindow = time.Minute
)

// maxLoginField bounds what is hashed or looked up, so a megabyte password
// cannot make argon2 or the database do extra work.
const maxLoginField = 1024

// loginView is the data of the sign-in page.
type loginView struct {
	Email string
	Next  string
	Token string
}

func (s *Server) handleLoginPage(c *fiber.Ctx) error {
	v := &view{Title: s.tr(c, "login.title"), Data: &loginView{Next: nextParam(c.Query("next")), Token: s.loginCSRF(c)}}
	switch m := c.Query("m"); m {
	case "expired", "signedout":
		v.Notice = s.tr(c, "notice."+m)
	}
	return s.render(c, fiber.StatusOK, "login", v)
}

func nextParam(n string) string {
	if safeNext(n) {
		return n
	}
	return ""
}

// handleLogin checks the credentials. Unknown e-mail and wrong password get
// the same answer, after the same argon2 work, so the page does not tell
// which addresses have accounts; throttling counts both alike.
func (s *Server) handleLogin(c *fiber.Ctx) error {
	email := strings.TrimSpace(c.FormValue("email"))
	pw := c.FormValue("password")
	lv := &loginView{Email: email, Next: nextParam(c.FormValue("next"))}
	v := &view{Title: s.tr(c, "login.title"), Data: lv}
	if !s.checkLoginCSRF(c) {
		lv.Token = s.loginCSRF(c)
		v.Error = formbuilder.M(formbuilder.MsgLoginStale)
		return s.render(c, fiber.StatusForbidden, "login", v)
	}
	lv.Token = s.loginCSRF(c)
	if len(email) > maxLoginField || len(pw) > maxLoginField {
		v.Error = formbuilder.M(formbuilder.MsgLoginFailed)
		return s.render(c, fiber.StatusUnauthorized, "login", v)
	}
	now := s.Now()
	accountKey := strings.ToLower(email)
	ipKey := httpx.RateKeyIP(s.ClientIP(c))
	ok, wait := httpx.Take(now, httpx.Pick{L: s.loginAccount, Key: accountKey}, httpx.Pick{L: s.loginIP, Key: ipKey})
	if !ok {
		secs := int(wait.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		v.Error = formbuilder.M(formbuilder.MsgLoginThrottled, "seconds", strconv.Itoa(secs))
		return s.render(c, fiber.StatusTooManyRequests, "login", v)
	}
	ctx := c.UserContext()
	user, err := s.svc.Users.FindUserByEmail(ctx, email)
	if err != nil && formbuilder.ErrorCode(err) != formbuilder.ENOTFOUND {
		return err
	}
	if user == nil || err != nil {
		password.CheckDummy(pw)
		v.Error = formbuilder.M(formbuilder.MsgLoginFailed)
		return s.render(c, fiber.StatusUnauthorized, "login", v)
	}
	if password.Check(user.PasswordHash, pw) != nil {
		v.Error = formbuilder.M(formbuilder.MsgLoginFailed)
		return s.render(c, fiber.StatusUnauthorized, "login", v)
	}
	if !user.Active() {
		// Said only to whoever knows the password: the account exists
		// and has been switched off.
		v.Error = formbuilder.M(formbuilder.MsgAccountDeactivated)
		return s.render(c, fiber.StatusForbidden, "login", v)
	}
	// A successful sign-in is no failure: the account's count starts over
	// and this attempt is taken back from the address's.
	s.loginAccount.Reset(accountKey)
	s.loginIP.Undo(ipKey, now)
	if err := s.startSession(c, user); err != nil {
		return err
	}
	if user.Language == "" {
		// The first sign-in: the admin speaks the browser's language
		// until the user picks another in the menu.
		if err := s.svc.Users.SetUserLanguage(c.UserContext(), user.ID,
			formbuilder.NegotiateLang(c.Get(fiber.HeaderAcceptLanguage))); err != nil {
			return err
		}
	}
	target := "/admin/forms"
	if lv.Next != "" {
		target = lv.Next
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// handleLogout ends the session on the server, not only in the browser, so
// a copied cookie stops working too.
func (s *Server) handleLogout(c *fiber.Ctx) error {
	a := currentAdmin(c)
	if err := s.svc.Sessions.DeleteSession(c.UserContext(), a.sess.ID); err != nil {
		return err
	}
	// Signing out ends a session, not something staff manage.
	backoffice.Unchanged(c)
	s.clearSessionCookie(c)
	return c.Redirect("/admin/login?m=signedout", fiber.StatusSeeOther)
}
