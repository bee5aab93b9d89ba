package widget

import (
	"html/template"

	"github.com/consentforms/consentforms/formbuilder"
)

// Receipt is a consent receipt as visitor pages offer it: the consent's
// label, the log entry it stands for and the signed token, a compact JWS
// (formbuilder.IssueReceipt).
type Receipt struct {
	RecordID int64  `json:"record_id"`
	Label    string `json:"label"`
	JWS      string `json:"jws"`
}

// receiptView is a receipt as the templates show it: a download link that
// carries the token itself (a data: URL), so the page needs no other
// request and the file is what the visitor saw.
type receiptView struct {
	Label    string
	JWS      string
	FileName string
	Href     template.URL
}

// ReceiptMIME is the media type of a compact JWS (RFC 7515).
const ReceiptMIME = "application/jose"

// ReceiptHref is the data: URL of a receipt's download link, or "" when
// jws is not a compact JWS (base64url parts and dots only), which could
// not be put into a URL as it is.
func ReceiptHref(jws string) string {
	if !jwsChars(jws) {
		return ""
	}
	return "data:" + ReceiptMIME + "," + jws
}

func jwsChars(s string) bool {
	if s == "" || len(s) > formbuilder.MaxJWS {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// receiptViews turns receipts into views, leaving out any that is not a
// compact JWS.
func receiptViews(rs []Receipt) []receiptView {
	var out []receiptView
	for _, r := range rs {
		if href := ReceiptHref(r.JWS); href != "" {
			// Checked to be a data: URL of safe characters: html/template
			// would otherwise refuse the data: scheme.
			out = append(out, receiptView{Label: r.Label, JWS: r.JWS, FileName: formbuilder.ReceiptFileName(r.RecordID),
				Href: template.URL(href)})
		}
	}
	return out
}
