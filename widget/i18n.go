package widget

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
)

// texts holds the widget chrome per language. Keys are the same in every
// language; a test holds the tables to that so no visitor sees a raw key.
var texts = map[string]map[string]string{
	"en": {
		"required":               "(required)",
		"submit":                 "Send",
		"sending":                "Sending…",
		"choose":                 "Please choose",
		"form":                   "Form",
		"error":                  "Error",
		"error_prefix":           "Error:",
		"error_summary_title":    "There is a problem",
		"consent_required":       "Please agree to {label} to send the form.",
		"consent_changed":        "The text of {label} has changed since the page was loaded. Please read it again and send the form once more.",
		"consent_untouched":      "The box {label} was sent in another state than it was shown in, so it cannot have been left untouched. Please send the form again.",
		"consent_text_summary":   "Read the consent text",
		"consent_text_hide":      "Hide the consent text",
		"consent_text_link":      "opens in a new tab",
		"field_required":         "{label} is required",
		"thanks_title":           "Thank you",
		"thanks":                 "Thank you. Your message has been sent.",
		"withdraw_intro":         "You can withdraw your consent at any time with effect for the future:",
		"withdraw_link":          "Withdraw consent: {name}",
		"confirm_title":          "Confirm your consent",
		"confirm_question":       "Do you confirm that you gave this consent? It only counts once you do.",
		"confirm_button":         "Confirm consent",
		"confirmed_title":        "Consent confirmed",
		"confirmed":              "Thank you: your consent is confirmed. You can withdraw it at any time.",
		"confirm_expired_title":  "Link expired",
		"confirm_expired":        "The time to confirm this consent has run out, so it never took effect. You can give it again through the form.",
		"confirm_withdrawn":      "This consent was withdrawn; there is nothing to confirm.",
		"mine_title":             "Your consents",
		"mine_intro":             "Enter the e-mail address you gave in our forms. If we have consents for it, we send a link to that address which shows them; it works for one hour.",
		"mine_sent":              "Thank you. If we have consents for this address, a link to them is on its way there. It works for one hour.",
		"mine_email":             "E-mail address",
		"mine_button":            "Send me the link",
		"language_name":          "English",
		"mine_list_title":        "Your consents",
		"mine_list_intro":        "Consents given with {email}, newest first.",
		"mine_none":              "We have no consents for this address.",
		"mine_given":             "Given",
		"mine_version":           "Text",
		"mine_version_n":         "version {n}",
		"mine_source":            "Where",
		"mine_state":             "State",
		"mine_state_given":       "in force",
		"mine_state_withdrawn":   "withdrawn",
		"mine_state_unconfirmed": "waiting for your confirmation (until {time})",
		"mine_state_expired":     "never confirmed, so never in force",
		"mine_state_confirmed":   "confirmed, in force",
		"confirm_sent":           "Please check your e-mail: your consent “{name}” counts only once you confirm it by the link we have sent you.",
		"receipt_intro":          "Keep your receipt: it is signed by us and proves what you agreed to, even to someone who does not take our word for it.",
		"receipt_link":           "Download receipt: {name}",
		"receipt_title":          "Your consent receipt",
		"receipt_explain":        "This signed receipt proves what you agreed to and when. Anyone can check its signature against our published key.",
		"receipt_download":       "Download receipt",
		"withdraw_title":         "Withdraw consent",
		"withdraw_given":         "You gave this consent on {time}.",
		"withdraw_page":          "Given on the page {page}",
		"withdraw_form":          "Given through the form “{title}”",
		"withdraw_question":      "Do you want to withdraw it? Withdrawal takes effect for the future; processing before it remains lawful.",
		"withdraw_button":        "Withdraw consent",
		"withdrawn_title":        "Consent withdrawn",
		"withdrawn":              "Your consent has been withdrawn. Thank you for letting us know.",
		"close":                  "Close",
		"network_error":          "The form could not be sent. Please check your connection and try again.",
		"failed":                 "The form could not be sent. Please try again later.",
		"not_found_title":        "Form not found",
		"not_found":              "This form does not exist. Please check the address.",
		"gone_title":             "Form closed",
		"gone":                   "This form no longer accepts submissions.",
		"error_title":            "Something went wrong",
		"error_message":          "Please try again later.",
		"rate_limited_title":     "Too many attempts",
		"rate_limited":           "Please wait a moment and try again.",
		"honeypot_label":         "Leave this field empty",
		"consent_text_region":    "Consent text",
		"withdraw_consent_label": "Consent",
		"page_url":               "The address of the page",
		"preview_prefix":         "Preview:",
		"preview_banner":         "Preview: this is how visitors see the form. What you send here is checked like a real submission, but nothing is stored, no consent is recorded and nothing is delivered.",
		"preview_done":           "Preview: nothing was stored and no consent was recorded. Visitors see a link here to withdraw each consent they gave.",
		"preview_redirect":       "This form sends visitors to {url} instead, with those links as cf_withdraw parameters.",
	},
	"de": {
		"required":               "(Pflichtfeld)",
		"submit":                 "Absenden",
		"sending":                "Wird gesendet …",
		"choose":                 "Bitte wählen",
		"form":                   "Formular",
		"error":                  "Fehler",
		"error_prefix":           "Fehler:",
		"error_summary_title":    "Bitte prüfen Sie Ihre Angaben",
		"consent_required":       "Bitte stimmen Sie {label} zu, um das Formular zu senden.",
		"consent_changed":        "Der Text von {label} wurde geändert, seit die Seite geladen wurde. Bitte lesen Sie ihn erneut und senden Sie das Formular noch einmal.",
		"consent_untouched":      "Das Kästchen {label} wurde in einem anderen Zustand gesendet, als es angezeigt wurde, kann also nicht unberührt geblieben sein. Bitte senden Sie das Formular erneut.",
		"consent_text_summary":   "Einwilligungstext lesen",
		"consent_text_hide":      "Einwilligungstext ausblenden",
		"consent_text_link":      "öffnet in einem neuen Tab",
		"field_required":         "{label} ist ein Pflichtfeld",
		"thanks_title":           "Vielen Dank",
		"thanks":                 "Vielen Dank. Ihre Nachricht wurde gesendet.",
		"withdraw_intro":         "Sie können Ihre Einwilligung jederzeit mit Wirkung für die Zukunft widerrufen:",
		"withdraw_link":          "Einwilligung widerrufen: {name}",
		"confirm_title":          "Einwilligung bestätigen",
		"confirm_question":       "Bestätigen Sie, dass Sie diese Einwilligung erteilt haben? Sie gilt erst mit Ihrer Bestätigung.",
		"confirm_button":         "Einwilligung bestätigen",
		"confirmed_title":        "Einwilligung bestätigt",
		"confirmed":              "Danke: Ihre Einwilligung ist bestätigt. Sie können sie jederzeit widerrufen.",
		"confirm_expired_title":  "Link abgelaufen",
		"confirm_expired":        "Die Frist zur Bestätigung ist abgelaufen; die Einwilligung ist nie wirksam geworden. Sie können sie über das Formular erneut erteilen.",
		"confirm_withdrawn":      "Diese Einwilligung wurde widerrufen; es gibt nichts zu bestätigen.",
		"mine_title":             "Ihre Einwilligungen",
		"mine_intro":             "Geben Sie die E-Mail-Adresse ein, die Sie in unseren Formularen angegeben haben. Haben wir Einwilligungen dazu, senden wir an diese Adresse einen Link, der sie zeigt; er gilt eine Stunde.",
		"mine_sent":              "Danke. Haben wir Einwilligungen zu dieser Adresse, ist ein Link dorthin unterwegs. Er gilt eine Stunde.",
		"mine_email":             "E-Mail-Adresse",
		"mine_button":            "Link senden",
		"language_name":          "Deutsch",
		"mine_list_title":        "Ihre Einwilligungen",
		"mine_list_intro":        "Mit {email} erteilte Einwilligungen, die neuesten zuerst.",
		"mine_none":              "Zu dieser Adresse haben wir keine Einwilligungen.",
		"mine_given":             "Erteilt",
		"mine_version":           "Text",
		"mine_version_n":         "Fassung {n}",
		"mine_source":            "Wo",
		"mine_state":             "Stand",
		"mine_state_given":       "wirksam",
		"mine_state_withdrawn":   "widerrufen",
		"mine_state_unconfirmed": "wartet auf Ihre Bestätigung (bis {time})",
		"mine_state_expired":     "nie bestätigt, daher nie wirksam",
		"mine_state_confirmed":   "bestätigt, wirksam",
		"confirm_sent":           "Bitte sehen Sie in Ihr E-Mail-Postfach: Ihre Einwilligung „{name}“ gilt erst, wenn Sie sie über den Link bestätigen, den wir Ihnen geschickt haben.",
		"receipt_intro":          "Bewahren Sie Ihren Beleg auf: Er ist von uns signiert und beweist, wozu Sie zugestimmt haben, auch gegenüber Dritten.",
		"receipt_link":           "Beleg herunterladen: {name}",
		"receipt_title":          "Ihr Einwilligungsbeleg",
		"receipt_explain":        "Dieser signierte Beleg beweist, wozu Sie wann zugestimmt haben. Jede und jeder kann die Signatur mit unserem veröffentlichten Schlüssel prüfen.",
		"receipt_download":       "Beleg herunterladen",
		"withdraw_title":         "Einwilligung widerrufen",
		"withdraw_given":         "Sie haben diese Einwilligung am {time} erteilt.",
		"withdraw_page":          "Erteilt auf der Seite {page}",
		"withdraw_form":          "Erteilt über das Formular „{title}“",
		"withdraw_question":      "Möchten Sie sie widerrufen? Der Widerruf wirkt für die Zukunft; die Verarbeitung bis dahin bleibt rechtmäßig.",
		"withdraw_button":        "Einwilligung widerrufen",
		"withdrawn_title":        "Einwilligung widerrufen",
		"withdrawn":              "Ihre Einwilligung wurde widerrufen. Danke für Ihre Nachricht.",
		"close":                  "Schließen",
		"network_error":          "Das Formular konnte nicht gesendet werden. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
		"failed":                 "Das Formular konnte nicht gesendet werden. Bitte versuchen Sie es später erneut.",
		"not_found_title":        "Formular nicht gefunden",
		"not_found":              "Dieses Formular gibt es nicht. Bitte prüfen Sie die Adresse.",
		"gone_title":             "Formular geschlossen",
		"gone":                   "Dieses Formular nimmt keine Eingaben mehr an.",
		"error_title":            "Etwas ist schiefgegangen",
		"error_message":          "Bitte versuchen Sie es später erneut.",
		"rate_limited_title":     "Zu viele Versuche",
		"rate_limited":           "Bitte warten Sie einen Moment und versuchen Sie es erneut.",
		"honeypot_label":         "Dieses Feld bitte leer lassen",
		"consent_text_region":    "Einwilligungstext",
		"withdraw_consent_label": "Einwilligung",
		"page_url":               "Die Adresse der Seite",
		"preview_prefix":         "Vorschau:",
		"preview_banner":         "Vorschau: So sehen Besucher das Formular. Was Sie hier senden, wird wie eine echte Einsendung geprüft, aber nicht gespeichert; es wird keine Einwilligung protokolliert und nichts zugestellt.",
		"preview_done":           "Vorschau: Es wurde nichts gespeichert und keine Einwilligung protokolliert. Besucher sehen hier einen Link, um jede erteilte Einwilligung zu widerrufen.",
		"preview_redirect":       "Dieses Formular leitet Besucher stattdessen zu {url} weiter, mit diesen Links als cf_withdraw-Parameter.",
	},
}

// messagesDE translates the fixed field messages of formbuilder, which are
// English fragments, so a German form does not answer in English.
var messagesDE = map[string]string{
	"is required":                                  "ist ein Pflichtfeld",
	"is not a valid e-mail address":                "ist keine gültige E-Mail-Adresse",
	"is not a valid phone number":                  "ist keine gültige Telefonnummer",
	"is not one of the options":                    "ist keine der Auswahlmöglichkeiten",
	"must be ticked or not":                        "muss angekreuzt oder leer sein",
	"must be a date like 2026-01-31":               "muss ein Datum wie 2026-01-31 sein",
	"is not a valid date":                          "ist kein gültiges Datum",
	"must be a number":                             "muss eine Zahl sein",
	"must be one line":                             "darf nur aus einer Zeile bestehen",
	"takes one value":                              "erlaubt nur einen Wert",
	"has too many values":                          "hat zu viele Werte",
	"is not valid UTF-8":                           "enthält ungültige Zeichen",
	"contains a NUL character":                     "enthält ungültige Zeichen",
	"is not a field of this form":                  "ist kein Feld dieses Formulars",
	"must be an http(s) URL of at most 2048 bytes": "muss eine http(s)-Adresse von höchstens 2048 Bytes sein",
}

// chromeLang maps a form's language to one the chrome is written in: "de-AT" and
// "DE" speak German, anything unknown English.
func chromeLang(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	if _, ok := texts[l]; ok {
		return l
	}
	return "en"
}

// T returns the chrome text key in lang (de, en; anything else falls back to
// en). Texts with a placeholder such as {label} are returned with it, for the
// caller to fill. An unknown key comes back as itself so a gap shows in tests
// rather than as an empty button.
func T(lang, key string) string {
	if s, ok := texts[chromeLang(lang)][key]; ok {
		return s
	}
	if s, ok := texts["en"][key]; ok {
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
// formbuilder's fragments ("is required") get the label as subject and are
// translated; whole sentences pass unchanged.
func fieldError(l, label, msg string) string {
	msg = strings.TrimSpace(msg)
	if l == "de" {
		if de, ok := messagesDE[msg]; ok {
			msg = de
		} else if n, ok := strings.CutPrefix(msg, "is too long (at most "); ok {
			msg = "ist zu lang (höchstens " + strings.TrimSuffix(n, " characters)") + " Zeichen)"
		}
	}
	r, _ := utf8.DecodeRuneInString(msg)
	subject := subjectLabel(l, label)
	if subject == "" || !unicode.IsLower(r) {
		return msg
	}
	return subject + " " + msg
}

// consentError is the sentence shown for an error on a consent box: the two
// messages formbuilder gives get their own wording naming the consent.
func consentError(l string, c *formbuilder.FormConsent, msg string) string {
	switch strings.TrimSpace(msg) {
	case "must be accepted", "is required", "":
		return fill(T(l, "consent_required"), "label", consentCaption(l, c))
	case "has changed since the page was loaded; please read it again":
		return fill(T(l, "consent_changed"), "label", consentCaption(l, c))
	case formbuilder.MsgTouchImpossible:
		return fill(T(l, "consent_untouched"), "label", consentCaption(l, c))
	}
	return fieldError(l, consentCaption(l, c), msg)
}

// LocalizeErrors returns errs (as from formbuilder.ErrorFields) as the
// sentences the form page shows, in the form's language. The web package puts
// the result into the fields of its 422 JSON answer, so that a visitor with
// JavaScript reads the same words as one without.
func LocalizeErrors(f *formbuilder.Form, errs map[string]string) map[string]string {
	if len(errs) == 0 {
		return errs
	}
	l := chromeLang(f.Language)
	out := make(map[string]string, len(errs))
	for k, msg := range errs {
		out[k] = errorText(l, f, k, msg)
	}
	return out
}

// errorText localises one entry of an error map by its key.
func errorText(l string, f *formbuilder.Form, key, msg string) string {
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
