package httpx

import (
	"context"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
)

// IssueReceipt signs the consent receipt of entry rec (stored, with its id
// and hash), whose consent version is ver, collected by method (see
// formbuilder.CollectionMethod) through fields data, with the key valid
// now and the company data of the settings as the controller.
func (b *Base) IssueReceipt(rec *formbuilder.ConsentRecord, ver *formbuilder.ConsentVersion, method string, data []string) (string, error) {
	return b.IssueReceiptWith(b.Keys.Load(), rec, ver, method, data)
}

// IssueReceiptWith is IssueReceipt with keys instead of the server's: the
// honeypot signs its decoy receipts with a throwaway set, and they must
// look like real ones in every other way.
func (b *Base) IssueReceiptWith(keys *formbuilder.KeySet, rec *formbuilder.ConsentRecord, ver *formbuilder.ConsentVersion, method string, data []string) (string, error) {
	return formbuilder.IssueReceipt(keys, formbuilder.ReceiptInput{Record: rec, Version: ver,
		Company: b.Settings.Load().Company, Issuer: b.BaseURL, Method: method, Data: data}, b.Now())
}

// FormData lists the labels of the fields form f asks for: what a receipt
// says was collected (Kantara piiCategory). Hidden fields are not asked
// for.
func FormData(f *formbuilder.Form) []string {
	out := make([]string, 0, len(f.Fields))
	for _, fd := range f.Fields {
		if fd.Kind == formbuilder.KindHidden {
			continue
		}
		l := fd.Label
		if l == "" {
			l = fd.Key
		}
		out = append(out, l)
	}
	return out
}

// ChatData is what a receipt says a chat collects.
var ChatData = []string{"chat messages"}

// ReceiptOf issues anew the receipt of stored entry rec (a given consent),
// as a visitor page shows it: the consent's label and the signed token. It
// loads the version the entry points at, and its form or channel for the
// collection method.
func (b *Base) ReceiptOf(ctx context.Context, svc Services, rec *formbuilder.ConsentRecord) (widget.Receipt, error) {
	ver, err := svc.Consents.FindConsentVersion(ctx, rec.VersionID)
	if err != nil {
		return widget.Receipt{}, err
	}
	method, data := formbuilder.CollectionMethod("form", rec.FormKey), []string(nil)
	switch {
	case rec.FormID != 0:
		if f, err := svc.Forms.FindFormByID(ctx, rec.FormID); err == nil {
			data = FormData(f)
		} else if formbuilder.ErrorCode(err) != formbuilder.ENOTFOUND {
			return widget.Receipt{}, err
		}
	case rec.ChannelID != 0 && svc.Chat != nil:
		ch, err := svc.Chat.FindChannelByID(ctx, rec.ChannelID)
		if err != nil {
			return widget.Receipt{}, err
		}
		method, data = formbuilder.CollectionMethod("chat", ch.Key), ChatData
	}
	tok, err := b.IssueReceipt(rec, ver, method, data)
	if err != nil {
		return widget.Receipt{}, err
	}
	return widget.Receipt{RecordID: rec.ID, Label: widget.LabelText(ver.Label), JWS: tok}, nil
}
