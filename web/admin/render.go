package admin

import (
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

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
	// Wide gives the page the window's width (up to 80rem) instead of
	// 60rem, for a table of many columns.
	Wide bool
	Data any
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
	"saved-outdated": "Saved. Standard consents made with the earlier company data are now marked as outdated on the " +
		"Consents page; each has a button that makes its new version with this data.",
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
	"version": "Version", "document": "Document",
}

// render renders page through the Views engine (c.Render), which executes
// into a buffer first, so a template error becomes an error page instead of
// half a page. No layout is passed: pages compose the shared head and foot
// with {{template}}, so the engine's layout lock is never taken.
func (s *Server) render(c *fiber.Ctx, status int, page string, v *view) error {
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
	v.CSS, v.JS, v.BaseURL = s.css, s.js, s.BaseURL
	if err := c.Render(page, v); err != nil {
		return formbuilder.Internal(err)
	}
	c.Status(status)
	return nil
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

// funcs are the template helpers; none of them produce unescaped HTML
// except sanitized, which passes the text through the one policy first.
var funcs = map[string]any{
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
	// auditTarget names a kind of change of the audit trail in words.
	"auditTarget": auditTargetName,
	// fmtSize writes a file size as people read it (1,234 bytes, 56 KB,
	// 7.8 MB).
	"fmtSize": fmtSize,
}

// auditTargetNames are the audit trail's kinds of change in words.
var auditTargetNames = map[string]string{
	formbuilder.AuditForm: "Form", formbuilder.AuditField: "Field", formbuilder.AuditFormConsent: "Consent on a form",
	formbuilder.AuditConsent: "Consent", formbuilder.AuditSettings: "Settings", formbuilder.AuditUser: "Person",
	formbuilder.AuditToken: "API token", formbuilder.AuditWebhook: "Webhook", formbuilder.AuditEmail: "Notification address",
	formbuilder.AuditChannel: "Chat channel", formbuilder.AuditConversation: "Conversation", formbuilder.AuditOther: "Other",
}

func auditTargetName(t string) string {
	if n := auditTargetNames[t]; n != "" {
		return n
	}
	return t
}

func fmtSize(n int64) string {
	switch {
	case n < 10_000:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < 1_000_000:
		return strconv.FormatInt((n+500)/1000, 10) + " KB"
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
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
