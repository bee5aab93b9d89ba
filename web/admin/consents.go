package admin

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// consentInput is the consent editor as typed.
type consentInput struct {
	Name, Type, Text, Label, LinkURL, Language string
	// ConfirmByEmail asks visitors for double opt-in.
	ConfirmByEmail bool
	// Document is the document the version links to, kept from the
	// current version (the hidden document_keep names it by hash) unless
	// DocRemove; Upload is a file chosen to replace it, and UploadErr why
	// it cannot be. A browser cannot be handed a file back, so a page shown
	// again after an error shows the kept document, not the upload.
	Document  *formbuilder.Document
	DocRemove bool
	Upload    *formbuilder.Document
	UploadErr formbuilder.Msg
}

func consentInputOf(co *formbuilder.Consent) consentInput {
	in := consentInput{Name: co.Name, Type: string(co.Type), ConfirmByEmail: co.ConfirmByEmail}
	if v := co.Current; v != nil {
		in.Text, in.Label, in.LinkURL, in.Language, in.Document = v.Text, v.Label, v.LinkURL, v.Language, v.Document
	}
	return in
}

// parseConsentInput reads the editor's post, a multipart form (for the
// document) or, from older pages and scripts, a url-encoded one. cur is
// the consent's current version (nil for a new consent): the document the
// post keeps is shown with its name from there.
func parseConsentInput(c *fiber.Ctx, cur *formbuilder.ConsentVersion) (consentInput, error) {
	in := consentInput{
		Name:      strings.TrimSpace(c.FormValue("name")),
		Type:      c.FormValue("type"),
		Text:      strings.TrimSpace(c.FormValue("text")),
		Label:     strings.TrimSpace(c.FormValue("label")),
		LinkURL:   strings.TrimSpace(c.FormValue("link_url")),
		Language:  c.FormValue("language"),
		DocRemove: c.FormValue("document_remove") == "1",
		// A checkbox: absent when unticked.
		ConfirmByEmail: c.FormValue("confirm_by_email") == "1",
	}
	if keep := c.FormValue("document_keep"); keep != "" {
		in.Document = &formbuilder.Document{SHA256: keep}
		if cur != nil && cur.Document != nil && cur.Document.SHA256 == keep {
			in.Document = cur.Document
		}
	}
	mf, err := httpx.Multipart(c)
	if err != nil {
		return in, err
	}
	in.Upload, err = httpx.UploadedDocument(mf, "document")
	if fs := formbuilder.ErrorFieldMsgs(err); fs != nil {
		in.UploadErr, err = fs["document"], nil
	}
	return in, err
}

// document is the document the saved version links to: the upload, else
// the kept one unless removed.
func (in *consentInput) document() *formbuilder.Document {
	switch {
	case in.Upload != nil:
		return in.Upload
	case in.DocRemove || in.Document == nil:
		return nil
	}
	return &formbuilder.Document{SHA256: in.Document.SHA256}
}

// content builds the consent and its sanitised content from the input.
// Standard consents take text and label from the built-in template filled
// with the company data; the admin chooses only name, language and link.
// It returns what the sanitiser removed and the input errors by input id.
func (s *Server) consentContent(in *consentInput) (*formbuilder.Consent, formbuilder.ConsentContent, []string, map[string]formbuilder.Msg) {
	co := &formbuilder.Consent{Name: in.Name, Type: formbuilder.ConsentType(in.Type), ConfirmByEmail: in.ConfirmByEmail}
	content := formbuilder.ConsentContent{Text: in.Text, Label: in.Label, LinkURL: in.LinkURL, Language: in.Language,
		Document: in.document()}
	errs := map[string]formbuilder.Msg{}
	if co.Type == formbuilder.ConsentStandard {
		company := s.Settings.Load().Company
		if company.Validate() != nil {
			errs["type"] = formbuilder.M(formbuilder.MsgNeedsCompany)
		} else if formbuilder.ValidLanguage(in.Language) {
			content = formbuilder.StandardContent(in.Language, company)
			content.LinkURL, content.Document = in.LinkURL, in.document()
			in.Text, in.Label = content.Text, content.Label
		}
	}
	removed := content.Sanitize()
	for k, m := range formbuilder.ErrorFieldMsgs(co.Validate()) {
		errs[inputID(k)] = m
	}
	for k, m := range formbuilder.ErrorFieldMsgs(content.Validate()) {
		errs[inputID(k)] = m
	}
	if !in.UploadErr.IsZero() {
		errs["document"] = in.UploadErr
	}
	return co, content, removed, errs
}

// uploadLost tells the admin, when the page comes back with errors, that
// a good file they chose was not saved and must be chosen again.
func uploadLost(in *consentInput, errs map[string]formbuilder.Msg) {
	if in.Upload != nil && errs["document"].IsZero() {
		errs["document"] = formbuilder.M(formbuilder.MsgUploadLost, "name", in.Upload.Name)
	}
}

// consentEditView is the data of the consent editor.
type consentEditView struct {
	Consent *formbuilder.Consent // nil on the new-consent page
	In      consentInput
	Forms   []*formbuilder.Form // forms that attach the consent
	// CompanyOK says whether standard consents can be made.
	CompanyOK bool
	// Outdated says that the consent is standard and the company data
	// changed since its current version was made.
	Outdated bool
}

func (s *Server) consentView(co *formbuilder.Consent, in consentInput, forms []*formbuilder.Form) *consentEditView {
	company := s.Settings.Load().Company
	v := &consentEditView{Consent: co, In: in, Forms: forms, CompanyOK: company.Validate() == nil}
	v.Outdated = co != nil && co.StandardOutdated(company)
	return v
}

// consentRow is a line of the consent list.
type consentRow struct {
	*formbuilder.Consent
	Outdated bool
}

func (s *Server) handleConsentList(c *fiber.Ctx) error {
	list, err := s.svc.Consents.ListConsents(c.UserContext())
	if err != nil {
		return err
	}
	company := s.Settings.Load().Company
	rows := make([]consentRow, 0, len(list))
	for _, co := range list {
		rows = append(rows, consentRow{Consent: co, Outdated: co.StandardOutdated(company)})
	}
	return s.render(c, fiber.StatusOK, "consents", &view{Title: s.tr(c, "consents.title"), Nav: "consents", Data: rows})
}

// handleConsentUpdateStandard makes the new version of a standard consent
// from the template and the current company data, keeping its name,
// language and link URL: the one action for a consent shown as outdated.
func (s *Server) handleConsentUpdateStandard(c *fiber.Ctx) error {
	co, err := s.adminConsent(c)
	if err != nil {
		return err
	}
	if co.Type != formbuilder.ConsentStandard || co.Current == nil {
		return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgOnlyStandard)
	}
	company := s.Settings.Load().Company
	if company.Validate() != nil {
		return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgCompanyIncomplete)
	}
	content := formbuilder.StandardContent(co.Current.Language, company)
	content.LinkURL = co.Current.LinkURL
	if d := co.Current.Document; d != nil {
		content.Document = &formbuilder.Document{SHA256: d.SHA256}
	}
	saved, err := s.svc.Consents.UpdateConsent(c.UserContext(), &formbuilder.Consent{ID: co.ID, Name: co.Name, Type: co.Type,
		ConfirmByEmail: co.ConfirmByEmail}, content, currentAdmin(c).user.Email)
	if err != nil {
		return err
	}
	s.pages.InvalidateAll()
	backoffice.NoteConsent(c, "update_standard", saved, co.Current.Number)
	msg := "consent-unchanged"
	if saved.Current != nil && saved.Current.Number > co.Current.Number {
		msg = "consent-version"
	}
	return c.Redirect(consentURL(co.ID, msg, nil), fiber.StatusSeeOther)
}

func (s *Server) handleConsentNew(c *fiber.Ctx) error {
	in := consentInput{Type: string(formbuilder.ConsentCustom), Language: "en"}
	if l := c.Query("language"); formbuilder.ValidLanguage(l) {
		in.Language = l
	}
	if c.Query("type") == string(formbuilder.ConsentStandard) {
		in.Type = string(formbuilder.ConsentStandard)
		if company := s.Settings.Load().Company; company.Validate() == nil {
			std := formbuilder.StandardContent(in.Language, company)
			in.Text, in.Label = std.Text, std.Label
		}
	}
	return s.render(c, fiber.StatusOK, "consent_edit", &view{Title: s.tr(c, "consent.new_title"), Nav: "consents",
		Data: s.consentView(nil, in, nil)})
}

// fillFromTemplate handles the "Start from the standard template" button:
// it puts the filled template into the editor as custom text, saving nothing.
func (s *Server) fillFromTemplate(c *fiber.Ctx, co *formbuilder.Consent, in consentInput, forms []*formbuilder.Form) error {
	v := &view{Title: s.tr(c, "consent.new_title"), Nav: "consents"}
	if co != nil {
		v.Title = co.Name
	}
	company := s.Settings.Load().Company
	if company.Validate() != nil {
		v.Errors = map[string]formbuilder.Msg{"type": formbuilder.M(formbuilder.MsgNeedsCompany)}
	} else {
		lang := in.Language
		if !formbuilder.ValidLanguage(lang) {
			lang = "en"
		}
		std := formbuilder.StandardContent(lang, company)
		in.Text, in.Label, in.Language = std.Text, std.Label, lang
		v.Notice = s.tr(c, "notice.template_filled")
	}
	v.Data = s.consentView(co, in, forms)
	return s.render(c, fiber.StatusOK, "consent_edit", v)
}

func (s *Server) handleConsentCreate(c *fiber.Ctx) error {
	in, err := parseConsentInput(c, nil)
	if err != nil {
		return err
	}
	if c.FormValue("fill") == "1" {
		backoffice.Unchanged(c)
		return s.fillFromTemplate(c, nil, in, nil)
	}
	co, content, removed, errs := s.consentContent(&in)
	if len(errs) == 0 {
		err := s.svc.Consents.CreateConsent(c.UserContext(), co, content, currentAdmin(c).user.Email)
		if err != nil {
			if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
				return err
			}
			errs = fieldErrorsFor(err, "", "")
		}
	}
	if len(errs) > 0 {
		uploadLost(&in, errs)
		return s.render(c, fiber.StatusUnprocessableEntity, "consent_edit", &view{Title: s.tr(c, "consent.new_title"),
			Nav: "consents", Errors: errs, Removed: removed, Data: s.consentView(nil, in, nil)})
	}
	s.pages.InvalidateAll()
	backoffice.NoteConsent(c, "create", co, 0)
	return c.Redirect(consentURL(co.ID, "consent-created", removed), fiber.StatusSeeOther)
}

func consentURL(id int64, msg string, removed []string) string {
	q := url.Values{}
	if msg != "" {
		q.Set("msg", msg)
	}
	for _, r := range removed {
		q.Add("removed", r)
	}
	u := "/admin/consents/" + strconv.FormatInt(id, 10)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// adminConsent returns the consent of the :id parameter.
func (s *Server) adminConsent(c *fiber.Ctx) (*formbuilder.Consent, error) {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return nil, err
	}
	co, err := s.svc.Consents.FindConsentByID(c.UserContext(), id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgConsentMissing)
	}
	return co, err
}

// formsUsing lists the forms (archived too) that attach consent id, so the
// editor can say which forms an edit affects.
func (s *Server) formsUsing(c *fiber.Ctx, id int64) ([]*formbuilder.Form, error) {
	all, err := s.svc.Forms.ListForms(c.UserContext(), formbuilder.FormFilter{IncludeArchived: true})
	if err != nil {
		return nil, err
	}
	var out []*formbuilder.Form
	for _, f := range all {
		for _, fc := range f.Consents {
			if fc.ConsentID == id {
				out = append(out, f)
				break
			}
		}
	}
	return out, nil
}

func (s *Server) handleConsentEdit(c *fiber.Ctx) error {
	co, err := s.adminConsent(c)
	if err != nil {
		return err
	}
	forms, err := s.formsUsing(c, co.ID)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "consent_edit", &view{Title: co.Name, Nav: "consents",
		Data: s.consentView(co, consentInputOf(co), forms)})
}

func (s *Server) handleConsentSave(c *fiber.Ctx) error {
	old, err := s.adminConsent(c)
	if err != nil {
		return err
	}
	forms, err := s.formsUsing(c, old.ID)
	if err != nil {
		return err
	}
	in, err := parseConsentInput(c, old.Current)
	if err != nil {
		return err
	}
	if c.FormValue("fill") == "1" {
		backoffice.Unchanged(c)
		return s.fillFromTemplate(c, old, in, forms)
	}
	co, content, removed, errs := s.consentContent(&in)
	co.ID = old.ID
	var saved *formbuilder.Consent
	if len(errs) == 0 {
		saved, err = s.svc.Consents.UpdateConsent(c.UserContext(), co, content, currentAdmin(c).user.Email)
		if err != nil {
			if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
				return err
			}
			errs = fieldErrorsFor(err, "", "")
		}
	}
	if len(errs) > 0 {
		uploadLost(&in, errs)
		return s.render(c, fiber.StatusUnprocessableEntity, "consent_edit", &view{Title: old.Name,
			Nav: "consents", Errors: errs, Removed: removed, Data: s.consentView(old, in, forms)})
	}
	// A new version changes every form that attaches the consent.
	s.pages.InvalidateAll()
	msg := "consent-unchanged"
	if saved != nil && saved.Current != nil && old.Current != nil && saved.Current.Number > old.Current.Number {
		msg = "consent-version"
	}
	oldVersion := 0
	if old.Current != nil {
		oldVersion = old.Current.Number
	}
	backoffice.NoteConsent(c, "update", saved, oldVersion)
	return c.Redirect(consentURL(old.ID, msg, removed), fiber.StatusSeeOther)
}

// versionsView is the data of the version history.
type versionsView struct {
	Consent   *formbuilder.Consent
	Versions  []*formbuilder.ConsentVersion
	CurrentID int64
}

func (s *Server) handleConsentVersions(c *fiber.Ctx) error {
	co, err := s.adminConsent(c)
	if err != nil {
		return err
	}
	vs, err := s.svc.Consents.ListConsentVersions(c.UserContext(), co.ID)
	if err != nil {
		return err
	}
	vv := &versionsView{Consent: co, Versions: vs}
	if co.Current != nil {
		vv.CurrentID = co.Current.ID
	}
	return s.render(c, fiber.StatusOK, "consent_versions", &view{Title: s.tr(c, "versions.title", "consent", co.Name), Nav: "consents",
		Data: vv})
}

// handleConsentPreview answers the editor's live preview (admin.js sends
// the text with the X-CSRF-Token header) with an HTML fragment: admin
// pages never answer JSON.
func (s *Server) handleConsentPreview(c *fiber.Ctx) error {
	text := c.FormValue("text")
	if len(text) > formbuilder.MaxConsentTextBytes {
		return formbuilder.NewError(formbuilder.ETOOLARGE, formbuilder.MsgTextTooLong)
	}
	// A preview of unsaved text changes nothing.
	backoffice.Unchanged(c)
	clean, removed := formbuilder.SanitizeReport(text)
	// A fragment of its own (consent_preview.html), without head and foot;
	// its text passes the one sanitising policy again in the template.
	if err := c.Render("consent_preview", map[string]any{"Text": clean, "Removed": removed, "Lang": s.lang(c)}); err != nil {
		return formbuilder.Internal(err)
	}
	return nil
}
