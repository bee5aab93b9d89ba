package api

import (
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// consentRequest is the body of POST /consents and PUT /consents/:id.
// Type defaults to custom. A standard consent's text and label come from
// the template and the company data, so sending them is an error rather
// than silently dropped. Document names a stored document by its SHA-256
// (the "document" of a version the client read), for the label to link
// to; a new file comes as the "document" part of a multipart body whose
// "consent" part is this JSON (readConsentRequest).
type consentRequest struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Text     string `json:"text"`
	Label    string `json:"label"`
	LinkURL  string `json:"link_url"`
	Language string `json:"language"`
	Document string `json:"document"`
	// ConfirmByEmail asks for double opt-in; a PUT without it keeps the
	// consent's setting.
	ConfirmByEmail *bool `json:"confirm_by_email"`

	// upload is the file of the multipart body, if any.
	upload *formbuilder.Document
}

// readConsentRequest reads the body of a consent write: JSON, or
// multipart/form-data with the JSON in the part "consent" and a file in
// the part "document". A file and a different hash in the JSON contradict
// each other (422 naming document).
func readConsentRequest(c *fiber.Ctx, req *consentRequest) error {
	mf, err := httpx.Multipart(c)
	if err != nil {
		return err
	}
	if mf == nil {
		return httpx.ReadJSON(c, maxJSONBody, req)
	}
	js := mf.Value["consent"]
	if len(js) != 1 {
		return httpx.BadRequest("a multipart body carries the consent as JSON in one part named consent")
	}
	if len(js[0]) > maxJSONBody {
		return formbuilder.NewError(formbuilder.ETOOLARGE, formbuilder.MsgConsentPartTooLarge, "max", strconv.Itoa(maxJSONBody))
	}
	if err := httpx.DecodeJSON([]byte(js[0]), req); err != nil {
		return err
	}
	if req.upload, err = httpx.UploadedDocument(mf, "document"); err != nil {
		return err
	}
	if req.upload != nil && req.Document != "" && req.Document != req.upload.SHA256 {
		return formbuilder.FieldError("document", formbuilder.MsgDocOrFile)
	}
	return nil
}

// document is the document the request links to: the file sent, else the
// stored one it names.
func (req *consentRequest) document() *formbuilder.Document {
	if req.upload != nil {
		return req.upload
	}
	if req.Document != "" {
		return &formbuilder.Document{SHA256: req.Document}
	}
	return nil
}

// consentResponse is a consent with what the last write did: which markup
// the sanitiser removed and whether a new version was made.
type consentResponse struct {
	*formbuilder.Consent
	Removed        []string `json:"removed,omitempty"`
	VersionCreated bool     `json:"version_created"`
}

// content validates the request and returns the consent and its sanitised
// content, or an EINVALID error naming the fields.
func (s *Server) apiConsentContent(req *consentRequest) (*formbuilder.Consent, formbuilder.ConsentContent, []string, error) {
	if req.Type == "" {
		req.Type = string(formbuilder.ConsentCustom)
	}
	co := &formbuilder.Consent{Name: strings.TrimSpace(req.Name), Type: formbuilder.ConsentType(req.Type)}
	if req.ConfirmByEmail != nil {
		co.ConfirmByEmail = *req.ConfirmByEmail
	}
	content := formbuilder.ConsentContent{Text: req.Text, Label: req.Label, LinkURL: req.LinkURL, Language: req.Language,
		Document: req.document()}
	errs := map[string]formbuilder.Msg{}
	if co.Type == formbuilder.ConsentStandard {
		if strings.TrimSpace(req.Text) != "" {
			errs["text"] = formbuilder.M(formbuilder.MsgStandardNoText)
		}
		if strings.TrimSpace(req.Label) != "" {
			errs["label"] = formbuilder.M(formbuilder.MsgStandardNoLabel)
		}
		company := s.Settings.Load().Company
		if company.Validate() != nil {
			errs["type"] = formbuilder.M(formbuilder.MsgStandardNeedsCompany)
		} else if formbuilder.ValidLanguage(req.Language) {
			content = formbuilder.StandardContent(req.Language, company)
			content.LinkURL, content.Document = req.LinkURL, req.document()
		}
	}
	removed := content.Sanitize()
	for k, m := range formbuilder.ErrorFieldMsgs(co.Validate()) {
		errs[k] = m
	}
	for k, m := range formbuilder.ErrorFieldMsgs(content.Validate()) {
		if errs[k].IsZero() {
			errs[k] = m
		}
	}
	return co, content, removed, formbuilder.FieldErrors(errs)
}

func (s *Server) apiConsent(c *fiber.Ctx) (*formbuilder.Consent, error) {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgConsentNotFound)
	}
	co, err := s.svc.Consents.FindConsentByID(c.UserContext(), id)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgConsentNotFound)
	}
	return co, err
}

func (s *Server) apiListConsents(c *fiber.Ctx) error {
	list, err := s.svc.Consents.ListConsents(c.UserContext())
	if err != nil {
		return err
	}
	if list == nil {
		list = []*formbuilder.Consent{}
	}
	return c.JSON(fiber.Map{"consents": list})
}

func (s *Server) apiGetConsent(c *fiber.Ctx) error {
	co, err := s.apiConsent(c)
	if err != nil {
		return err
	}
	return c.JSON(co)
}

func (s *Server) apiCreateConsent(c *fiber.Ctx) error {
	var req consentRequest
	if err := readConsentRequest(c, &req); err != nil {
		return err
	}
	co, content, removed, err := s.apiConsentContent(&req)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := s.svc.Consents.CreateConsent(ctx, co, content, apiAuthor(c)); err != nil {
		return err
	}
	s.pages.InvalidateAll()
	backoffice.NoteConsent(c, "create", co, 0)
	saved, err := s.svc.Consents.FindConsentByID(ctx, co.ID)
	if err != nil {
		return err
	}
	c.Location("/api/v1/consents/" + strconv.FormatInt(co.ID, 10))
	return c.Status(fiber.StatusCreated).JSON(consentResponse{Consent: saved, Removed: removed, VersionCreated: true})
}

func (s *Server) apiUpdateConsent(c *fiber.Ctx) error {
	old, err := s.apiConsent(c)
	if err != nil {
		return err
	}
	var req consentRequest
	if err := readConsentRequest(c, &req); err != nil {
		return err
	}
	co, content, removed, err := s.apiConsentContent(&req)
	if err != nil {
		return err
	}
	co.ID = old.ID
	if req.ConfirmByEmail == nil {
		co.ConfirmByEmail = old.ConfirmByEmail
	}
	saved, err := s.svc.Consents.UpdateConsent(c.UserContext(), co, content, apiAuthor(c))
	if err != nil {
		return err
	}
	// A new version changes every form that attaches the consent.
	s.pages.InvalidateAll()
	created := saved.Current != nil && old.Current != nil && saved.Current.Number > old.Current.Number
	oldVersion := 0
	if old.Current != nil {
		oldVersion = old.Current.Number
	}
	backoffice.NoteConsent(c, "update", saved, oldVersion)
	return c.JSON(consentResponse{Consent: saved, Removed: removed, VersionCreated: created})
}

func (s *Server) apiListConsentVersions(c *fiber.Ctx) error {
	co, err := s.apiConsent(c)
	if err != nil {
		return err
	}
	vs, err := s.svc.Consents.ListConsentVersions(c.UserContext(), co.ID)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []*formbuilder.ConsentVersion{}
	}
	return c.JSON(fiber.Map{"versions": vs})
}
