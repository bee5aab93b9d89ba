package admin

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// fieldInput is one field as typed in the field editor.
type fieldInput struct {
	Key, Label, Kind, Placeholder, Help string
	Options, Default, MaxLength         string
	Required                            bool
}

func fieldInputOf(f formbuilder.Field) fieldInput {
	in := fieldInput{Key: f.Key, Label: f.Label, Kind: string(f.Kind), Placeholder: f.Placeholder, Help: f.Help,
		Options: strings.Join(f.Options, "\n"), Default: f.Default, Required: f.Required}
	if f.MaxLength > 0 {
		in.MaxLength = strconv.Itoa(f.MaxLength)
	}
	return in
}

func parseFieldInput(c *fiber.Ctx) fieldInput {
	return fieldInput{
		Key:         strings.TrimSpace(c.FormValue("key")),
		Label:       strings.TrimSpace(c.FormValue("label")),
		Kind:        c.FormValue("kind"),
		Placeholder: strings.TrimSpace(c.FormValue("placeholder")),
		Help:        strings.TrimSpace(c.FormValue("help")),
		Options:     c.FormValue("options"),
		Default:     c.FormValue("default"),
		MaxLength:   strings.TrimSpace(c.FormValue("max_length")),
		Required:    checkbox(c.FormValue("required")),
	}
}

// checkbox reads an HTML checkbox: browsers send "on" (or our value "1")
// when ticked and nothing when not.
func checkbox(v string) bool { return v == "1" || v == "on" || v == "true" }

// field converts the input; errs gets what cannot be parsed, keyed by input id.
func (in fieldInput) field(errs map[string]formbuilder.Msg) formbuilder.Field {
	f := formbuilder.Field{
		Key: in.Key, Label: in.Label, Kind: formbuilder.FieldKind(in.Kind), Required: in.Required,
		Placeholder: in.Placeholder, Help: in.Help, Default: in.Default,
	}
	if f.Kind.HasOptions() {
		f.Options = splitLines(in.Options)
	} else if len(splitLines(in.Options)) > 0 {
		errs["field-options"] = formbuilder.M(formbuilder.MsgOptionsNotHere)
	}
	if f.Kind != formbuilder.KindTextarea {
		f.Default = strings.TrimSpace(f.Default)
	}
	if in.MaxLength != "" {
		n, err := strconv.Atoi(in.MaxLength)
		if err != nil {
			errs["field-max_length"] = formbuilder.M(formbuilder.MsgWholeNumberDefault)
		} else {
			f.MaxLength = n
		}
	}
	return f
}

// umlauts spells German letters in ASCII for suggestKey.
var umlauts = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "Ä", "ae", "Ö", "oe", "Ü", "ue")

// suggestKey derives a field key from its label ("E-Mail-Adresse" becomes
// "e_mail_adresse"), unique among taken, so admins need not invent keys.
func suggestKey(label string, kind formbuilder.FieldKind, taken map[string]bool) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(umlauts.Replace(label)) {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			under = false
		case !under && b.Len() > 0:
			b.WriteByte('_')
			under = true
		}
	}
	key := strings.TrimRight(b.String(), "_")
	if key == "" || key[0] < 'a' || key[0] > 'z' {
		key = strings.TrimRight(string(kind)+"_"+key, "_")
	}
	if len(key) > 36 {
		key = strings.TrimRight(key[:36], "_")
	}
	if !taken[key] {
		return key
	}
	for i := 2; ; i++ {
		k := key + "_" + strconv.Itoa(i)
		if !taken[k] {
			return k
		}
	}
}

// adminField returns the form of the path and the 0-based index of its
// field :idx (1-based in URLs, as shown to admins).
func (s *Server) adminField(c *fiber.Ctx) (*formbuilder.Form, int, error) {
	f, err := s.adminForm(c)
	if err != nil {
		return nil, 0, err
	}
	n, err := strconv.Atoi(c.Params("idx"))
	if err != nil || n < 1 || n > len(f.Fields) {
		return nil, 0, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgFieldMissing)
	}
	return f, n - 1, nil
}

// saveFormFields validates and stores f; on invalid input it returns the
// errors keyed for the editor of field idx.
func (s *Server) updateForm(c *fiber.Ctx, f *formbuilder.Form, idx int) (map[string]formbuilder.Msg, error) {
	err := f.Validate()
	if err == nil {
		err = s.svc.Forms.UpdateForm(c.UserContext(), f)
	}
	if err != nil {
		if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
			return nil, err
		}
		return fieldErrorsFor(err, "fields."+strconv.Itoa(idx)+".", "field-"), nil
	}
	s.pages.Invalidate(f.Key)
	return nil, nil
}

func (s *Server) handleFieldAdd(c *fiber.Ctx) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	in := parseFieldInput(c)
	if stale(c, f) {
		return s.renderFormEdit(c, fiber.StatusConflict, f, nil, &in, &view{Error: formbuilder.M(formbuilder.MsgStale)})
	}
	if in.Key == "" && in.Label != "" {
		taken := map[string]bool{}
		for _, x := range f.Fields {
			taken[x.Key] = true
		}
		in.Key = suggestKey(in.Label, formbuilder.FieldKind(in.Kind), taken)
	}
	errs := map[string]formbuilder.Msg{}
	nf := in.field(errs)
	idx := len(f.Fields)
	old := f.Version
	if len(errs) == 0 {
		f.Fields = append(f.Fields, nf)
		errs, err = s.updateForm(c, f, idx)
		if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		fresh, err := s.adminForm(c)
		if err != nil {
			return err
		}
		return s.renderFormEdit(c, fiber.StatusUnprocessableEntity, fresh, nil, &in, &view{Errors: errs})
	}
	backoffice.NoteForm(c, formbuilder.AuditField, "add", f, old, "field", nf.Key, "kind", string(nf.Kind))
	return c.Redirect(formURL(f.ID, "field-added", nil, "fields"), fiber.StatusSeeOther)
}

// fieldEditView is the data of the editor of one field.
type fieldEditView struct {
	Form  *formbuilder.Form
	Index int // 1-based
	In    fieldInput
}

func (s *Server) handleFieldEdit(c *fiber.Ctx) error {
	f, i, err := s.adminField(c)
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "field_edit", &view{Title: s.tr(c, "field.title", "n", strconv.Itoa(i+1), "form", f.Name),
		Nav: "forms", Data: &fieldEditView{Form: f, Index: i + 1, In: fieldInputOf(f.Fields[i])}})
}

func (s *Server) handleFieldSave(c *fiber.Ctx) error {
	f, i, err := s.adminField(c)
	if err != nil {
		return err
	}
	in := parseFieldInput(c)
	title := s.tr(c, "field.title", "n", strconv.Itoa(i+1), "form", f.Name)
	if stale(c, f) {
		return s.render(c, fiber.StatusConflict, "field_edit", &view{Title: title, Nav: "forms", Error: formbuilder.M(formbuilder.MsgStale),
			Data: &fieldEditView{Form: f, Index: i + 1, In: fieldInputOf(f.Fields[i])}})
	}
	errs := map[string]formbuilder.Msg{}
	nf := in.field(errs)
	old := f.Version
	if len(errs) == 0 {
		f.Fields[i] = nf
		errs, err = s.updateForm(c, f, i)
		if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return s.render(c, fiber.StatusUnprocessableEntity, "field_edit", &view{Title: title, Nav: "forms",
			Errors: errs, Data: &fieldEditView{Form: f, Index: i + 1, In: in}})
	}
	backoffice.NoteForm(c, formbuilder.AuditField, "update", f, old, "field", nf.Key, "position", strconv.Itoa(i+1))
	return c.Redirect(formURL(f.ID, "field-saved", nil, "fields"), fiber.StatusSeeOther)
}

// move returns the new position of index i among n after moving it up or
// down, or i when it cannot move.
func move(i, n int, dir string) int {
	switch dir {
	case "up":
		if i > 0 {
			return i - 1
		}
	case "down":
		if i < n-1 {
			return i + 1
		}
	}
	return i
}

func (s *Server) handleFieldMove(c *fiber.Ctx) error {
	f, i, err := s.adminField(c)
	if err != nil {
		return err
	}
	if stale(c, f) {
		return s.renderFormEdit(c, fiber.StatusConflict, f, nil, nil, &view{Error: formbuilder.M(formbuilder.MsgStale)})
	}
	if j := move(i, len(f.Fields), c.FormValue("dir")); j != i {
		old := f.Version
		f.Fields[i], f.Fields[j] = f.Fields[j], f.Fields[i]
		if err := s.svc.Forms.UpdateForm(c.UserContext(), f); err != nil {
			return err
		}
		s.pages.Invalidate(f.Key)
		backoffice.NoteForm(c, formbuilder.AuditField, "move", f, old, "field", f.Fields[j].Key,
			"from", strconv.Itoa(i+1), "to", strconv.Itoa(j+1))
	} else {
		backoffice.Unchanged(c)
	}
	return c.Redirect(formURL(f.ID, "field-moved", nil, "fields"), fiber.StatusSeeOther)
}

func (s *Server) handleFieldDelete(c *fiber.Ctx) error {
	f, i, err := s.adminField(c)
	if err != nil {
		return err
	}
	if stale(c, f) {
		return s.renderFormEdit(c, fiber.StatusConflict, f, nil, nil, &view{Error: formbuilder.M(formbuilder.MsgStale)})
	}
	old, key := f.Version, f.Fields[i].Key
	f.Fields = append(f.Fields[:i], f.Fields[i+1:]...)
	if err := s.svc.Forms.UpdateForm(c.UserContext(), f); err != nil {
		return err
	}
	s.pages.Invalidate(f.Key)
	backoffice.NoteForm(c, formbuilder.AuditField, "delete", f, old, "field", key)
	return c.Redirect(formURL(f.ID, "field-deleted", nil, "fields"), fiber.StatusSeeOther)
}

// formConsentIndex finds the attachment of the :cid parameter.
func formConsentIndex(c *fiber.Ctx, f *formbuilder.Form) (int, error) {
	cid, err := backoffice.ParamID(c, "cid")
	if err != nil {
		return 0, err
	}
	for i, fc := range f.Consents {
		if fc.ConsentID == cid {
			return i, nil
		}
	}
	return 0, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgNotAttached)
}

func (s *Server) handleFormConsentAttach(c *fiber.Ctx) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	if stale(c, f) {
		return s.renderFormEdit(c, fiber.StatusConflict, f, nil, nil, &view{Error: formbuilder.M(formbuilder.MsgStale)})
	}
	ctx := c.UserContext()
	cid, _ := strconv.ParseInt(c.FormValue("consent_id"), 10, 64)
	errs := map[string]formbuilder.Msg{}
	if cid <= 0 {
		errs["consent_id"] = formbuilder.M(formbuilder.MsgChooseConsent)
	} else if _, err := s.svc.Consents.FindConsentByID(ctx, cid); formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		errs["consent_id"] = formbuilder.M(formbuilder.MsgUnknownConsentID)
	} else if err != nil {
		return err
	}
	old := f.Version
	if len(errs) == 0 {
		f.Consents = append(f.Consents, formbuilder.FormConsent{
			ConsentID:        cid,
			CheckedByDefault: checkbox(c.FormValue("checked_by_default")),
			Required:         checkbox(c.FormValue("required")),
		})
		err = f.Validate()
		if err == nil {
			err = s.svc.Forms.UpdateForm(ctx, f)
		}
		if err != nil {
			if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
				return err
			}
			for k, m := range formbuilder.ErrorFieldMsgs(err) {
				if strings.HasPrefix(k, "consents") {
					errs["consent_id"] = m
				}
			}
			if len(errs) == 0 {
				errs["consent_id"] = formbuilder.ErrorMsg(err)
			}
		}
	}
	if len(errs) > 0 {
		fresh, err := s.adminForm(c)
		if err != nil {
			return err
		}
		return s.renderFormEdit(c, fiber.StatusUnprocessableEntity, fresh, nil, nil, &view{Errors: errs})
	}
	s.pages.Invalidate(f.Key)
	fc := f.Consents[len(f.Consents)-1]
	backoffice.NoteForm(c, formbuilder.AuditFormConsent, "attach", f, old, "consent_id", strconv.FormatInt(cid, 10),
		"checked_by_default", strconv.FormatBool(fc.CheckedByDefault), "required", strconv.FormatBool(fc.Required))
	return c.Redirect(formURL(f.ID, "consent-attached", nil, "consents"), fiber.StatusSeeOther)
}

func (s *Server) handleFormConsentSave(c *fiber.Ctx) error {
	return s.changeFormConsent(c, "consent-saved", "update", func(f *formbuilder.Form, i int) []string {
		f.Consents[i].CheckedByDefault = checkbox(c.FormValue("checked_by_default"))
		f.Consents[i].Required = checkbox(c.FormValue("required"))
		return []string{"checked_by_default", strconv.FormatBool(f.Consents[i].CheckedByDefault),
			"required", strconv.FormatBool(f.Consents[i].Required)}
	})
}

func (s *Server) handleFormConsentMove(c *fiber.Ctx) error {
	return s.changeFormConsent(c, "consent-moved", "move", func(f *formbuilder.Form, i int) []string {
		j := move(i, len(f.Consents), c.FormValue("dir"))
		f.Consents[i], f.Consents[j] = f.Consents[j], f.Consents[i]
		return []string{"from", strconv.Itoa(i + 1), "to", strconv.Itoa(j + 1)}
	})
}

func (s *Server) handleFormConsentDetach(c *fiber.Ctx) error {
	return s.changeFormConsent(c, "consent-detached", "detach", func(f *formbuilder.Form, i int) []string {
		f.Consents = append(f.Consents[:i], f.Consents[i+1:]...)
		return nil
	})
}

// changeFormConsent applies change to the attachment of :cid, stores it
// and notes action with the details change returns (key, value pairs).
func (s *Server) changeFormConsent(c *fiber.Ctx, msg, action string, change func(f *formbuilder.Form, i int) []string) error {
	f, err := s.adminForm(c)
	if err != nil {
		return err
	}
	i, err := formConsentIndex(c, f)
	if err != nil {
		return err
	}
	if stale(c, f) {
		return s.renderFormEdit(c, fiber.StatusConflict, f, nil, nil, &view{Error: formbuilder.M(formbuilder.MsgStale)})
	}
	old, cid := f.Version, f.Consents[i].ConsentID
	details := change(f, i)
	if err := s.svc.Forms.UpdateForm(c.UserContext(), f); err != nil {
		return err
	}
	s.pages.Invalidate(f.Key)
	backoffice.NoteForm(c, formbuilder.AuditFormConsent, action, f, old,
		append([]string{"consent_id", strconv.FormatInt(cid, 10)}, details...)...)
	return c.Redirect(formURL(f.ID, msg, nil, "consents"), fiber.StatusSeeOther)
}
