package admin

import (
	"context"
	"encoding/base64"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// Session timing. The idle timeout ends sessions left open on a shared
// machine; the absolute one bounds how long a stolen cookie is useful even
// when it is kept busy. Touching at most once a minute keeps page views from
// turning into one database write each.
const (
	sessionIdle     = 30 * time.Minute
	sessionAbsolute = 12 * time.Hour
	sessionTouch    = time.Minute
)

// sessionCookie carries the random session token. Storage keeps only its
// SHA-256, so neither a database leak nor a log of session ids hands out a
// live session.
const sessionCookie = "cf_session"

// SessionCookie is the name of the session cookie, for the app's check of
// who may send a document before the body is read (MayUpload).
const SessionCookie = sessionCookie

// sessionTokenBytes is the entropy of a session token (256 bits).
const sessionTokenBytes = 32

// adminCtx is what requireSession leaves in the request's locals.
type adminCtx struct {
	sess *formbuilder.Session
	user *formbuilder.User
}

const localAdmin = "cf_admin"

// currentAdmin returns the signed-in admin of the request; only handlers
// behind requireSession call it.
func currentAdmin(c *fiber.Ctx) *adminCtx {
	a, _ := c.Locals(localAdmin).(*adminCtx)
	return a
}

// validSessionToken refuses cookies that cannot be a token we issued before
// they cost a database lookup.
func validSessionToken(tok string) bool {
	if len(tok) != base64.RawURLEncoding.EncodedLen(sessionTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil
}

// secureCookies reports whether cookies get the Secure flag: when the public
// URL is https. Over plain http (local use) a Secure cookie would never come
// back and nobody could sign in.
func (s *Server) secureCookies() bool {
	return strings.HasPrefix(strings.ToLower(s.BaseURL), "https://")
}

// setSessionCookie sends the session token. SameSite=Lax rather than Strict:
// Strict would drop the cookie when an admin follows a link to /admin from a
// mail or chat tool, showing the sign-in page while signed in. Lax still
// withholds it from cross-site POSTs, and every POST additionally needs the
// session's CSRF token and a same-origin Origin/Sec-Fetch-Site. The path is
// /admin so the cookie never reaches the public form routes or the API,
// which authenticates with bearer tokens only.
func (s *Server) setSessionCookie(c *fiber.Ctx, tok string) {
	c.Cookie(&fiber.Cookie{
		Name:     sessionCookie,
		Value:    tok,
		Path:     "/admin",
		HTTPOnly: true,
		Secure:   s.secureCookies(),
		SameSite: fiber.CookieSameSiteLaxMode,
		// No Expires: a browser session cookie; the server enforces the
		// idle and absolute timeouts regardless of what the browser keeps.
	})
}

func (s *Server) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/admin",
		HTTPOnly: true,
		Secure:   s.secureCookies(),
		SameSite: fiber.CookieSameSiteLaxMode,
		Expires:  time.Unix(0, 0),
		MaxAge:   -1,
	})
}

// startSession creates a fresh session for user and sets its cookie. The
// token is always new, whatever cookie the browser sent (no fixation).
func (s *Server) startSession(c *fiber.Ctx, user *formbuilder.User) error {
	ctx := c.UserContext()
	now := s.Now()
	// Opportunistic clean-up: sign-ins are rare, so this costs nothing
	// noticeable and keeps the table from growing without a scheduler.
	if err := s.svc.Sessions.DeleteExpiredSessions(ctx, now.Add(-sessionIdle), now.Add(-sessionAbsolute)); err != nil {
		s.Log.Warn("delete expired sessions", "err", err)
	}
	if old := c.Cookies(sessionCookie); validSessionToken(old) {
		_ = s.svc.Sessions.DeleteSession(ctx, formbuilder.HashToken(old))
	}
	tok := httpx.NewSecret(sessionTokenBytes)
	sess := &formbuilder.Session{
		ID:        formbuilder.HashToken(tok),
		UserID:    user.ID,
		CSRF:      httpx.NewSecret(32),
		CreatedAt: now,
		LastSeen:  now,
	}
	if err := s.svc.Sessions.CreateSession(ctx, sess); err != nil {
		return err
	}
	s.setSessionCookie(c, tok)
	return nil
}

// requireSession lets a request through only with a live session: a cookie
// we issued, found in storage, neither idle nor too old, of an existing,
// active user. Anything else goes to the sign-in page. Unknown ids are never
// adopted; only startSession makes sessions.
func (s *Server) requireSession(c *fiber.Ctx) error {
	tok := c.Cookies(sessionCookie)
	if !validSessionToken(tok) {
		return s.toLogin(c, "")
	}
	ctx := c.UserContext()
	id := formbuilder.HashToken(tok)
	sess, err := s.svc.Sessions.FindSession(ctx, id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return s.toLogin(c, "")
	}
	if err != nil {
		return err
	}
	sess.ID = id
	now := s.Now()
	if sessionOver(sess, now) {
		if err := s.svc.Sessions.DeleteSession(ctx, id); err != nil {
			return err
		}
		return s.toLogin(c, "expired")
	}
	user, err := s.svc.Users.FindUserByID(ctx, sess.UserID)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND || err == nil && !user.Active() {
		// Deactivation deletes the sessions too; this holds even for one
		// made in the same instant.
		_ = s.svc.Sessions.DeleteSession(ctx, id)
		return s.toLogin(c, "")
	}
	if err != nil {
		return err
	}
	if now.Sub(sess.LastSeen) >= sessionTouch {
		if err := s.svc.Sessions.TouchSession(ctx, id, now); err != nil {
			return err
		}
		sess.LastSeen = now
	}
	c.Locals(localAdmin, &adminCtx{sess: sess, user: user})
	httpx.SetPrincipal(c, &httpx.Principal{User: user, Via: formbuilder.ViaAdmin})
	return c.Next()
}

// sessionOver reports whether sess has been idle or open too long at now.
func sessionOver(sess *formbuilder.Session, now time.Time) bool {
	return now.Sub(sess.LastSeen) > sessionIdle || now.Sub(sess.CreatedAt) > sessionAbsolute
}

// MayUpload reports whether a request whose session cookie holds tok may
// send a body as large as a document: the session is live, as
// requireSession checks it (without touching it), and its user an active
// admin, the only role the consent editor admits. The app asks before the
// body is read; the route's own checks (session, role, same origin, CSRF
// token) run again on the whole request.
func (s *Server) MayUpload(ctx context.Context, tok string) bool {
	if !validSessionToken(tok) {
		return false
	}
	sess, err := s.svc.Sessions.FindSession(ctx, formbuilder.HashToken(tok))
	if err != nil || sessionOver(sess, s.Now()) {
		return false
	}
	u, err := s.svc.Users.FindUserByID(ctx, sess.UserID)
	return err == nil && u.IsAdmin()
}

// toLogin sends the browser to the sign-in page, remembering where it was
// going for GETs so the admin lands there after signing in.
func (s *Server) toLogin(c *fiber.Ctx, why string) error {
	if c.Cookies(sessionCookie) != "" {
		s.clearSessionCookie(c)
	}
	q := url.Values{}
	if why != "" {
		q.Set("m", why)
	}
	if c.Method() == fiber.MethodGet {
		if next := string(c.Request().URI().RequestURI()); safeNext(next) && next != "/admin" && next != "/admin/" {
			q.Set("next", next)
		}
	}
	target := "/admin/login"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}

// safeNext reports whether next is a local admin path to return to after
// sign-in, so the parameter cannot send anyone to another site.
func safeNext(next string) bool {
	if next != "/admin" && !strings.HasPrefix(next, "/admin/") {
		return false
	}
	if strings.HasPrefix(next, "/admin/login") || strings.HasPrefix(next, "/admin/logout") {
		return false
	}
	if strings.ContainsAny(next, "\\\r\n\t") || strings.Contains(next, "//") || len(next) >= 1024 {
		return false
	}
	// Dot segments (also percent-encoded) would let the browser resolve the
	// path to somewhere outside /admin.
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return false
	}
	clean := path.Clean(u.Path)
	return clean == u.Path || clean+"/" == u.Path
}
