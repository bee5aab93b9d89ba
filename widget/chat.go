package widget

import (
	"errors"
	"html/template"
	"net/url"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
)

// The chat page (/c/KEY, ?embed=1 inside the launcher's panel) is a shell
// that chat.js fills: it talks to the visitor API of the web package. The
// consent block is rendered here, on the server, so the admin's consent
// text reaches the page through the one sanitising policy and html/template,
// never through script.
//
// # Visitor API (JSON; paths under /c/KEY)
//
//	GET  messages?visitor_id=ID&after=N  {state, held?, messages: [Message], withdraw_url?}
//	POST messages  {visitor_id, text, page_url}
//	     201 {state, messages: [Message]} delivered; 202 {state: "awaiting_consent", held} held
//	POST consent   {visitor_id, decision: "accept"|"decline", version_id, page_url}
//	     200 {state, message?, withdraw_url?}; 409 {error, reload: true} when the text changed
//	POST consent/reopen  {visitor_id}  200 {state}
//	GET  events?visitor_id=ID  Server-Sent Events: "message" (Message, id: N) and "state" ({state})
//
// state is "new" (no message yet), "awaiting_consent", "open" or "declined".
// Errors are {"error": {"code", "message"}} with a message for the visitor in
// the channel's language.
//
// # postMessage (iframe → loader)
//
//	{type: "consentforms:ready", id}   once chat.js runs: the loader warns when a frame stays silent
//	{type: "consentforms:close", id}   the close button or Esc
//
// Both go to the host page's origin (data-origin) only.

// chatScriptTexts are the chat texts chat.js needs, passed as JSON.
var chatScriptTexts = []string{"chat_you", "chat_operator", "chat_held", "chat_accepted", "chat_withdraw",
	"chat_changed", "chat_too_long", "chat_failed", "chat_offline", "chat_rate_limited", "chat_pending",
	"chat_refused", "chat_gone"}

// ChatPageState is what the chat page needs besides the channel.
type ChatPageState struct {
	// Embed selects the iframe variant (a close button, messages to the
	// host page).
	Embed bool
	// Origin is the host page's origin; the caller passes only one the
	// channel allows. chat.js sends postMessages to it and nowhere else.
	Origin string
	// PageURL is the host page's URL, sent with messages and the consent.
	PageURL string
}

type chatView struct {
	page
	Title   string
	API     string
	Key     string
	PageURL string
	Consent *chatConsentView
	JSTexts map[string]string
}

type chatConsentView struct {
	VersionID int64
	Before    string
	Link      string
	After     string
	LinkURL   string
	// LinkText names the link target on the consent page: the document's
	// file name, or the URL itself.
	LinkText string
	Text     template.HTML
	TextURL  string
}

// chatConsent builds the consent block of ch, or nil when the channel asks
// none. It fails when the consent is on but its version is not loaded: a
// consent whose text cannot be shown must not be asked.
func (r *Renderer) chatConsent(ch *formbuilder.Channel) (*chatConsentView, error) {
	if !ch.AsksConsent() {
		return nil, nil
	}
	if ch.Consent == nil || ch.Consent.Current == nil {
		return nil, errors.New("widget: the channel's consent has no loaded version")
	}
	ver := ch.Consent.Current
	lb := formbuilder.ParseLabel(ver.Label)
	cv := &chatConsentView{VersionID: ver.ID, Before: lb.Before, Link: lb.Link, After: lb.After,
		TextURL: r.base + "/c/" + url.PathEscape(ch.Key) + "/consent"}
	if text := formbuilder.Sanitize(ver.Text); strings.TrimSpace(formbuilder.StripTags(text)) != "" {
		cv.Text = template.HTML(text)
	}
	cv.LinkURL = ver.LinkTarget(r.base)
	if ver.Document != nil {
		cv.LinkText = ver.Document.Name
	}
	return cv, nil
}

func (r *Renderer) chatPage(l, title string, embed bool) page {
	p := r.newPage(l, title, embed, true)
	p.CSSURL, p.JSURL = r.chatCSSURL, r.chatJSURL
	return p
}

// ChatPage renders the chat of channel ch in ch.Language.
func (r *Renderer) ChatPage(ch *formbuilder.Channel, st ChatPageState) ([]byte, error) {
	if ch == nil {
		return nil, errors.New("widget: nil channel")
	}
	l := chromeLang(ch.Language)
	title := strings.TrimSpace(ch.Name)
	if title == "" {
		title = T(l, "chat")
	}
	cv, err := r.chatConsent(ch)
	if err != nil {
		return nil, err
	}
	v := &chatView{
		page:    r.chatPage(l, title, st.Embed),
		Title:   title,
		API:     r.base + "/c/" + url.PathEscape(ch.Key),
		Key:     ch.Key,
		Consent: cv,
	}
	if p, err := formbuilder.CheckPageURL(st.PageURL); err == nil {
		v.PageURL = p
	}
	if st.Embed {
		v.Origin = hostOrigin(st.Origin, v.PageURL)
	}
	v.JSTexts = make(map[string]string, len(chatScriptTexts))
	for _, k := range chatScriptTexts {
		v.JSTexts[k] = T(l, k)
	}
	return r.render("chat", v)
}

// ChatConsentPage renders the consent text of channel ch on a page of its
// own, for the "read the full text" link of the chat.
func (r *Renderer) ChatConsentPage(ch *formbuilder.Channel) ([]byte, error) {
	if ch == nil {
		return nil, errors.New("widget: nil channel")
	}
	l := chromeLang(ch.Language)
	cv, err := r.chatConsent(ch)
	if err != nil {
		return nil, err
	}
	v := &chatConsentPageView{page: r.newPage(l, T(l, "chat_consent_page"), false, false), Consent: cv}
	if cv != nil {
		v.Caption = formbuilder.ParseLabel(ch.Consent.Current.Label).String()
	}
	return r.render("chat_consent", v)
}

type chatConsentPageView struct {
	page
	Consent *chatConsentView
	Caption string
}
