package api

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// formRequest is the body of POST /forms and PUT /forms/:id: the whole
// definition. The read-only members of a form as GET returns it are
// accepted and ignored, so a client can fetch a form, change it and send it
// back; version, when given, must match (optimistic locking).
type formRequest struct {
	Name              string               `json:"name"`
	Title             string               `json:"title"`
	Language          string               `json:"language"`
	Description       string               `json:"description"`
	Fields            []formbuilder.Field  `json:"fields"`
	Consents          []formConsentRequest `json:"consents"`
	SubmitLabel       string               `json:"submit_label"`
	SuccessMessage    string               `json:"success_message"`
	RedirectURL       string               `json:"redirect_url"`
	ResponsibleUserID int64                `json:"responsible_user_id"`
	AllowedOrigins    []string             `json:"allowed_origins"`
	RetentionDays     int                  `json:"retention_days"`
	// Notifications, when omitted on PUT, stay as they are: they belong to
	// the delivery settings, which clients of forms may not know about.
	Notifications *formbuilder.Notifications `json:"notifications"`
	Version       *int                       `json:"version"`

	ID              json.RawMessage `json:"id"`
	Key             json.RawMessage `json:"key"`
	ResponsibleUser json.RawMessage `json:"responsible_user"`
	Archived        json.RawMessage `json:"archived"`
	CreatedAt       json.RawMessage `json:"created_at"`
	UpdatedAt       json.RawMessage `json:"updated_at"`
}

// formConsentRequest attaches a consent. Both switches default to true
// when omitted, as in the admin UI (see PRODUCT.md §1).
type formConsentRequest struct {
	ConsentID        int64 `json:"consent_id"`
	CheckedByDefault *bool `json:"checked_by_default"`
	Required         *bool `json:"required"`
	// Consent is the loaded consent of a fetched form; ignored.
	Consent json.RawMessage `json:"consent"`
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// apply fills f from the request (not the key, archive state or version)
// and checks what the domain validation cannot: that the responsible user
// and the consents exist.
func (s *Server) applyFormRequest(ctx context.Context, req *formRequest, f *formbuilder.Form) error {
	f.Name = strings.TrimSpace(req.Name)
	f.Title = strings.TrimSpace(req.Title)
	f.Language = req.Language
	f.Description = formbuilder.Sanitize(strings.TrimSpace(req.Description))
	f.Fields = req.Fields
	if f.Fields == nil {
		f.Fields = []formbuilder.Field{}
	}
	f.SubmitLabel = strings.TrimSpace(req.SubmitLabel)
	f.SuccessMessage = strings.TrimSpace(req.SuccessMessage)
	f.RedirectURL = strings.TrimSpace(req.RedirectURL)
	f.ResponsibleUserID = req.ResponsibleUserID
	f.RetentionDays = req.RetentionDays
	if req.Notifications != nil {
		f.Notifications = *req.Notifications
	}
	f.AllowedOrigins = []string{}
	for _, o := range req.AllowedOrigins {
		if n, err := formbuilder.NormalizeOrigin(o); err == nil {
			o = n
		}
		f.AllowedOrigins = append(f.AllowedOrigins, o)
	}
	f.Consents = []formbuilder.FormConsent{}
	for _, fc := range req.Consents {
		f.Consents = append(f.Consents, formbuilder.FormConsent{
			ConsentID:        fc.ConsentID,
			CheckedByDefault: boolOr(fc.CheckedByDefault, true),
			Required:         boolOr(fc.Required, true),
		})
	}
	errs := map[string]formbuilder.Msg{}
	if err := f.Validate(); err != nil {
		if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
			return err
		}
		errs = formbuilder.ErrorFieldMsgs(err)
	}
	if req.Notifications != nil && !s.cfg.WebhookAllowPrivate {
		// Only the receivers sent now: a PUT without notifications keeps
		// the stored ones, which are not judged again here.
		for k, m := range formbuilder.ErrorFieldMsgs(f.Notifications.ValidateTargets()) {
			if errs[k].IsZero() {
				errs[k] = m
			}
		}
	}
	if f.ResponsibleUserID != 0 {
		u, err := s.svc.Users.FindUserByID(ctx, f.ResponsibleUserID)
		switch {
		case formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND:
			errs["responsible_user_id"] = formbuilder.M(formbuilder.MsgUnknownUser)
		case err != nil:
			return err
		default:
			f.ResponsibleUser = u.DisplayName()
		}
	} else if req.ResponsibleUserID < 0 {
		errs["responsible_user_id"] = formbuilder.M(formbuilder.MsgUnknownUser)
	}
	for i, fc := range f.Consents {
		key := "consents." + strconv.Itoa(i) + ".consent_id"
		if fc.ConsentID <= 0 || !errs[key].IsZero() {
			continue
		}
		_, err := s.svc.Consents.FindConsentByID(ctx, fc.ConsentID)
		if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
			errs[key] = formbuilder.M(formbuilder.MsgUnknownConsentID)
		} else if err != nil {
			return err
		}
	}
	return formbuilder.FieldErrors(errs)
}

// apiForm loads the form of :id.
func (s *Server) apiForm(c *fiber.Ctx) (*formbuilder.Form, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgFormNotFound)
	}
	f, err := s.svc.Forms.FindFormByID(c.UserContext(), id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgFormNotFound)
	}
	return f, err
}

func (s *Server) apiListForms(c *fiber.Ctx) error {
	archived := c.Query("archived")
	forms, err := s.svc.Forms.ListForms(c.UserContext(), formbuilder.FormFilter{
		IncludeArchived: archived == "1" || archived == "true",
		Query:           c.Query("q"),
	})
	if err != nil {
		return err
	}
	// An operator's list: the forms they are responsible for.
	forms = backoffice.VisibleForms(c, forms)
	if forms == nil {
		forms = []*formbuilder.Form{}
	}
	return c.JSON(fiber.Map{"forms": forms})
}

func (s *Server) apiGetForm(c *fiber.Ctx) error {
	f, err := s.apiForm(c)
	if err != nil {
		return err
	}
	return c.JSON(f)
}

func (s *Server) apiCreateForm(c *fiber.Ctx) error {
	var req formRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	f := &formbuilder.Form{}
	if err := s.applyFormRequest(ctx, &req, f); err != nil {
		return err
	}
	if err := s.svc.Forms.CreateForm(ctx, f); err != nil {
		return err
	}
	s.pages.Invalidate(f.Key)
	backoffice.NoteForm(c, formbuilder.AuditForm, "create", f, 0, "responsible_user_id", strconv.FormatInt(f.ResponsibleUserID, 10))
	saved, err := s.svc.Forms.FindFormByID(ctx, f.ID)
	if err != nil {
		return err
	}
	c.Location("/api/v1/forms/" + strconv.FormatInt(f.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(saved)
}

func (s *Server) apiUpdateForm(c *fiber.Ctx) error {
	old, err := s.apiForm(c)
	if err != nil {
		return err
	}
	var req formRequest
	if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
		return err
	}
	if req.Version != nil && *req.Version != old.Version {
		return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgFormChanged,
			"now", strconv.Itoa(old.Version), "sent", strconv.Itoa(*req.Version))
	}
	ctx := c.UserContext()
	f := &formbuilder.Form{ID: old.ID, Key: old.Key, Archived: old.Archived, Version: old.Version,
		CreatedAt: old.CreatedAt, Notifications: old.Notifications}
	if err := s.applyFormRequest(ctx, &req, f); err != nil {
		return err
	}
	if err := s.svc.Forms.UpdateForm(ctx, f); err != nil {
		return err
	}
	s.pages.Invalidate(old.Key)
	backoffice.NoteForm(c, formbuilder.AuditForm, "update", f, old.Version, "responsible_user_id", strconv.FormatInt(f.ResponsibleUserID, 10))
	saved, err := s.svc.Forms.FindFormByID(ctx, f.ID)
	if err != nil {
		return err
	}
	return c.JSON(saved)
}

// archiveRequest is the optional body of POST /forms/:id/archive.
type archiveRequest struct {
	Archived *bool `json:"archived"`
}

func (s *Server) apiArchiveForm(c *fiber.Ctx) error {
	f, err := s.apiForm(c)
	if err != nil {
		return err
	}
	archive := true
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		var req archiveRequest
		if err := httpx.ReadJSON(c, maxJSONBody, &req); err != nil {
			return err
		}
		archive = boolOr(req.Archived, true)
	}
	ctx := c.UserContext()
	if err := s.svc.Forms.ArchiveForm(ctx, f.ID, archive); err != nil {
		return err
	}
	s.pages.Invalidate(f.Key)
	action := "archive"
	if !archive {
		action = "unarchive"
	}
	backoffice.NoteForm(c, formbuilder.AuditForm, action, f, 0)
	saved, err := s.svc.Forms.FindFormByID(ctx, f.ID)
	if err != nil {
		return err
	}
	return c.JSON(saved)
}
