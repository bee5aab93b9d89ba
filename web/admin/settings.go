package admin

import (
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) handleSettings(c *fiber.Ctx) error {
	st := *s.Settings.Load()
	return s.render(c, fiber.StatusOK, "settings", &view{Title: s.tr(c, "settings.title"), Nav: "settings", Data: &st})
}

// handleSettingsSave stores the company data and the IP mode, then swaps
// this server's copy at once; other servers follow through storage's change
// feed, and storage applies the IP mode itself from the moment the save
// returns.
func (s *Server) handleSettingsSave(c *fiber.Ctx) error {
	st := &formbuilder.Settings{
		Company: formbuilder.CompanyData{
			Name:         strings.TrimSpace(c.FormValue("company.name")),
			Address:      strings.TrimSpace(c.FormValue("company.address")),
			Purposes:     strings.TrimSpace(c.FormValue("company.purposes")),
			ThirdParties: strings.TrimSpace(c.FormValue("company.third_parties")),
			Email:        strings.TrimSpace(c.FormValue("company.email")),
		},
		IPMode: c.FormValue("ip_mode"),
	}
	errs := map[string]formbuilder.Msg{}
	for k, m := range formbuilder.ErrorFieldMsgs(st.Validate()) {
		errs[inputID(k)] = m
	}
	// Company data is optional until a standard consent needs it; once any
	// of it is entered, it must be complete enough to fill the template.
	if st.Company != (formbuilder.CompanyData{}) {
		for k, m := range formbuilder.ErrorFieldMsgs(st.Company.Validate()) {
			errs[inputID(k)] = m
		}
	}
	if len(errs) == 0 {
		if err := s.svc.Settings.SaveSettings(c.UserContext(), st); err != nil {
			if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
				return err
			}
			errs = fieldErrorsFor(err, "", "")
		}
	}
	if len(errs) > 0 {
		return s.render(c, fiber.StatusUnprocessableEntity, "settings", &view{Title: s.tr(c, "settings.title"), Nav: "settings",
			Errors: errs, Data: st})
	}
	old := s.Settings.Load()
	s.Settings.Store(st)
	backoffice.NoteSettings(c, old, st)
	list, err := s.svc.Consents.ListConsents(c.UserContext())
	if err != nil {
		return err
	}
	for _, co := range list {
		if co.StandardOutdated(st.Company) {
			return c.Redirect("/admin/settings?msg=saved-outdated", fiber.StatusSeeOther)
		}
	}
	return c.Redirect("/admin/settings?msg=saved", fiber.StatusSeeOther)
}
