package public

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// handleConfirmPage shows a consent that needs confirmation by e-mail and
// asks to confirm it (issue 16: double opt-in). Opening the link alone
// changes nothing, so link scanners in mail clients cannot confirm for the
// visitor: the confirmation is the button's POST.
func (s *Server) handleConfirmPage(c *fiber.Ctx) error {
	return s.confirm(c, false)
}

// handleConfirm appends the confirmation entry to the consent log.
func (s *Server) handleConfirm(c *fiber.Ctx) error {
	return s.confirm(c, true)
}

func (s *Server) confirm(c *fiber.Ctx, post bool) error {
	id, ok := s.Signer.ParseConfirmToken(c.Params("token"))
	if !ok {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgConfirmLinkInvalid)
	}
	ctx := c.UserContext()
	rec, err := s.svc.Log.FindRecord(ctx, id)
	if err != nil {
		return err
	}
	if !rec.NeedsConfirmation() {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgConfirmLinkInvalid)
	}
	ver, err := s.svc.Consents.FindConsentVersion(ctx, rec.VersionID)
	if err != nil {
		return err
	}
	// From here on, errors speak the consent's language, as the page does.
	httpx.SetLang(c, ver.Language)
	if post {
		// Stored as the settings say when it commits (storage applies
		// the IP mode).
		_, err := s.svc.Log.Confirm(ctx, id, s.ClientIP(c), c.Get(fiber.HeaderUserAgent))
		// Confirmed or withdrawn meanwhile, run out: the page says how it
		// stands.
		if err != nil && formbuilder.ErrorCode(err) != formbuilder.ECONFLICT && formbuilder.ErrorCode(err) != formbuilder.EGONE {
			return err
		}
	}
	state, err := s.entryState(c, rec)
	if err != nil {
		return err
	}
	if httpx.WantsJSON(c) {
		return c.JSON(fiber.Map{"record_id": id, "label": widget.LabelText(ver.Label), "state": state})
	}
	st := widget.ConfirmState{Lang: ver.Language, Record: rec, Version: ver, State: state,
		Action: s.Signer.ConfirmPath(id)}
	if state == formbuilder.ConfirmDone {
		if rc, err := s.ReceiptOf(ctx, s.svc, rec); err == nil {
			st.Receipt = &rc
		} else {
			s.Log.Error("consent receipt not signed", "entry", rec.ID, "err", err)
		}
	}
	page, err := s.Widget.ConfirmPage(st)
	if err != nil {
		return err
	}
	return sendLinkPage(c, page)
}

// entryState is the state of given entry rec now: withdrawn, or its
// confirmation state (formbuilder.ConfirmNotNeeded when it needs none).
func (s *Server) entryState(c *fiber.Ctx, rec *formbuilder.ConsentRecord) (string, error) {
	states, err := s.entryStates(c, []*formbuilder.ConsentRecord{rec})
	return states[rec.ID], err
}

// entryStates returns the state of each given entry of recs (see
// entryState).
func (s *Server) entryStates(c *fiber.Ctx, recs []*formbuilder.ConsentRecord) (map[int64]string, error) {
	ids := make([]int64, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	ctx := c.UserContext()
	withdrawn, err := s.svc.Log.Withdrawn(ctx, ids)
	if err != nil {
		return nil, err
	}
	confirmed, err := s.svc.Log.Confirmed(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	out := make(map[int64]string, len(recs))
	for _, r := range recs {
		if withdrawn[r.ID] {
			out[r.ID] = widget.StateWithdrawn
		} else {
			out[r.ID] = r.ConfirmationState(confirmed[r.ID], now)
		}
	}
	return out, nil
}

// sendLinkPage answers with page, a page reached through a signed link:
// the link itself is a credential, so no cache keeps the page and no
// Referer header carries the link on.
func sendLinkPage(c *fiber.Ctx, page []byte) error {
	httpx.SetPublicPageHeaders(c, httpx.PublicCSP(nil))
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(page)
}
