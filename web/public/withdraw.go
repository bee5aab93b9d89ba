package public

import (
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// handleWithdrawPage shows what a visitor agreed to and asks them to
// confirm the withdrawal. Opening the link alone changes nothing, so link
// scanners in mail clients cannot withdraw by accident.
func (s *Server) handleWithdrawPage(c *fiber.Ctx) error {
	return s.withdraw(c, false)
}

// handleWithdrawConfirm appends the withdrawal entry to the consent log.
func (s *Server) handleWithdrawConfirm(c *fiber.Ctx) error {
	return s.withdraw(c, true)
}

func (s *Server) withdraw(c *fiber.Ctx, confirm bool) error {
	id, ok := s.Signer.ParseWithdrawToken(c.Params("token"))
	if !ok {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgWithdrawLink)
	}
	ctx := c.UserContext()
	rec, err := s.svc.Log.FindRecord(ctx, id)
	if err != nil {
		return err
	}
	if rec.Action != formbuilder.ActionGiven {
		return formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgWithdrawLink)
	}
	ver, err := s.svc.Consents.FindConsentVersion(ctx, rec.VersionID)
	if err != nil {
		return err
	}
	done, err := s.svc.Log.Withdrawn(ctx, []int64{id})
	if err != nil {
		return err
	}
	already := done[id]
	if confirm && !already {
		// Storage applies the IP mode.
		if _, err := s.svc.Log.Withdraw(ctx, id, s.ClientIP(c), c.Get(fiber.HeaderUserAgent)); err != nil &&
			formbuilder.ErrorCode(err) != formbuilder.ECONFLICT {
			return err
		}
		already = true
	}
	label := widget.LabelText(ver.Label)
	// The receipt of what was given, signed now: it stays proof of the
	// consent (and of when), withdrawn or not.
	var receipt *widget.Receipt
	if rc, err := s.ReceiptOf(ctx, s.svc, rec); err == nil {
		receipt = &rc
	} else {
		s.Log.Error("consent receipt not signed", "entry", rec.ID, "err", err)
	}
	if httpx.WantsJSON(c) {
		ans := fiber.Map{"record_id": id, "label": label, "withdrawn": already}
		if receipt != nil {
			ans["receipt"] = receipt.JWS
		}
		return c.JSON(ans)
	}
	st := widget.WithdrawState{Lang: ver.Language, Record: rec, Version: ver, Page: rec.PageURL,
		Action: s.Signer.WithdrawPath(id), Done: already, Receipt: receipt}
	if rec.PageURL == "" && rec.FormID != 0 {
		// Where it was given, in the words the visitor saw: the form's
		// title (its name is internal).
		f, err := s.svc.Forms.FindFormByID(ctx, rec.FormID)
		switch {
		case err == nil:
			st.FormTitle = f.Title
		case formbuilder.ErrorCode(err) != formbuilder.ENOTFOUND:
			return err
		}
	}
	page, err := s.Widget.WithdrawPage(st)
	if err != nil {
		return err
	}
	return sendLinkPage(c, page)
}
