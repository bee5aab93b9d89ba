package admin

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// formInput is the settings part of the form editor as the admin typed it,
// so a page re-rendered after an error shows exactly what was sent.
type formInput struct {
	Name, Title, Language, Description string
	SubmitLabel, SuccessMessage        string
	RedirectURL, AllowedOrigins        string
	RetentionDays                      string
	ResponsibleUserID                  int64
	Version                            int
}

func formInputOf(f *formbuilder.Form) formInput {
	in := formInput{
		Name: f.Name, Title: f.Title, Language: f.Language, Description: f.Description,
		SubmitLabel: f.SubmitLabel, SuccessMessage: f.SuccessMessage, RedirectURL: f.RedirectURL,
		AllowedOrigins: strings.Join(f.AllowedOrigins, "\n"), ResponsibleUserID: f.ResponsibleUserID,
		Version: f.Version,
	}
	if f.RetentionDays > 0 {
		in.RetentionDays = strconv.Itoa(f.RetentionDays)
	}
	return in
}

func parseFormInput(c *fiber.Ctx) formInput {
	in := formInput{
		Name:           strings.TrimSpace(c.FormValue("name")),
		Title:          strings.TrimSpace(c.FormValue("title")),
		Language:       c.FormValue("language"),
		Description:    c.FormValue("description"),
		SubmitLabel:    strings.TrimSpace(c.FormValue("submit_label")),
		SuccessMessage: strings.TrimSpace(c.FormValue("success_message")),
		RedirectURL:    strings.TrimSpace(c.FormValue("redirect_url")),
		AllowedOrigins: c.FormValue("allowed_origins"),
		RetentionDays:  strings.TrimSpace(c.FormValue("retention_days")),
	}
	in.ResponsibleUserID, _ = strconv.ParseInt(c.FormValue("responsible_user_id"), 10, 64)
	in.Version, _ = strconv.Atoi(c.FormValue("version"))
	return in
}

// splitLines returns the non-empty, trimmed lines of a textarea.
func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// apply copies the settings into f and returns what could not even be
// parsed; the domain validation runs afterwards. It returns what the
// sanitiser removed from the description.
func (in formInput) apply(f *formbuilder.Form) (map[string]formbuilder.Msg, []string) {
	errs := map[string]formbuilder.Msg{}
	f.Name, f.Title, f.Language = in.Name, in.Title, in.Language
	f.SubmitLabel, f.SuccessMessage, f.RedirectURL = in.SubmitLabel, in.SuccessMessage, in.RedirectURL
	f.ResponsibleUserID = in.ResponsibleUserID
	var removed []string
	f.Description, removed = formbuilder.SanitizeReport(strings.TrimSpace(in.Description))
	f.AllowedOrigins = []string{}
	for _, o := range splitLines(in.AllowedOrigins) {
		// Store the canonical form (what browsers send in Origin); invalid
		// entries stay as typed so validation can name their line.
		if n, err := formbuilder.NormalizeOrigin(o); err == nil {
			o = n
		}
		f.AllowedOrigins = append(f.AllowedOrigins, o)
	}
	f.RetentionDays = 0
	if in.RetentionDays != "" {
		n, err := strconv.Atoi(in.RetentionDays)
		if err != nil {
			errs["retention_days"] = formbuilder.M(formbuilder.MsgRetentionDays)
		} else {
			f.RetentionDays = n
		}
	}
	return errs, removed
}

// formListView is the data of the forms list.
type formListView struct {
	Forms    []*formbuilder.Form
	Archived bool
}

func (s *Server) handleFormList(c *fiber.Ctx) error {
	archived := c.Query("archived") == "1"
	forms, err := s.svc.Forms.ListForms(c.UserContext(), formbuilder.FormFilter{IncludeArchived: archived})
	if err != nil {
		return err
	}
	// Operators see the forms they are responsible for, to reach their inbox.
	return s.render(c, fiber.StatusOK, "forms", &view{Title: s.tr(c, "forms.title"), Nav: "forms",
		Data: &formListView{Forms: backoffice.VisibleForms(c, forms), Archived: archived}})
}

// formEditView is the data of the form editor (and of the new-form page).
type formEditView struct {
	Form     *formbuilder.Form
	In       formInput
	Users    []*formbuilder.User
	Attach   []*formbuilder.Consent // consents that can still be attached
	NewField fieldInput
	IsNew    bool
}

func (s *Server) handleFormNew(c *fiber.Ctx) error {
	users, err := s.svc.Users.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	in := formInput{Language: "en", ResponsibleUserID: currentAdmin(c).user.ID}
	return s.render(c, fiber.StatusOK, "form_new", &view{Title: s.tr(c, "form.new_title"), Nav: "forms",
		Data: &formEditView{In: in, Users: users, IsNew: true}})
}

func (s *Server) handleFormCreate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	in := parseFormInput(c)
	f := &formbuilder.Form{Fields: []formbuilder.Field{}, Consents: []formbuilder.FormConsent{}}
	errs, removed := in.apply(f)
	err := s.checkResponsible(ctx, f, errs)
	if err != nil {
		return err
	}
	mergeErrors(errs, f.Validate())
	if len(errs) == 0 {
		err = s.svc.Forms.CreateForm(ctx, f)
		if err != nil && formbuilder.ErrorCode(err) != formbuilder.EINVALID {
			return err
		}
		mergeErrors(errs, err)
	}
	if len(errs) > 0 {
		users, uerr := s.svc.Users.ListUsers(ctx)
		if uerr != nil {
			return uerr
		}
		return s.render(c, fiber.StatusUnprocessableEntity, "form_new", &view{Title: s.tr(c, "form.new_title"), Nav: "forms",
			Errors: errs, Data: &formEditView{In: in, Users: users, IsNew: true}})
	}
	s.pages.Invalidate(f.Key)
	backoffice.NoteForm(c, formbuilder.AuditForm, "create", f, 0, "responsible_user_id", strconv.FormatInt(f.ResponsibleUserID, 10))
	return c.Redirect(formURL(f.ID, "created", removed, ""), fiber.StatusSeeOther)
}

// mergeErrors adds the field errors of a domain error to errs, keyed by
// input id; messages already there (parse errors) win.
func mergeErrors(errs map[string]formbuilder.Msg, err error) {
	for k, m := range fieldErrorsFor(err, "", "") {
		if errs[k].IsZero() {
			errs[k] = m
		}
	}
}

// checkResponsible refuses a responsible user that does not exist, with a
// message next to the select rather than a storage error.
func (s *Server) checkResponsible(ctx context.Context, f *formbuilder.Form, errs map[string]formbuilder.Msg) error {
	if f.ResponsibleUserID == 0 {
		f.ResponsibleUser = ""
		return nil
	}
	u, err := s.svc.Users.FindUserByID(ctx, f.ResponsibleUserID)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		errs["responsible_user_id"] = formbuilder.M(formbuilder.MsgUnknownUser)
		return nil
	}
	if err != nil {
		return err
	}
	f.ResponsibleUser = u.DisplayName()
	return nil
}

// formURL is the form editor's address with a confirmation and, after a
// save that sanitised HTML, the list of what was removed.
func formURL(id int64, msg string, removed []string, anchor string) string {
	q := url.Values{}
	if msg != "" {
		q.Set("msg", msg)
	}
	for _, r := range removed {
		q.Add("removed", r)
	}
	u := "/admin/forms/" + strconv.FormatInt(id, 10)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	if anchor != "" {
		u += "#" + anchor
	}
	return u
}

// loadForm returns the form of the :id parameter.
func (s *Server) adminForm(c *fiber.Ctx) (*formbuilder.Form, error) {
	id, err := backoffice.ParamID(c, "id")
	if err != nil {
		return nil, err
	}
	f, err := s.svc.Forms.FindFormByID(c.UserContext(), id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgFormMissing)
	}
	return f, err
}

// stale reports whether the post was made from a page of an older version.
func stale(c *fiber.Ctx, f *formbuilder.Form) bool {
	v := c.FormValue("version")
	return v != "" && v != strconv.Itoa(f.Version)
}

// renderFormEdit shows the form editor for f, with in as the settings
// inputs (nil: from f) and nf as the add-field inputs.
func (s *Server) renderFormEdit(c *fiber.Ctx, status int, f *formbuilder.Form, in *formInput, nf *fieldInput, v *view) error {
	ctx := c.UserContext()
	users, err := s.svc.Users.ListUsers(ctx)
	if err != nil {
		return err
	}
	all, err := s.svc.Consents.ListConsents(ctx)
	if err != nil {
		return err
	}
	attached := map[int64]bool{}
	for _, fc := range f.Consents {
		attached[fc.ConsentID] = true
	}
	ev := &formEditView{Form: f, Users: users}
	for _, co := range all {
		if !attached[co.ID] {
			ev.Attach = append(ev.Attach, co)
		}
	}
	if in != nil {
		ev.In = *in
	} else {
		ev.In = formInputOf(f)
	}
	ev.In.Version = f.Version
	if nf != nil {
		ev.NewField = *nf
	} else {
		ev.NewField = fieldInput{Kind: string(formbuilder.KindText)}
	}
	if v == nil {
		v = &view{}
	}
	v.Title, v.Nav, v.Data = f.Name, "forms", ev
	return s.render(c, status, "form_edit", v)
}

func (s *Server) handleFormEdit(c *fiber.Ctx) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	return s.renderFormEdit(c, fiber.StatusOK, f, nil, nil, nil)
}

func (s *Server) handleFormSave(c *fiber.Ctx) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	in := parseFormInput(c)
	if stale(c, f) {
		return s.renderFormEdit(c, fiber.StatusConflict, f, &in, nil, &view{Error: formbuilder.M(formbuilder.MsgStale)})
	}
	ctx := c.UserContext()
	old := f.Version
	errs, removed := in.apply(f)
	if err := s.checkResponsible(ctx, f, errs); err != nil {
		return err
	}
	mergeErrors(errs, f.Validate())
	if len(errs) == 0 {
		err = s.svc.Forms.UpdateForm(ctx, f)
		if err != nil && formbuilder.ErrorCode(err) != formbuilder.EINVALID {
			return err
		}
		mergeErrors(errs, err)
	}
	if len(errs) > 0 {
		fresh, ferr := s.adminForm(c)
		if ferr != nil {
			return ferr
		}
		return s.renderFormEdit(c, fiber.StatusUnprocessableEntity, fresh, &in, nil, &view{Errors: errs})
	}
	s.pages.Invalidate(f.Key)
	backoffice.NoteForm(c, formbuilder.AuditForm, "update", f, old, "responsible_user_id", strconv.FormatInt(f.ResponsibleUserID, 10))
	return c.Redirect(formURL(f.ID, "saved", removed, ""), fiber.StatusSeeOther)
}

func (s *Server) handleFormArchive(c *fiber.Ctx) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	archive := c.FormValue("archived") != "0"
	if err := s.svc.Forms.ArchiveForm(c.UserContext(), f.ID, archive); err != nil {
		return err
	}
	s.pages.Invalidate(f.Key)
	msg := "archived"
	if !archive {
		msg = "unarchived"
	}
	backoffice.NoteForm(c, formbuilder.AuditForm, strings.TrimSuffix(msg, "d"), f, 0)
	return c.Redirect(formURL(f.ID, msg, nil, ""), fiber.StatusSeeOther)
}

// formPageView is the data of the preview and embed pages.
type formPageView struct {
	Form     *formbuilder.Form
	Snippets []snippet
	CSP      string
	Link     string
}

// snippet is one ready-to-paste embed code.
type snippet struct {
	ID, Title, Help, Code string
	Rows                  int
}

// handleFormPreview shows the form in a frame as a dry run: its address
// carries a preview parameter signed for this form, which only this page
// hands out, so what the admin sends there is checked but not stored.
func (s *Server) handleFormPreview(c *fiber.Ctx) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	link := "/f/" + f.Key + "?preview=" + url.QueryEscape(s.Signer.PreviewParam(f.Key, s.Now().Add(httpx.PreviewTTL)))
	return s.render(c, fiber.StatusOK, "form_preview", &view{Title: s.tr(c, "preview.title", "form", f.Name), Nav: "forms",
		Data: &formPageView{Form: f, Link: link}})
}

// handleFormEmbed shows the codes a site owner pastes. The host page's CSP
// must allow this server for scripts (the loader) and frames (the form).
func (s *Server) handleFormEmbed(c *fiber.Ctx) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	base := s.BaseURL
	origin := base
	if o, err := formbuilder.NormalizeOrigin(base); err == nil {
		origin = o
	}
	tag := func(mode, extra string) string {
		return `<script src="` + base + `/embed.js" data-consentforms="` + mode + "/" + f.Key + `"` + extra +
			` async></script>`
	}
	// The button goes onto the website: in the form's language.
	button := formbuilder.T(f.Language, "embed.button")
	pv := &formPageView{Form: f, Link: base + "/f/" + f.Key, CSP: "script-src " + origin + "; frame-src " + origin}
	snip := func(id string, rows int, code string) snippet {
		return snippet{ID: id, Rows: rows, Code: code,
			Title: s.tr(c, "embed."+id+".title"), Help: s.tr(c, "embed."+id+".help")}
	}
	pv.Snippets = []snippet{
		snip("inline", 2, tag("inline", "")),
		snip("click", 3, tag("click", "")+"\n<button type=\"button\">"+button+"</button>"),
		snip("auto", 2, tag("auto", ` data-delay="5" data-frequency="session"`)),
		snip("link", 1, pv.Link),
		snip("csp", 1, pv.CSP),
	}
	return s.render(c, fiber.StatusOK, "form_embed", &view{Title: s.tr(c, "embed.title", "form", f.Name), Nav: "forms", Data: pv})
}
