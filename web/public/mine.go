package public

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// The self-service pages of a data subject (GDPR Art. 7(3) and 15):
// /my-consents asks for an e-mail address and always answers the same
// way, known address or not (no enumeration); for a known one the
// delivery worker mails a signed link, valid for an hour, to the list of
// that address's consents with their receipts and a withdraw button each.

// MinePath is the self-service page.
const MinePath = "/my-consents"

// Limits of the self-service requests: a person asks a few times; more
// from one client is someone probing addresses, more for one address is
// someone filling its mailbox.
const (
	accessPerIP      = 10
	accessPerAddress = 3
	accessWindow     = time.Hour
)

// mineLang is the language of a self-service page: the lang query or form
// parameter, else the browser's as every other page negotiates it.
func mineLang(c *fiber.Ctx) string {
	for _, l := range []string{c.Query("lang"), c.FormValue("lang")} {
		if formbuilder.ValidLanguage(l) {
			return l
		}
	}
	return formbuilder.NegotiateLang(c.Get(fiber.HeaderAcceptLanguage))
}

func (s *Server) handleMineAsk(c *fiber.Ctx) error {
	page, err := s.Widget.MineAskPage(widget.MineAskState{Lang: mineLang(c), Action: MinePath})
	if err != nil {
		return err
	}
	return sendLinkPage(c, page)
}

// limitAccess is the middleware of POST /my-consents: the public posts'
// per-client limit and one of its own, per hour.
func (s *Server) limitAccess(c *fiber.Ctx) error {
	ip := httpx.RateKeyIP(s.ClientIP(c))
	return s.Limit(c, httpx.Pick{L: s.cfg.IPLimit, Key: ip}, httpx.Pick{L: s.accessIP, Key: ip})
}

// handleMineRequest queues the link mail for the posted address and says
// that a link is on its way if the address is known. Whether it is known
// decides only the worker, later: this answer, and the work done for it,
// are the same for every valid address. An address asked for too often
// gets the same answer and no mail.
func (s *Server) handleMineRequest(c *fiber.Ctx) error {
	if s.svc.Outbox == nil {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgNotAvailable)
	}
	lang := mineLang(c)
	httpx.SetLang(c, lang)
	email := strings.TrimSpace(c.FormValue("email"))
	if !formbuilder.ValidEmail(email) {
		return formbuilder.FieldError("email", formbuilder.MsgEnterValidEmail)
	}
	if ok, _ := s.accessAddress.Allow(formbuilder.VisitorHash(strings.ToLower(email)), s.Now()); ok {
		if err := s.svc.Outbox.EnqueueAccessLink(c.UserContext(), email, lang); err != nil {
			return err
		}
	}
	if httpx.WantsJSON(c) {
		return c.JSON(fiber.Map{"sent": true})
	}
	page, err := s.Widget.MineAskPage(widget.MineAskState{Lang: lang, Action: MinePath, Email: email, Sent: true})
	if err != nil {
		return err
	}
	return sendLinkPage(c, page)
}

// mineAccess returns the address and language of the :token of a signed
// self-service link.
func (s *Server) mineAccess(c *fiber.Ctx) (address, lang string, err error) {
	address, lang, ok := s.Signer.ParseAccessToken(c.Params("token"), s.Now())
	if !ok {
		httpx.SetLang(c, mineLang(c))
		return "", "", formbuilder.NewError(formbuilder.EGONE, formbuilder.MsgMineLinkInvalid, "path", MinePath)
	}
	httpx.SetLang(c, lang)
	return address, lang, nil
}

// handleMineList lists the consents given with the link's address.
func (s *Server) handleMineList(c *fiber.Ctx) error {
	address, lang, err := s.mineAccess(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	recs, err := s.svc.Log.ListRecords(ctx, formbuilder.RecordFilter{Subject: address, Action: formbuilder.ActionGiven,
		Limit: formbuilder.MaxPageSize})
	if err != nil {
		return err
	}
	states, err := s.entryStates(c, recs)
	if err != nil {
		return err
	}
	sources := &sourceNames{s: s, ctx: ctx, titles: map[int64]string{}}
	versions := map[int64]*formbuilder.ConsentVersion{}
	st := widget.MineListState{Lang: lang, Email: address, Action: c.Path()}
	for _, r := range recs {
		v, ok := versions[r.VersionID]
		if !ok {
			if v, err = s.svc.Consents.FindConsentVersion(ctx, r.VersionID); err != nil {
				return err
			}
			versions[r.VersionID] = v
		}
		e := widget.MineEntry{Record: r, Version: v, State: states[r.ID], Source: sources.of(r)}
		if rc, err := s.ReceiptOf(ctx, s.svc, r); err == nil {
			e.Receipt = &rc
		} else {
			s.Log.Error("consent receipt not signed", "entry", r.ID, "err", err)
		}
		st.Entries = append(st.Entries, e)
	}
	page, err := s.Widget.MineListPage(st)
	if err != nil {
		return err
	}
	return sendLinkPage(c, page)
}

// sourceNames names where entries were given, in the words the visitor
// saw: the page URL, else the form's title (a form's name is internal).
type sourceNames struct {
	s      *Server
	ctx    context.Context
	titles map[int64]string
}

func (n *sourceNames) of(r *formbuilder.ConsentRecord) string {
	if r.PageURL != "" || r.FormID == 0 {
		return r.PageURL
	}
	t, ok := n.titles[r.FormID]
	if !ok {
		if f, err := n.s.svc.Forms.FindFormByID(n.ctx, r.FormID); err == nil {
			t = f.Title
		}
		n.titles[r.FormID] = t
	}
	return t
}

// handleMineWithdraw withdraws one of the link's address's consents and
// shows the list again.
func (s *Server) handleMineWithdraw(c *fiber.Ctx) error {
	address, _, err := s.mineAccess(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.FormValue("entry"), 10, 64)
	if err != nil || id <= 0 {
		return formbuilder.FieldError("entry", formbuilder.MsgNotAnEntry)
	}
	ctx := c.UserContext()
	rec, err := s.svc.Log.FindRecord(ctx, id)
	if err != nil {
		return err
	}
	// The link proves one address: only its consents are withdrawn here.
	if rec.Action != formbuilder.ActionGiven || formbuilder.FoldSubject(rec.Subject) != formbuilder.FoldSubject(address) {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgRecordNotFound)
	}
	if _, err := s.svc.Log.Withdraw(ctx, id, s.ClientIP(c), c.Get(fiber.HeaderUserAgent)); err != nil &&
		formbuilder.ErrorCode(err) != formbuilder.ECONFLICT {
		return err
	}
	return c.Redirect(c.Path(), fiber.StatusSeeOther)
}
