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

const loginFailed = "The e-mail address or the password is wrong."

func (s *Server) handleLoginPage(c *fiber.Ctx) error {
	v := &view{Title: "Sign in", Data: &loginView{Next: nextParam(c.Query("next")), Token: s.loginCSRF(c)}}
	switch c.Query("m") {
	case "expired":
		v.Notice = "Your session has ended. Please sign in again."
	case "signedout":
		v.Notice = "You have been signed out."
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
	v := &view{Title: "Sign in", Data: lv}
	if !s.checkLoginCSRF(c) {
		lv.Token = s.loginCSRF(c)
		v.Error = "The sign-in page was out of date. Please try again."
		return s.render(c, fiber.StatusForbidden, "login", v)
	}
	lv.Token = s.loginCSRF(c)
	if len(email) > maxLoginField || len(pw) > maxLoginField {
		v.Error = loginFailed
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
		v.Error = "Too many failed sign-in attempts. Please wait " + strconv.Itoa(secs) +
			" seconds and try again."
		return s.render(c, fiber.StatusTooManyRequests, "login", v)
	}
	ctx := c.UserContext()
	user, err := s.svc.Users.FindUserByEmail(ctx, email)
	if err != nil && formbuilder.ErrorCode(err) != formbuilder.ENOTFOUND {
		return err
	}
	if user == nil || err != nil {
		password.CheckDummy(pw)
		v.Error = loginFailed
		return s.render(c, fiber.StatusUnauthorized, "login", v)
	}
	if password.Check(user.PasswordHash, pw) != nil {
		v.Error = loginFailed
		return s.render(c, fiber.StatusUnauthorized, "login", v)
	}
	if !user.Active() {
		// Said only to whoever knows the password: the account exists
		// and has been switched off.
		v.Error = "This account has been deactivated. Ask an admin if you need access again."
		return s.render(c, fiber.StatusForbidden, "login", v)
	}
	// A successful sign-in is no failure: the account's count starts over
	// and this attempt is taken back from the address's.
	s.loginAccount.Reset(accountKey)
	s.loginIP.Undo(ipKey, now)
	if err := s.startSession(c, user); err != nil {
		return err
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
