package widget

import (
	"errors"
	"html/template"
	"net/url"
	"strconv"

	"github.com/consentforms/consentforms/formbuilder"
)

// The pages a data subject uses without a form: the confirmation of a
// consent given with double opt-in (/confirm/TOKEN) and the self-service
// pages (/my-consents) that list one's own consents with their receipts and
// withdraw them (GDPR Art. 7(3) and 15).

// ConfirmState is what the confirmation page of one entry shows.
type ConfirmState struct {
	// Lang picks the page's language (the version's, usually).
	Lang string
	// Record is the entry that waits for confirmation; Version its text.
	Record  *formbuilder.ConsentRecord
	Version *formbuilder.ConsentVersion
	// State is the entry's confirmation state (formbuilder.Confirm*), or
	// "withdrawn"; ConfirmPending asks, the others say how it stands.
	State string
	// Action is where the confirmation posts.
	Action string
	// Receipt is the signed receipt of the entry, once confirmed.
	Receipt *Receipt
}

// StateWithdrawn is the ConfirmState and MineEntry state of a withdrawn
// consent.
const StateWithdrawn = "withdrawn"

type confirmView struct {
	page
	Title   string
	Message string
	Caption string
	Given   string
	Text    template.HTML
	Ask     bool
	Action  string
	Receipt *receiptView
}

// ConfirmPage renders the confirmation page: while the consent waits, its
// text and a button (following the link alone confirms nothing, so mail
// scanners cannot); otherwise what became of it.
func (r *Renderer) ConfirmPage(st ConfirmState) ([]byte, error) {
	if st.Record == nil {
		return nil, errors.New("widget: nil consent record")
	}
	l := chromeLang(st.Lang)
	v := &confirmView{Action: st.Action, Ask: st.State == formbuilder.ConfirmPending}
	switch st.State {
	case formbuilder.ConfirmPending:
		v.Title = T(l, "confirm_title")
	case formbuilder.ConfirmDone:
		v.Title, v.Message = T(l, "confirmed_title"), T(l, "confirmed")
	case formbuilder.ConfirmExpired:
		v.Title, v.Message = T(l, "confirm_expired_title"), T(l, "confirm_expired")
	default:
		v.Title, v.Message = T(l, "withdrawn_title"), T(l, "confirm_withdrawn")
	}
	v.page = r.newPage(l, v.Title, false, false)
	if !st.Record.Time.IsZero() {
		v.Given = fill(T(l, "withdraw_given"), "time", formatTime(l, st.Record.Time))
	}
	if st.Version != nil {
		v.Caption = LabelText(st.Version.Label)
		v.Text = template.HTML(formbuilder.Sanitize(st.Version.Text))
	}
	if st.Receipt != nil {
		if rv := receiptViews([]Receipt{*st.Receipt}); len(rv) == 1 {
			v.Receipt = &rv[0]
		}
	}
	return r.render("confirm", v)
}

// MineAskState is what the page that asks for an e-mail address shows.
type MineAskState struct {
	Lang string
	// Action is where the address is posted; Email the address to show
	// in the field again.
	Action, Email string
	// Sent says that an address was posted: the page then says a link is
	// on its way if the address is known, whether or not it is.
	Sent bool
}

type langLink struct {
	Lang, Name, Href string
	Current          bool
}

type mineAskView struct {
	page
	Action string
	Email  string
	Sent   bool
	Langs  []langLink
}

// MineAskPage renders the self-service entry page.
func (r *Renderer) MineAskPage(st MineAskState) ([]byte, error) {
	l := chromeLang(st.Lang)
	v := &mineAskView{page: r.newPage(l, T(l, "mine_title"), false, false), Action: st.Action, Email: st.Email, Sent: st.Sent}
	for _, lang := range formbuilder.Languages {
		v.Langs = append(v.Langs, langLink{Lang: lang, Name: T(lang, "language_name"), Current: lang == l,
			Href: st.Action + "?lang=" + url.QueryEscape(lang)})
	}
	return r.render("mine_ask", v)
}

// MineEntry is one consent given, as the self-service list shows it.
type MineEntry struct {
	Record  *formbuilder.ConsentRecord
	Version *formbuilder.ConsentVersion
	// Source is where it was given, in the visitor's words: the page URL
	// or the form's title.
	Source string
	// State is "" (given), StateWithdrawn or a confirmation state.
	State string
	// Receipt is the entry's signed receipt; nil when none could be made.
	Receipt *Receipt
}

// MineListState is what the list of one's own consents shows.
type MineListState struct {
	Lang  string
	Email string
	// Action is where the withdraw buttons post (the signed page itself).
	Action  string
	Entries []MineEntry
}

type mineEntryView struct {
	ID      int64
	Label   string
	Given   string
	Version string
	Source  string
	State   string
	Text    template.HTML
	Receipt *receiptView
	Active  bool
}

type mineListView struct {
	page
	Email   string
	Action  string
	Entries []mineEntryView
}

// MineListPage renders one's own consents, newest first: each with its
// text version, time, source, state and receipt, and a withdraw button
// for each that is still in force.
func (r *Renderer) MineListPage(st MineListState) ([]byte, error) {
	l := chromeLang(st.Lang)
	v := &mineListView{page: r.newPage(l, T(l, "mine_list_title"), false, false), Email: st.Email, Action: st.Action}
	for _, e := range st.Entries {
		rec := e.Record
		ev := mineEntryView{ID: rec.ID, Given: formatTime(l, rec.Time), Source: e.Source,
			Version: fill(T(l, "mine_version_n"), "n", strconv.Itoa(rec.VersionNo))}
		if e.Version != nil {
			ev.Label = LabelText(e.Version.Label)
			ev.Text = template.HTML(formbuilder.Sanitize(e.Version.Text))
		}
		switch e.State {
		case StateWithdrawn:
			ev.State = T(l, "mine_state_withdrawn")
		case formbuilder.ConfirmPending:
			ev.State, ev.Active = fill(T(l, "mine_state_unconfirmed"), "time", formatTime(l, rec.ConfirmBy)), true
		case formbuilder.ConfirmExpired:
			ev.State = T(l, "mine_state_expired")
		case formbuilder.ConfirmDone:
			ev.State, ev.Active = T(l, "mine_state_confirmed"), true
		default:
			ev.State, ev.Active = T(l, "mine_state_given"), true
		}
		if e.Receipt != nil {
			if rv := receiptViews([]Receipt{*e.Receipt}); len(rv) == 1 {
				ev.Receipt = &rv[0]
			}
		}
		v.Entries = append(v.Entries, ev)
	}
	return r.render("mine_list", v)
}
