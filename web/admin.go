package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

// The admin UI is server-rendered with html/template straight from an
// embed.FS, parsed once at start-up (miniflux-style), rather than through
// gofiber/template/html: that engine holds one lock for a whole render when
// a layout is used, and its reload and layout machinery buys nothing for a
// fixed set of embedded pages. Each page is a clone of the shared layout
// with its own "content" block, so pages cannot clash over block names.
//
// Admin pages never answer JSON; errors become admin HTML pages (adminFrame).
// The JSON API lives under /api/v1 and never sets cookies.

//go:embed templates/*.html
var adminTemplateFS embed.FS

// adminCSP lets admin pages load only their own scripts, styles and frames
// (the preview iframe of /f/KEY): no inline script or style, no plugins, no
// framing of the admin by anyone.
const adminCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; frame-src 'self'"

// adminUI is the admin side's start-up state.
type adminUI struct {
	pages    map[string]*template.Template
	assets   map[string]*widget.Asset // by plain and hashed name
	css, js  *widget.Asset
	throttle *throttle
}

func newAdminUI() (*adminUI, error) {
	pages, err := parseAdminTemplates()
	if err != nil {
		return nil, err
	}
	ui := &adminUI{pages: pages, assets: map[string]*widget.Asset{}, throttle: newThrottle(loginLimit, loginWindow)}
	for _, name := range []string{"admin.css", "admin.js"} {
		a, err := loadAdminAsset(name)
		if err != nil {
			return nil, err
		}
		ui.assets[a.Name] = a
		ui.assets[a.HashedName] = a
		if strings.HasSuffix(name, ".css") {
			ui.css = a
		} else {
			ui.js = a
		}
	}
	return ui, nil
}

// parseAdminTemplates parses the layout and partials (files starting with
// "_") once, then each page into its own clone of them.
func parseAdminTemplates() (map[string]*template.Template, error) {
	base, err := template.New("admin").Funcs(adminFuncs).ParseFS(adminTemplateFS, "templates/_*.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(adminTemplateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if strings.HasPrefix(name, "_") {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(adminTemplateFS, f); err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// routesAdmin registers the admin UI (sign-in, forms, consents, embed codes).
// Session and CSRF checks are attached per route, not per prefix, because
// Fiber runs group middleware for every path under the prefix, including
// the sign-in page.
func (s *Server) routesAdmin(app *fiber.App) {
	ui, err := newAdminUI()
	if err != nil {
		// The templates are embedded: a parse error is a build defect that
		// every test run shows, not a runtime condition.
		panic("web: admin templates: " + err.Error())
	}
	s.admin = ui

	app.Use("/admin", s.adminFrame)
	app.Get("/admin/static/:name", s.handleAdminAsset)
	app.Get("/admin/login", s.handleLoginPage)
	app.Post("/admin/login", s.checkSameOrigin, s.handleLogin)

	get := func(p string, h fiber.Handler) { app.Get("/admin"+p, s.requireSession, h) }
	post := func(p string, h fiber.Handler) {
		app.Post("/admin"+p, s.checkSameOrigin, s.requireSession, s.checkCSRF, h)
	}
	get("", func(c *fiber.Ctx) error { return c.Redirect("/admin/forms", fiber.StatusSeeOther) })
	post("/logout", s.handleLogout)

	get("/forms", s.handleFormList)
	get("/forms/new", s.handleFormNew)
	post("/forms", s.handleFormCreate)
	get("/forms/:id", s.handleFormEdit)
	post("/forms/:id", s.handleFormSave)
	post("/forms/:id/archive", s.handleFormArchive)
	get("/forms/:id/preview", s.handleFormPreview)
	get("/forms/:id/embed", s.handleFormEmbed)
	post("/forms/:id/fields", s.handleFieldAdd)
	get("/forms/:id/fields/:idx", s.handleFieldEdit)
	post("/forms/:id/fields/:idx", s.handleFieldSave)
	post("/forms/:id/fields/:idx/move", s.handleFieldMove)
	post("/forms/:id/fields/:idx/delete", s.handleFieldDelete)
	post("/forms/:id/consents", s.handleFormConsentAttach)
	post("/forms/:id/consents/:cid", s.handleFormConsentSave)
	post("/forms/:id/consents/:cid/move", s.handleFormConsentMove)
	post("/forms/:id/consents/:cid/delete", s.handleFormConsentDetach)

	get("/consents", s.handleConsentList)
	get("/consents/new", s.handleConsentNew)
	post("/consents", s.handleConsentCreate)
	post("/consents/preview", s.handleConsentPreview)
	get("/consents/:id", s.handleConsentEdit)
	post("/consents/:id", s.handleConsentSave)
	get("/consents/:id/versions", s.handleConsentVersions)

	get("/settings", s.handleSettings)
	post("/settings", s.handleSettingsSave)
}

// adminFrame sets the security headers of every admin response and turns
// errors of admin handlers (and Fiber's 404/405 under /admin) into admin
// HTML pages.
func (s *Server) adminFrame(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentSecurityPolicy, adminCSP)
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set(fiber.HeaderCrossOriginResourcePolicy, "same-origin")
	err := c.Next()
	if err == nil {
		return nil
	}
	return s.adminError(c, err)
}

// adminError renders err as an admin page; only client-safe messages show.
func (s *Server) adminError(c *fiber.Ctx, err error) error {
	status, msg := fiber.StatusInternalServerError, "Something went wrong. The error was logged; please try again."
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status = fe.Code
		switch status {
		case fiber.StatusNotFound:
			msg = "This page does not exist."
		case fiber.StatusMethodNotAllowed:
			msg = "This address does not accept that kind of request."
		default:
			if status < 500 {
				msg = fe.Message
			}
		}
	} else {
		code := formbuilder.ErrorCode(err)
		status = statusOf(code)
		if status < 500 {
			msg = formbuilder.ErrorMessage(err)
		}
	}
	if status >= 500 {
		s.log.Error("internal error", "method", c.Method(), "path", c.Path(), "err", err.Error(),
			"request_id", requestID(c))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	v := &view{Title: statusTitle(status), Error: msg, Data: status}
	if rerr := s.render(c, status, "error", v); rerr != nil {
		return err
	}
	return nil
}

func statusTitle(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "Not found"
	case fiber.StatusForbidden:
		return "Not allowed"
	case fiber.StatusMethodNotAllowed:
		return "Method not allowed"
	case fiber.StatusConflict:
		return "Changed meanwhile"
	case fiber.StatusGone:
		return "No longer available"
	case fiber.StatusTooManyRequests:
		return "Too many requests"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "Error"
}

// view is what every admin page template gets. Data holds the page's own
// struct; the rest is the frame: who is signed in, the CSRF token for the
// page's forms, messages and per-field errors.
type view struct {
	Title string
	// Nav names the active navigation item.
	Nav    string
	Admin  *formbuilder.User
	CSRF   string
	Notice string
	// Removed lists what the sanitiser took out of the last saved HTML.
	Removed []string
	// Error is a message for the whole page; Errors map input ids to
	// messages shown next to the inputs and in the summary.
	Error   string
	Errors  map[string]string
	Summary []summaryItem
	CSS, JS string
	BaseURL string
	Data    any
}

type summaryItem struct {
	Href, Text string
}

// notices are the confirmation messages a redirect can ask for with ?msg=;
// a fixed list, so the query cannot put arbitrary text on the page.
var notices = map[string]string{
	"saved":             "Saved.",
	"created":           "Form created. Add its fields and consents below.",
	"archived":          "Form archived: it no longer accepts submissions.",
	"unarchived":        "Form restored: it accepts submissions again.",
	"field-added":       "Field added.",
	"field-saved":       "Field saved.",
	"field-moved":       "Field moved.",
	"field-deleted":     "Field removed.",
	"consent-attached":  "Consent attached.",
	"consent-saved":     "Consent settings saved.",
	"consent-moved":     "Consent moved.",
	"consent-detached":  "Consent detached.",
	"consent-created":   "Consent created as version 1.",
	"consent-version":   "Saved as a new version. Forms show it from now on; consents given earlier keep pointing at the version they were given under.",
	"consent-unchanged": "Saved. The text, label, link and language did not change, so no new version was made.",
}

// errorLabels name input ids in the error summary.
var errorLabels = map[string]string{
	"name": "Name", "title": "Title", "language": "Language", "description": "Description",
	"submit_label": "Submit button label", "success_message": "Success message", "redirect_url": "Redirect URL",
	"responsible_user_id": "Responsible user", "allowed_origins": "Allowed origins", "retention_days": "Retention",
	"fields": "Fields", "consents": "Consents", "key": "Form key",
	"field-key": "Field key", "field-label": "Field label", "field-kind": "Field type", "field-placeholder": "Placeholder",
	"field-help": "Help text", "field-options": "Options", "field-default": "Default value", "field-max_length": "Maximum length",
	"consent_id": "Consent", "type": "Type", "text": "Text", "label": "Checkbox label", "link_url": "Link URL",
	"company-name": "Company name", "company-address": "Address", "company-purposes": "Purposes",
	"company-third_parties": "Third parties", "company-email": "Contact e-mail", "ip_mode": "IP addresses",
	"version": "Version",
}

// render executes a page into a buffer first, so a template error becomes
// an error page instead of half a page.
func (s *Server) render(c *fiber.Ctx, status int, page string, v *view) error {
	t := s.admin.pages[page]
	if t == nil {
		return formbuilder.Internal(errors.New("no admin template " + page))
	}
	if a := currentAdmin(c); a != nil {
		v.Admin = a.user
		v.CSRF = a.sess.CSRF
	}
	if v.Notice == "" && status < 400 {
		v.Notice = notices[c.Query("msg")]
		if v.Removed == nil {
			for _, r := range c.Context().QueryArgs().PeekMulti("removed") {
				if len(v.Removed) < 20 && len(r) <= 80 {
					v.Removed = append(v.Removed, string(r))
				}
			}
		}
	}
	if len(v.Errors) > 0 {
		keys := make([]string, 0, len(v.Errors))
		for k := range v.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			label := errorLabels[k]
			if label == "" {
				label = k
			}
			v.Summary = append(v.Summary, summaryItem{Href: "#" + k, Text: label + ": " + v.Errors[k]})
		}
	}
	v.CSS = "/admin/static/" + s.admin.css.HashedName
	v.JS = "/admin/static/" + s.admin.js.HashedName
	v.BaseURL = s.cfg.BaseURL
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return formbuilder.Internal(err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

// inputID turns an error key of formbuilder ("company.name") into the id of
// its input ("company-name").
func inputID(key string) string { return strings.ReplaceAll(key, ".", "-") }

// fieldErrorsFor maps a domain error's field keys to input ids. Keys under
// prefix (say "fields.3.") lose the prefix and gain as (say "field-"), so
// the editor of one field shows its errors; other keys keep their name.
func fieldErrorsFor(err error, prefix, as string) map[string]string {
	out := map[string]string{}
	for k, msg := range formbuilder.ErrorFields(err) {
		switch {
		case prefix != "" && strings.HasPrefix(k, prefix):
			out[as+inputID(strings.TrimPrefix(k, prefix))] = msg
		case strings.HasPrefix(k, "allowed_origins."):
			n, _ := strconv.Atoi(strings.TrimPrefix(k, "allowed_origins."))
			line := "line " + strconv.Itoa(n+1) + ": " + msg
			if prev := out["allowed_origins"]; prev != "" {
				line = prev + "; " + line
			}
			out["allowed_origins"] = line
		case strings.HasPrefix(k, "consents."):
			out["consents"] = msg
		case strings.HasPrefix(k, "fields."):
			// Another field's problem (say a duplicate key): name it by
			// position, as the list on the form page numbers fields.
			rest := strings.TrimPrefix(k, "fields.")
			n, name, _ := strings.Cut(rest, ".")
			i, _ := strconv.Atoi(n)
			out["fields"] = "field " + strconv.Itoa(i+1) + " " + name + " " + msg
		default:
			out[inputID(k)] = msg
		}
	}
	return out
}

// adminFuncs are the template helpers; none of them produce unescaped HTML
// except sanitized, which passes the text through the one policy first.
var adminFuncs = template.FuncMap{
	"fmtTime": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	// sanitized renders admin-authored HTML. It was sanitised when stored;
	// sanitising again (idempotent) keeps the admin safe even from rows
	// written by other tools.
	"sanitized": func(s string) template.HTML { return template.HTML(formbuilder.Sanitize(s)) },
	"label":     formbuilder.ParseLabel,
	"lines":     func(xs []string) string { return strings.Join(xs, "\n") },
	"kinds":     func() []formbuilder.FieldKind { return formbuilder.FieldKinds },
	"kindLabel": kindLabel,
	"hasOptions": func(k formbuilder.FieldKind) bool {
		return k.HasOptions()
	},
	"add":       func(a, b int) int { return a + b },
	"languages": func() []string { return formbuilder.Languages },
	"langName":  langName,
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"errFor":  func(errs map[string]string, key string) string { return errs[key] },
	"invalid": func(errs map[string]string, key string) bool { return errs[key] != "" },
	// describedby lists the hint and error ids an input is described by.
	"describedby": func(errs map[string]string, id string, hint bool) string {
		var ids []string
		if hint {
			ids = append(ids, id+"-hint")
		}
		if errs[id] != "" {
			ids = append(ids, id+"-error")
		}
		return strings.Join(ids, " ")
	},
	// dict passes several values to a partial template.
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	},
	"itoa": func(n int64) string { return strconv.FormatInt(n, 10) },
}

func kindLabel(k formbuilder.FieldKind) string {
	switch k {
	case formbuilder.KindName:
		return "Name"
	case formbuilder.KindText:
		return "Single-line text"
	case formbuilder.KindEmail:
		return "E-mail address"
	case formbuilder.KindPhone:
		return "Phone number"
	case formbuilder.KindTextarea:
		return "Multi-line text"
	case formbuilder.KindSelect:
		return "Drop-down list"
	case formbuilder.KindRadio:
		return "Radio buttons (choose one)"
	case formbuilder.KindCheckbox:
		return "Checkbox (or boxes, with options)"
	case formbuilder.KindDate:
		return "Date"
	case formbuilder.KindNumber:
		return "Number"
	case formbuilder.KindHidden:
		return "Hidden value"
	}
	return string(k)
}

func langName(l string) string {
	switch l {
	case "de":
		return "German (de)"
	case "en":
		return "English (en)"
	}
	return l
}

// paramID reads a positive integer route parameter; anything else is a
// page that does not exist.
func paramID(c *fiber.Ctx, name string) (int64, error) {
	n, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, fiber.ErrNotFound
	}
	return n, nil
}
