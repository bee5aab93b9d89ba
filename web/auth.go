package web

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/gofiber/fiber/v2"
)

// Sign-in throttling: at most loginLimit failed attempts per account and per
// IP address within loginWindow. It is a sliding window: an attempt is
// refused while loginLimit failures lie less than loginWindow in the past.
const (
	loginLimit  = 5
	loginWindow = time.Minute
)

// maxLoginField bounds what is hashed or looked up, so a megabyte password
// cannot make argon2 or the database do extra work.
const maxLoginField = 1024

// throttle counts failures per key in memory. One process is enough: the
// admin UI of an installation runs behind one server, and a restart forgets
// at most a minute of history.
type throttle struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	hits   map[string][]time.Time
	swept  time.Time
}

func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{limit: limit, window: window, hits: map[string][]time.Time{}}
}

// recent returns the hits of key within the window, dropping older ones.
func (t *throttle) recent(key string, now time.Time) []time.Time {
	hs := t.hits[key]
	i := 0
	for i < len(hs) && now.Sub(hs[i]) >= t.window {
		i++
	}
	hs = hs[i:]
	if len(hs) == 0 {
		delete(t.hits, key)
		return nil
	}
	t.hits[key] = hs
	return hs
}

// take records an attempt under every key, unless one of them has reached
// the limit; then it records nothing and returns how long until the oldest
// counted failure leaves the window. Checking and recording in one step
// means parallel guesses cannot all slip in before the count goes up.
func (t *throttle) take(now time.Time, keys ...string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	var wait time.Duration
	for _, k := range keys {
		hs := t.recent(k, now)
		if len(hs) >= t.limit {
			if w := t.window - now.Sub(hs[len(hs)-t.limit]); w > wait {
				wait = w
			}
		}
	}
	if wait > 0 {
		return false, wait
	}
	for _, k := range keys {
		t.hits[k] = append(t.hits[k], now)
	}
	return true, 0
}

// forgive removes the attempt made at `at` from key (a successful sign-in is
// not a failure) and, with all true, forgets key's history.
func (t *throttle) forgive(key string, at time.Time, all bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if all {
		delete(t.hits, key)
		return
	}
	hs := t.hits[key]
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Equal(at) {
			t.hits[key] = append(hs[:i:i], hs[i+1:]...)
			break
		}
	}
	if len(t.hits[key]) == 0 {
		delete(t.hits, key)
	}
}

// sweep drops expired keys now and then, so guessed e-mail addresses do not
// pile up in memory.
func (t *throttle) sweep(now time.Time) {
	if now.Sub(t.swept) < t.window && len(t.hits) < 10000 {
		return
	}
	t.swept = now
	for k := range t.hits {
		t.recent(k, now)
	}
}

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
	now := s.now()
	accountKey := "account:" + strings.ToLower(email)
	ipKey := "ip:" + s.clientIP(c)
	ok, wait := s.admin.throttle.take(now, accountKey, ipKey)
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
	s.admin.throttle.forgive(accountKey, now, true)
	s.admin.throttle.forgive(ipKey, now, false)
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
	s.clearSessionCookie(c)
	return c.Redirect("/admin/login?m=signedout", fiber.StatusSeeOther)
}
