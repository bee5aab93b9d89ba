package widget

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Options configure a Renderer.
type Options struct {
	// BaseURL is the form server's public origin, for example
	// "http://127.0.0.1:8080" (a trailing slash is ignored). Pages use it for
	// absolute asset and post URLs because the same bytes are shown inside
	// iframes on other sites. Empty gives root-relative URLs.
	BaseURL string
}

// Renderer renders the visitor pages. It is safe for concurrent use: the
// templates and assets are built once in New and only read afterwards.
type Renderer struct {
	base   string
	tmpl   *template.Template
	assets []*Asset
	byName map[string]*Asset
	// The hashed asset URLs of the form and the chat pages.
	cssURL, jsURL         string
	chatCSSURL, chatJSURL string
	bufs                  sync.Pool
}

// New parses the embedded templates and builds the static assets. An error
// means a broken build (or a BaseURL that is not an http(s) origin), so
// callers should stop rather than serve half a widget.
func New(opts Options) (*Renderer, error) {
	base := strings.TrimRight(strings.TrimSpace(opts.BaseURL), "/")
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("widget: BaseURL %q is not an http(s) URL without query", opts.BaseURL)
		}
	}
	tmpl, err := template.New("widget").Option("missingkey=error").Funcs(template.FuncMap{"fill": fill}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("widget: parse templates: %w", err)
	}
	r := &Renderer{base: base, tmpl: tmpl, byName: map[string]*Asset{}}
	r.bufs.New = func() any { return new(bytes.Buffer) }
	for _, name := range assetNames {
		src, err := fs.ReadFile(files, "assets/"+name)
		if err != nil {
			return nil, fmt.Errorf("widget: read asset: %w", err)
		}
		a, err := buildAsset(name, src)
		if err != nil {
			return nil, err
		}
		r.assets = append(r.assets, a)
		r.byName[a.Name] = a
		r.byName[a.HashedName] = a
	}
	assetURL := func(name string) string { return base + "/static/" + r.byName[name].HashedName }
	r.cssURL, r.jsURL = assetURL("form.css"), assetURL("form.js")
	r.chatCSSURL, r.chatJSURL = assetURL("chat.css"), assetURL("chat.js")
	return r, nil
}

// Assets returns form.js, form.css, embed.js, chat.js and chat.css,
// minified. The slice is shared; callers must not change it.
func (r *Renderer) Assets() []*Asset { return r.assets }

// Asset returns the asset with the given Name or HashedName.
func (r *Renderer) Asset(name string) (*Asset, bool) {
	a, ok := r.byName[name]
	return a, ok
}

// PageState is what changes between renders of the same form: errors and
// kept values after a failed no-JS post.
type PageState struct {
	// Embed selects the ?embed=1 iframe variant: no page chrome, transparent
	// background, and form.js reports the height to the host page.
	Embed bool
	// Errors maps a field key or "consent.<id>" to a message by code, as
	// from formbuilder.ErrorFieldMsgs; each is shown in the form's language,
	// a fragment ("is required") with the field's label as subject.
	Errors map[string]formbuilder.Msg
	// Values are the visitor's values to keep. Nil means a first render, which
	// shows each field's Default; non-nil means a re-render, which shows only
	// what the visitor sent (so an unticked default box stays unticked).
	Values map[string][]string
	// Consents is the ticked state to keep; nil uses each
	// FormConsent.CheckedByDefault.
	Consents map[int64]bool
	// Interacted keeps, per consent, whether the visitor changed the box on an
	// earlier post of this page, so the evidence survives a re-render.
	Interacted map[int64]bool
	// Renewed lists consents whose text changed since the visitor's page
	// was rendered: their box shows the current version as if for the
	// first time, unticked (an earlier tick agreed to another text), with
	// initial state 0 and not interacted, whatever Consents and
	// Interacted say.
	Renewed map[int64]bool
	// PageURL is the host page's URL, carried in the hidden field _page_url.
	PageURL string
	// Origin is the host page's origin (the loader's origin query parameter),
	// the only target form.js posts messages to. Empty derives it from
	// PageURL; form.js then falls back to its own query parameter. Callers
	// should pass only an origin the form allows.
	Origin string
	// Token is an opaque render token for the hidden field _token.
	Token string
	// Preview marks the page as an admin's preview, where sending stores
	// nothing: a banner says so and the title starts with "Preview:".
	Preview bool
	// Nonce is the CSP nonce put on the page's script and stylesheet tags,
	// for a policy that uses nonces. Pages never contain inline script or
	// style, whether or not it is set.
	Nonce string
}

// WithdrawLink is a link that withdraws one consent just given. Label is
// the consent's checkbox label as plain text (formbuilder.Label.String):
// visitors know a consent by what they ticked, never by its internal name.
type WithdrawLink struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// SuccessState is what a success page shows besides the form's message.
type SuccessState struct {
	// Embed selects the iframe variant.
	Embed bool
	// Withdraws are the withdrawal links of the consents just given; links
	// that are not http(s) URLs are left out.
	Withdraws []WithdrawLink
	// Preview marks the answer to an admin's dry run: the page says that
	// nothing was stored and what visitors get (PreviewNote).
	Preview bool
	// Receipts are the signed receipts of the consents just given, offered
	// for download.
	Receipts []Receipt
	// ToConfirm are the labels of the consents just given that count only
	// once confirmed by the link in a mail (double opt-in).
	ToConfirm []string
}

// WithdrawState is what the withdrawal page of one consent log entry
// shows. It names the consent by its label and says where it was given in
// visitor-facing words; the log's internal consent and form names never
// appear.
type WithdrawState struct {
	// Lang picks the page's language (the version's, usually).
	Lang string
	// Record is the entry; its time is shown.
	Record *formbuilder.ConsentRecord
	// Version is the version the visitor agreed to: its label names the
	// consent and its text is shown. Nil when it cannot be loaded.
	Version *formbuilder.ConsentVersion
	// Page is the URL of the page the consent was given on, if known.
	Page string
	// FormTitle is the public title of the form it was given through,
	// shown when Page is empty.
	FormTitle string
	// CSRF is a token for the hidden field "_csrf", if any; Action is where
	// the confirmation posts.
	CSRF, Action string
	// Done says that the consent is withdrawn; the page only says so.
	Done bool
	// Receipt is the signed receipt of the entry, shown and offered for
	// download; nil for none.
	Receipt *Receipt
}

// page is what every page's head and foot need.
type page struct {
	Lang     string
	T        map[string]string
	DocTitle string
	Embed    bool
	Preview  bool
	Origin   string
	Nonce    string
	CSSURL   string
	JSURL    string
}

type formView struct {
	page
	Action      string
	Heading     string
	Description template.HTML
	Errors      []summaryItem
	Fields      []fieldView
	Consents    []consentView
	PageURL     string
	Token       string
	EmbedValue  string
	Submit      string
}

type summaryItem struct {
	Href string
	Text string
}

type fieldView struct {
	T            map[string]string
	Key          string
	ID           string
	Kind         string // text, textarea, select, group, checkbox, hidden
	InputType    string
	Autocomplete string
	InputMode    string
	Label        string
	Placeholder  string
	Help         string
	HintID       string
	ErrorID      string
	Error        string
	DescribedBy  string
	Required     bool
	RequiredMsg  string
	Value        string
	MaxLength    int
	Checked      bool
	Radio        bool
	Options      []optionView
}

type optionView struct {
	ID       string
	Value    string
	Selected bool
}

type consentView struct {
	T           map[string]string
	ID          int64
	BoxID       string
	TextID      string
	ErrorID     string
	Name        string
	Checked     bool
	Required    bool
	RequiredMsg string
	Before      string
	Link        string
	After       string
	LinkURL     string
	Text        template.HTML
	Error       string
	DescribedBy string
	Initial     string
	Interacted  string
	VersionID   int64
}

type successView struct {
	page
	Title       string
	Message     string
	Withdraws   []WithdrawLink
	Receipts    []receiptView
	ToConfirm   []string
	PreviewNote string
}

type messageView struct {
	page
	Title   string
	Message string
}

type withdrawView struct {
	page
	Caption string
	// Label is the caption split around its link part, which links to
	// LinkURL: the document (or page) the visitor was pointed to.
	Label     formbuilder.Label
	LinkURL   string
	Given     string
	Page      string
	FormTitle string
	Text      template.HTML
	CSRF      string
	Action    string
	Done      bool
	Receipt   *receiptView
}

// newPage fills what every page shares.
func (r *Renderer) newPage(l, title string, embed, js bool) page {
	l = chromeLang(l)
	p := page{Lang: l, T: texts[l], DocTitle: title, Embed: embed, CSSURL: r.cssURL}
	if js {
		p.JSURL = r.jsURL
	}
	return p
}

// FormPage renders the form f as the visitor sees it, in f.Language. It fails
// when a consent of f has no loaded current version: a form whose consent
// text cannot be shown must not be sent.
func (r *Renderer) FormPage(f *formbuilder.Form, st PageState) ([]byte, error) {
	if f == nil {
		return nil, errors.New("widget: nil form")
	}
	l := chromeLang(f.Language)
	title := strings.TrimSpace(f.Title)
	if title == "" {
		title = strings.TrimSpace(f.Name)
	}
	if title == "" {
		title = T(l, "form")
	}
	v := &formView{
		page:       r.newPage(l, title, st.Embed, true),
		Action:     r.base + "/f/" + url.PathEscape(f.Key),
		PageURL:    st.PageURL,
		Token:      st.Token,
		EmbedValue: "0",
		Submit:     strings.TrimSpace(f.SubmitLabel),
	}
	v.Nonce = st.Nonce
	if st.Embed {
		v.EmbedValue = "1"
		v.Origin = hostOrigin(st.Origin, st.PageURL)
	}
	// Inside an iframe the host page usually has its own heading, so the
	// internal form name is not shown there; a title the admin set is.
	if !st.Embed || strings.TrimSpace(f.Title) != "" {
		v.Heading = title
	}
	if f.Description != "" {
		v.Description = template.HTML(formbuilder.Sanitize(f.Description))
	}
	if v.Submit == "" {
		v.Submit = T(l, "submit")
	}
	if st.Preview {
		v.Preview = true
		v.DocTitle = T(l, "preview_prefix") + " " + title
	}
	if len(st.Errors) > 0 {
		v.DocTitle = T(l, "error_prefix") + " " + v.DocTitle
	}
	used := make(map[string]bool, len(st.Errors))
	for i := range f.Fields {
		fv := buildField(l, &f.Fields[i], st)
		if fv.Error != "" {
			used[fv.Key] = true
			v.Errors = append(v.Errors, summaryItem{Href: "#" + fv.ID, Text: fv.Error})
		}
		v.Fields = append(v.Fields, fv)
	}
	for i := range f.Consents {
		fc := &f.Consents[i]
		cv, err := r.buildConsent(l, fc, st)
		if err != nil {
			return nil, err
		}
		if cv.Error != "" {
			used["consent."+strconv.FormatInt(fc.ConsentID, 10)] = true
			v.Errors = append(v.Errors, summaryItem{Href: "#" + cv.BoxID, Text: cv.Error})
		}
		v.Consents = append(v.Consents, cv)
	}
	// Errors about no visible field (page_url, _token, ...) still belong in
	// the summary, or the visitor would see a refusal without a reason.
	if len(used) < len(st.Errors) {
		for _, k := range sortedKeys(st.Errors) {
			if !used[k] {
				v.Errors = append(v.Errors, summaryItem{Text: errorText(l, f, k, st.Errors[k])})
			}
		}
	}
	return r.render("form", v)
}

// ConsentBox renders the box of consent id of f alone, as FormPage renders
// it with st: for the answer to a post whose consent text changed meanwhile
// (with id in st.Renewed), which form.js swaps into the open page.
func (r *Renderer) ConsentBox(f *formbuilder.Form, id int64, st PageState) ([]byte, error) {
	if f == nil {
		return nil, errors.New("widget: nil form")
	}
	l := chromeLang(f.Language)
	for i := range f.Consents {
		if fc := &f.Consents[i]; fc.ConsentID == id {
			cv, err := r.buildConsent(l, fc, st)
			if err != nil {
				return nil, err
			}
			return r.render("consent", cv)
		}
	}
	return nil, fmt.Errorf("widget: consent %d is not on the form", id)
}

// buildField computes everything the template needs for one field, so the
// template itself stays free of logic.
func buildField(l string, f *formbuilder.Field, st PageState) fieldView {
	id := "cf-field-" + f.Key
	fv := fieldView{
		T:           texts[l],
		Key:         f.Key,
		ID:          id,
		Label:       f.Label,
		Placeholder: f.Placeholder,
		Help:        f.Help,
		ErrorID:     "cf-error-" + f.Key,
		Required:    f.Required,
		Kind:        "text",
		InputType:   "text",
	}
	label := f.Label
	if strings.TrimSpace(label) == "" {
		label = f.Key
	}
	if f.Required {
		fv.RequiredMsg = fill(T(l, "field_required"), "label", subjectLabel(l, label))
	}
	if f.Help != "" {
		fv.HintID = "cf-hint-" + f.Key
	}
	if msg, ok := st.Errors[f.Key]; ok && f.Kind != formbuilder.KindHidden {
		fv.Error = fieldError(l, label, msg)
	}
	fv.DescribedBy = joinIDs(fv.HintID, ifStr(fv.Error != "", fv.ErrorID))

	vals := defaultValuesOf(f, st.Values)
	if len(vals) > 0 {
		fv.Value = vals[0]
	}
	switch f.Kind {
	case formbuilder.KindName:
		fv.Autocomplete = "name"
	case formbuilder.KindEmail:
		fv.InputType, fv.Autocomplete = "email", "email"
	case formbuilder.KindPhone:
		fv.InputType, fv.Autocomplete = "tel", "tel"
	case formbuilder.KindDate:
		fv.InputType = "date"
	case formbuilder.KindNumber:
		fv.InputType, fv.InputMode = "number", "decimal"
	case formbuilder.KindTextarea:
		fv.Kind = "textarea"
	case formbuilder.KindHidden:
		fv.Kind = "hidden"
	case formbuilder.KindSelect:
		fv.Kind = "select"
	case formbuilder.KindRadio:
		fv.Kind, fv.Radio = "group", true
	case formbuilder.KindCheckbox:
		if len(f.Options) > 0 {
			fv.Kind = "group"
		} else {
			fv.Kind = "checkbox"
			fv.Checked = len(vals) > 0 && truthy(vals[0])
		}
	}
	if fv.Kind == "text" || fv.Kind == "textarea" {
		if f.Kind != formbuilder.KindDate && f.Kind != formbuilder.KindNumber {
			fv.MaxLength = f.EffectiveMaxLength()
		}
	}
	if f.Kind.HasOptions() {
		for i, o := range f.Options {
			ov := optionView{ID: id + "-" + strconv.Itoa(i), Value: o, Selected: contains(vals, o)}
			fv.Options = append(fv.Options, ov)
		}
		if fv.Kind == "group" && len(fv.Options) > 0 {
			// The summary link must land on something focusable; a
			// fieldset is not, so it points at the first box.
			fv.ID = fv.Options[0].ID
		}
	}
	return fv
}

// defaultValuesOf returns the values field f shows on this render: the kept
// ones on a re-render, else its Default.
func defaultValuesOf(f *formbuilder.Field, kept map[string][]string) []string {
	if kept != nil {
		return kept[f.Key]
	}
	if f.Default == "" {
		return nil
	}
	return []string{f.Default}
}

// buildConsent computes the view of one attached consent. Its label links
// to the version's document (served here, exactly that file), else to its
// link URL, else it opens the text.
func (r *Renderer) buildConsent(l string, fc *formbuilder.FormConsent, st PageState) (consentView, error) {
	if fc.Consent == nil || fc.Consent.Current == nil {
		return consentView{}, fmt.Errorf("widget: consent %d of the form has no loaded version", fc.ConsentID)
	}
	ver := fc.Consent.Current
	sid := strconv.FormatInt(fc.ConsentID, 10)
	checked, initial, interacted := fc.CheckedByDefault, fc.CheckedByDefault, st.Interacted[fc.ConsentID]
	if st.Consents != nil {
		checked = st.Consents[fc.ConsentID]
	}
	if st.Renewed[fc.ConsentID] {
		checked, initial, interacted = false, false, false
	}
	cv := consentView{
		T:           texts[l],
		ID:          fc.ConsentID,
		BoxID:       "cf-consent-" + sid,
		TextID:      "cf-consent-text-" + sid,
		ErrorID:     "cf-consent-error-" + sid,
		Name:        "consent_" + sid,
		Checked:     checked,
		Required:    fc.Required,
		RequiredMsg: consentError(l, fc, formbuilder.Msg{}),
		Initial:     boolStr(initial),
		Interacted:  boolStr(interacted),
		VersionID:   ver.ID,
	}
	// A consent may be only a link (formbuilder allows an empty text with a
	// link URL); then there is no text region to open.
	if text := formbuilder.Sanitize(ver.Text); strings.TrimSpace(formbuilder.StripTags(text)) != "" {
		cv.Text = template.HTML(text)
	}
	lb := formbuilder.ParseLabel(ver.Label)
	cv.Before, cv.Link, cv.After = lb.Before, lb.Link, lb.After
	cv.LinkURL = ver.LinkTarget(r.base)
	if msg, ok := st.Errors["consent."+sid]; ok {
		cv.Error = consentError(l, fc, msg)
	}
	cv.DescribedBy = ifStr(cv.Error != "", cv.ErrorID)
	return cv, nil
}

// SuccessPage renders the thank-you page after a no-JS post: the form's
// success message (or the default thanks) and a withdrawal link per consent.
func (r *Renderer) SuccessPage(f *formbuilder.Form, st SuccessState) ([]byte, error) {
	if f == nil {
		return nil, errors.New("widget: nil form")
	}
	l := chromeLang(f.Language)
	v := &successView{
		page:    r.newPage(l, T(l, "thanks_title"), st.Embed, true),
		Title:   T(l, "thanks_title"),
		Message: strings.TrimSpace(f.SuccessMessage),
	}
	if v.Message == "" {
		v.Message = T(l, "thanks")
	}
	if st.Preview {
		v.Preview = true
		v.DocTitle = T(l, "preview_prefix") + " " + v.DocTitle
		v.PreviewNote = PreviewNote(f)
	}
	for _, w := range st.Withdraws {
		if safeHTTPURL(w.URL) {
			v.Withdraws = append(v.Withdraws, w)
		}
	}
	v.Receipts = receiptViews(st.Receipts)
	v.ToConfirm = st.ToConfirm
	return r.render("success", v)
}

// PreviewNote says, after an admin's dry run of f, that nothing was stored
// and what a visitor gets instead of this: the withdrawal links, or the
// redirect. The JSON answer carries it for form.js.
func PreviewNote(f *formbuilder.Form) string {
	l := chromeLang(f.Language)
	note := T(l, "preview_done")
	if f.RedirectURL != "" {
		note += " " + fill(T(l, "preview_redirect"), "url", f.RedirectURL)
	}
	return note
}

// MessagePage renders a short page for visitors (not found, gone, errors).
// title and message are plain text, typically from T.
func (r *Renderer) MessagePage(lang, title, message string, embed bool) ([]byte, error) {
	v := &messageView{page: r.newPage(lang, title, embed, embed), Title: title, Message: message}
	return r.render("message", v)
}

// WithdrawPage renders the confirmation page of a withdrawal link: which
// consent (by its label), when and where it was given, its text, and a POST
// form to st.Action. With st.Done it only says that the consent is
// withdrawn.
func (r *Renderer) WithdrawPage(st WithdrawState) ([]byte, error) {
	rec := st.Record
	if rec == nil {
		return nil, errors.New("widget: nil consent record")
	}
	l := chromeLang(st.Lang)
	title := T(l, "withdraw_title")
	if st.Done {
		title = T(l, "withdrawn_title")
	}
	v := &withdrawView{
		page:   r.newPage(l, title, false, false),
		CSRF:   st.CSRF,
		Action: st.Action,
		Done:   st.Done,
	}
	if safeHTTPURL(st.Page) {
		v.Page = st.Page
	} else {
		v.FormTitle = strings.TrimSpace(st.FormTitle)
	}
	if !rec.Time.IsZero() {
		v.Given = fill(T(l, "withdraw_given"), "time", formatTime(l, rec.Time))
	}
	if st.Version != nil {
		v.Caption = LabelText(st.Version.Label)
		v.Label = formbuilder.ParseLabel(strings.TrimSpace(st.Version.Label))
		v.LinkURL = st.Version.LinkTarget(r.base)
		v.Text = template.HTML(formbuilder.Sanitize(st.Version.Text))
	}
	if st.Receipt != nil {
		if rv := receiptViews([]Receipt{*st.Receipt}); len(rv) == 1 {
			v.Receipt = &rv[0]
		}
	}
	return r.render("withdraw", v)
}

// LabelText is a consent label as visitors read it: plain text without the
// % markers of its link part. It names a consent wherever a visitor sees
// one outside the form (withdrawal links and pages).
func LabelText(label string) string {
	return strings.TrimSpace(formbuilder.ParseLabel(label).String())
}

// render executes the named template into a pooled buffer and returns a copy,
// so the buffer can be reused while the caller keeps the bytes.
func (r *Renderer) render(name string, data any) ([]byte, error) {
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer r.bufs.Put(buf)
	if err := r.tmpl.ExecuteTemplate(buf, name, data); err != nil {
		return nil, fmt.Errorf("widget: render %s: %w", name, err)
	}
	return bytes.Clone(buf.Bytes()), nil
}

// hostOrigin returns origin if it is an http(s) origin, else the origin of
// pageURL, else "". Reflecting only a normalised origin keeps the attribute
// from carrying anything but scheme://host[:port].
func hostOrigin(origin, pageURL string) string {
	if o, err := formbuilder.NormalizeOrigin(origin); err == nil {
		return o
	}
	u, err := url.Parse(pageURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	o, err := formbuilder.NormalizeOrigin(u.Scheme + "://" + u.Host)
	if err != nil {
		return ""
	}
	return o
}

func safeHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func formatTime(l string, t time.Time) string {
	t = t.UTC()
	if l == "de" {
		return t.Format("02.01.2006, 15:04") + " UTC"
	}
	return t.Format("2 January 2006, 15:04") + " UTC"
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "on", "yes", "true":
		return true
	}
	return false
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func ifStr(c bool, s string) string {
	if c {
		return s
	}
	return ""
}

func joinIDs(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		if id == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(id)
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
