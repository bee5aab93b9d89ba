package widget

import (
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

const testBase = "http://127.0.0.1:8080"

// fixtureForm has every field kind and two consents: one required and
// pre-ticked with a link to its text, one optional and unticked whose label
// links to a URL.
func fixtureForm(lang string) *formbuilder.Form {
	de := lang == "de"
	pick := func(en, d string) string {
		if de {
			return d
		}
		return en
	}
	privacy := &formbuilder.Consent{
		ID: 3, Name: "Privacy", Type: formbuilder.ConsentCustom,
		Current: &formbuilder.ConsentVersion{
			ID: 31, ConsentID: 3, Number: 2, Language: lang,
			Label: pick("I agree to the %processing of my personal data%.", "Ich stimme der %Verarbeitung meiner personenbezogenen Daten% zu."),
			Text: pick(`<p>We process your data to answer you. <a href="https://example.com/privacy" rel="nofollow noopener" target="_blank">Privacy policy</a></p>`,
				`<p>Wir verarbeiten Ihre Daten, um Ihnen zu antworten. <a href="https://example.com/datenschutz" rel="nofollow noopener" target="_blank">Datenschutz</a></p>`),
		},
	}
	news := &formbuilder.Consent{
		ID: 7, Name: "Newsletter", Type: formbuilder.ConsentCustom,
		Current: &formbuilder.ConsentVersion{
			ID: 71, ConsentID: 7, Number: 1, Language: lang,
			Label:   pick("Send me the %newsletter% (100%% free).", "Senden Sie mir den %Newsletter% (100%% kostenlos)."),
			Text:    pick("<p>Monthly news. Unsubscribe at any time.</p>", "<p>Monatliche Neuigkeiten. Jederzeit abbestellbar.</p>"),
			LinkURL: "https://example.com/newsletter",
		},
	}
	return &formbuilder.Form{
		ID: 1, Key: "abcdefghjkmnpqrs", Name: "Contact", Language: lang,
		Title:       pick("Contact us", "Kontakt"),
		Description: pick("<p>We answer <strong>within a day</strong>.</p>", "<p>Wir antworten <strong>innerhalb eines Tages</strong>.</p>"),
		Fields: []formbuilder.Field{
			{Key: "name", Label: pick("Name", "Name"), Kind: formbuilder.KindName, Required: true, Placeholder: "Ada Lovelace"},
			{Key: "email", Label: pick("E-mail", "E-Mail"), Kind: formbuilder.KindEmail, Required: true, Help: pick("We only use it to answer you.", "Nur für unsere Antwort.")},
			{Key: "phone", Label: pick("Phone", "Telefon"), Kind: formbuilder.KindPhone},
			{Key: "company", Label: pick("Company", "Firma"), Kind: formbuilder.KindText, Default: "ACME", MaxLength: 80},
			{Key: "message", Label: pick("Your message", "Ihre Nachricht"), Kind: formbuilder.KindTextarea, Required: true, Placeholder: pick("How can we help?", "Wie können wir helfen?")},
			{Key: "topic", Label: pick("Topic", "Thema"), Kind: formbuilder.KindSelect, Options: []string{"Sales", "Support"}, Default: "Support"},
			{Key: "contact_pref", Label: pick("How should we reply?", "Wie sollen wir antworten?"), Kind: formbuilder.KindRadio, Required: true, Options: []string{"E-mail", "Phone"}},
			{Key: "interests", Label: pick("Interests", "Interessen"), Kind: formbuilder.KindCheckbox, Required: true, Options: []string{"Forms", "Chat"}, Help: pick("Pick at least one.", "Mindestens eine Auswahl.")},
			{Key: "callback", Label: pick("Call me back", "Rückruf erwünscht"), Kind: formbuilder.KindCheckbox, Default: "yes"},
			{Key: "date", Label: pick("Preferred date", "Wunschtermin"), Kind: formbuilder.KindDate},
			{Key: "seats", Label: pick("Seats", "Plätze"), Kind: formbuilder.KindNumber},
			{Key: "campaign", Kind: formbuilder.KindHidden, Default: "spring"},
		},
		Consents: []formbuilder.FormConsent{
			{ConsentID: 3, CheckedByDefault: true, Required: true, Consent: privacy},
			{ConsentID: 7, CheckedByDefault: false, Required: false, Consent: news},
		},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// errorState is a re-render after a failed no-JS post.
func errorState() PageState {
	return PageState{
		Errors: map[string]formbuilder.Msg{
			"email":        formbuilder.M(formbuilder.MsgInvalidEmail),
			"contact_pref": formbuilder.M(formbuilder.MsgRequired),
			"interests":    formbuilder.M(formbuilder.MsgRequired),
			"consent.3":    formbuilder.M(formbuilder.MsgMustAccept),
			"page_url":     formbuilder.M(formbuilder.MsgPageURL),
		},
		Values: map[string][]string{
			"name": {"Ada <b>Lovelace</b>"}, "email": {"ada@"}, "message": {"Hello\nworld"},
			"topic": {"Sales"}, "campaign": {"spring"},
		},
		Consents:   map[int64]bool{3: false, 7: true},
		Interacted: map[int64]bool{3: true},
		PageURL:    "https://shop.example.com/contact?x=1",
		Token:      "tok.123",
	}
}
