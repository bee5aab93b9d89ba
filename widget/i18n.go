package widget

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
)

// texts is the widget chrome per language: the catalog texts of
// formbuilder whose keys start with "widget.", without that prefix, so
// templates read them as {{.T.submit}}. The catalogs live in formbuilder
// with every other text; a test there holds them to the same keys.
var texts = map[string]map[string]string{}

// chatRefusals are the messages the server refuses chat posts with, which
// the chat page and chat.js also show by themselves.
var chatRefusals = []formbuilder.MsgCode{formbuilder.MsgChatGone, formbuilder.MsgChatTooLong,
	formbuilder.MsgChatRefused, formbuilder.MsgChatPending, formbuilder.MsgChatConsentAbsent}

func init() {
	for _, l := range []string{formbuilder.LangEN, formbuilder.LangDE} {
		m := map[string]string{}
		for _, k := range formbuilder.CatalogKeys(l) {
			if name, ok := strings.CutPrefix(k, "widget."); ok {
				m[name] = formbuilder.T(l, k)
			}
		}
		for _, code := range chatRefusals {
			m[string(code)] = formbuilder.T(l, string(code))
		}
		texts[l] = m
	}
}

// chromeLang maps a form's language to one the chrome is written in: "de-AT" and
// "DE" speak German, anything unknown English.
func chromeLang(l string) string { return formbuilder.Lang(l) }

// T returns the chrome text key in lang (de, en; anything else falls back to
// en). Texts with a placeholder such as {label}
// are returned with it, for the caller to fill. An unknown key comes back
// as itself so a gap shows in tests rather than as an empty button.
func T(lang, key string) string {
	if s, ok := texts[chromeLang(lang)][key]; ok {
		return s
	}
	if s, ok := texts[formbuilder.LangEN][key]; ok {
		return s
	}
	return key
}

// fill replaces {name} in s with value.
func fill(s, name, value string) string {
	return strings.ReplaceAll(s, "{"+name+"}", value)
}

// quote puts s in the typographic quotes of lang.
func quote(l, s string) string {
	if l == "de" {
		return "„" + s + "“"
	}
	return "“" + s + "”"
}

// consentCaption names a consent to the visitor: the link part of its label
// when there is one (it is the short noun phrase), else the whole label. The
// admin's internal consent name is never shown.
func consentCaption(l string, c *formbuilder.FormConsent) string {
	if c.Consent == nil || c.Consent.Current == nil {
		return ""
	}
	lb := formbuilder.ParseLabel(c.Consent.Current.Label)
	if lb.Link != "" {
		return quote(l, strings.TrimSpace(lb.Link))
	}
	return quote(l, strings.TrimSpace(lb.String()))
}

// subjectLabel turns a field label into the subject of an error sentence:
// "E-mail:" becomes "E-mail", and a question is quoted so that "is required"
// does not follow a question mark.
func subjectLabel(l, label string) string {
	s := strings.TrimRight(strings.TrimSpace(label), ": ")
	if s == "" {
		return ""
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsPunct(r) {
		return quote(l, s)
	}
	return s
}

// fieldError is the sentence shown for msg on a field labelled label:
// formbuilder's fragments ("is required") get the label as subject, in the
// form's language; whole sentences pass unchanged.
func fieldError(l, label string, msg formbuilder.Msg) string {
	text := strings.TrimSpace(msg.Text(l))
	r, _ := utf8.DecodeRuneInString(text)
	subject := subjectLabel(l, label)
	if subject == "" || !unicode.IsLower(r) {
		return text
	}
	return subject + " " + text
}

// consentError is the sentence shown for an error on a consent box: the two
// refusals of a box get their own wording naming the consent.
func consentError(l string, c *formbuilder.FormConsent, msg formbuilder.Msg) string {
	switch msg.Code {
	case formbuilder.MsgMustAccept, formbuilder.MsgRequired, "":
		return fill(T(l, "consent_required"), "label", consentCaption(l, c))
	case formbuilder.MsgConsentChanged:
		return fill(T(l, "consent_changed"), "label", consentCaption(l, c))
	case formbuilder.MsgTouchImpossible:
		return fill(T(l, "consent_untouched"), "label", consentCaption(l, c))
	}
	return fieldError(l, consentCaption(l, c), msg)
}

// LocalizeErrors returns errs (as from formbuilder.ErrorFieldMsgs) as the
// sentences the form page shows, in the form's language. The web package
// puts the result into the fields of its 422 JSON answer, so that a visitor
// with JavaScript reads the same words as one without.
func LocalizeErrors(f *formbuilder.Form, errs map[string]formbuilder.Msg) map[string]string {
	if len(errs) == 0 {
		return nil
	}
	l := chromeLang(f.Language)
	out := make(map[string]string, len(errs))
	for k, msg := range errs {
		out[k] = errorText(l, f, k, msg)
	}
	return out
}

// errorText localises one entry of an error map by its key.
func errorText(l string, f *formbuilder.Form, key string, msg formbuilder.Msg) string {
	if id, ok := consentKeyID(key); ok {
		for i := range f.Consents {
			if f.Consents[i].ConsentID == id {
				return consentError(l, &f.Consents[i], msg)
			}
		}
	}
	if fd := f.Field(key); fd != nil {
		label := fd.Label
		if label == "" {
			label = fd.Key
		}
		return fieldError(l, label, msg)
	}
	// Keys of no field: the page URL has a name; anything else is shown
	// with its key so the sentence keeps a subject.
	if key == "page_url" {
		return fieldError(l, T(l, "page_url"), msg)
	}
	return fieldError(l, key, msg)
}

// consentKeyID parses "consent.<id>", the key formbuilder uses for consents.
func consentKeyID(key string) (int64, bool) {
	s, ok := strings.CutPrefix(key, "consent.")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}
