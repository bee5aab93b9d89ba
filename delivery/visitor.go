package delivery

import (
	"context"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// Mails to visitors: the double opt-in confirmation (DeliveryConfirm) and
// the link to one's own consent entries (DeliveryAccess). They go to the
// address the visitor typed, in the form's (or the asked-for) language, and
// carry signed links that the web app makes (VisitorLinks).

// VisitorLinks makes the signed links of visitor mails; the web app holds
// the key they are signed with (web.Server implements it).
type VisitorLinks interface {
	// ConfirmURL is the link that confirms entry recordID.
	ConfirmURL(recordID int64) string
	// AccessURL is the link to the entries of address, in lang, valid for
	// an hour from now.
	AccessURL(address, lang string, now time.Time) string
}

// vt is the text key of visitor mails in lang: the "vmail." keys of the
// message catalogs.
func vt(lang, key string) string { return formbuilder.T(lang, "vmail."+key) }

// visitorTime writes t for a visitor in lang.
func visitorTime(lang string, t time.Time) string {
	if lang == "de" {
		return t.UTC().Format("02.01.2006, 15:04") + " UTC"
	}
	return t.UTC().Format("2 January 2006, 15:04") + " UTC"
}

// sendConfirmMail mails the subject of m's submission a link per consent
// of it that still waits for confirmation. Nothing waiting (confirmed,
// withdrawn or run out meanwhile) is a delivery with nothing to send.
// recs are the submission's entries.
func (w *Worker) sendConfirmMail(ctx context.Context, m *formbuilder.OutboxMessage, form *formbuilder.Form,
	recs []*formbuilder.ConsentRecord, now time.Time) error {
	if !formbuilder.ValidEmail(m.Target) {
		return permanent(dm(formbuilder.MsgDlvVisitorAddress))
	}
	var waiting []*formbuilder.ConsentRecord
	var ids []int64
	for _, r := range recs {
		if r.NeedsConfirmation() && now.Before(r.ConfirmBy) {
			waiting = append(waiting, r)
			ids = append(ids, r.ID)
		}
	}
	if len(ids) > 0 {
		confirmed, err := w.cfg.Log.Confirmed(ctx, ids)
		if err != nil {
			return err
		}
		withdrawn, err := w.cfg.Log.Withdrawn(ctx, ids)
		if err != nil {
			return err
		}
		left := waiting[:0]
		for _, r := range waiting {
			if !confirmed[r.ID] && !withdrawn[r.ID] {
				left = append(left, r)
			}
		}
		waiting = left
	}
	if len(waiting) == 0 {
		return nil
	}
	lang := "en"
	if form.Language == "de" {
		lang = "de"
	}
	var b strings.Builder
	where := ""
	if t := strings.TrimSpace(form.Title); t != "" {
		where = strings.ReplaceAll(vt(lang, "confirm_where"), "{title}", headerText(t, 200))
	}
	b.WriteString(strings.NewReplacer("{time}", visitorTime(lang, waiting[0].Time), "{where}", where).Replace(vt(lang, "confirm_intro")))
	b.WriteString("\n")
	for _, r := range waiting {
		label := r.ConsentName
		if v, err := w.cfg.Consents.FindConsentVersion(ctx, r.VersionID); err == nil {
			label = formbuilder.ParseLabel(v.Label).String()
		} else if formbuilder.ErrorCode(err) != formbuilder.ENOTFOUND {
			return err
		}
		deadline := visitorTime(lang, r.ConfirmBy)
		b.WriteString("\n  • " + strings.TrimSpace(label) + "\n\n")
		b.WriteString(strings.ReplaceAll(vt(lang, "confirm_link"), "{deadline}", deadline) + "\n")
		b.WriteString(w.cfg.Links.ConfirmURL(r.ID) + "\n")
	}
	b.WriteString("\n" + strings.ReplaceAll(vt(lang, "confirm_ignore"), "{deadline}", visitorTime(lang, waiting[0].ConfirmBy)))
	b.WriteString("\n\n-- \n" + vt(lang, "signature") + "\n")
	msg, err := composeMail(w.cfg.SMTP.from, outgoing{messageID: m.ID, to: m.Target, subject: vt(lang, "confirm_subject"),
		text: b.String(), lang: lang, now: now})
	if err != nil {
		return err
	}
	return sendMail(ctx, w.cfg.SMTP, m.Target, msg)
}

// sendAccessMail mails m's address the link to its entries, if the log has
// any: an address it does not know gets nothing, and the asker learned
// nothing either way (the web page answers alike).
func (w *Worker) sendAccessMail(ctx context.Context, m *formbuilder.OutboxMessage, now time.Time) error {
	if !formbuilder.ValidEmail(m.Target) {
		return permanent(dm(formbuilder.MsgDlvAddressInvalid))
	}
	recs, err := w.cfg.Log.ListRecords(ctx, formbuilder.RecordFilter{Subject: m.Target, Limit: 1})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	lang := m.Lang
	if !formbuilder.ValidLanguage(lang) {
		lang = "en"
	}
	text := vt(lang, "access_intro") + "\n" + w.cfg.Links.AccessURL(m.Target, lang, now) + "\n\n" +
		vt(lang, "access_ignore") + "\n\n-- \n" + vt(lang, "signature") + "\n"
	msg, err := composeMail(w.cfg.SMTP.from, outgoing{messageID: m.ID, to: m.Target, subject: vt(lang, "access_subject"),
		text: text, lang: lang, now: now})
	if err != nil {
		return err
	}
	return sendMail(ctx, w.cfg.SMTP, m.Target, msg)
}
