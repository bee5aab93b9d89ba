package admin

import (
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// view is what every admin page template gets. Data holds the page's own
// struct; the rest is the frame: who is signed in, the page's language,
// the CSRF token for the page's forms, messages and per-field errors.
// Handlers set Title and Notice as text in the page's language (s.tr),
// Error and Errors by message code; render translates those into
// ErrorText and Errs, which the templates show.
type view struct {
	Title string
	// Nav names the active navigation item.
	Nav string
	// Lang is the page's language (s.lang); templates pass it to t.
	Lang   string
	Admin  *formbuilder.User
	CSRF   string
	Notice string
	// Removed lists what the sanitiser took out of the last saved HTML.
	Removed []string
	// Error is a message for the whole page; Errors map input ids to
	// messages shown next to the inputs and in the summary.
	Error  formbuilder.Msg
	Errors map[string]formbuilder.Msg
	// ErrorText and Errs are Error and Errors in the page's language.
	ErrorText string
	Errs      map[string]string
	Summary   []summaryItem
	CSS, JS   string
	BaseURL   string
	// Here is the page's own address, where the language switch returns.
	Here string
	// JSTexts are the texts admin.js and chat_admin.js show, in the
	// page's language (the "js." keys of the catalogs), as a JSON object
	// for the body's data-texts: an attribute, since the pages carry no
	// inline script.
	JSTexts string
	// Wide gives the page the window's width (up to 80rem) instead of
	// 60rem, for a table of many columns.
	Wide bool
	Data any
}

type summaryItem struct {
	Href, Text string
}

// lang is the language of the request's pages: the signed-in user's, else
// (the sign-in page, errors before sign-in) the browser's.
func (s *Server) lang(c *fiber.Ctx) string {
	if a := currentAdmin(c); a != nil && formbuilder.ValidLanguage(a.user.Language) {
		return a.user.Language
	}
	return formbuilder.NegotiateLang(c.Get(fiber.HeaderAcceptLanguage))
}

// tr is the catalog text key in the request's language, its parameters
// given as name, value pairs.
func (s *Server) tr(c *fiber.Ctx, key string, kv ...string) string {
	return formbuilder.T(s.lang(c), key, kv...)
}

// jsTexts are the texts of the admin's scripts per language, as JSON.
var jsTexts = map[string]string{}

func init() {
	for _, l := range formbuilder.Languages {
		m := map[string]string{}
		for _, k := range formbuilder.CatalogKeys(l) {
			if name, ok := strings.CutPrefix(k, "js."); ok {
				m[name] = formbuilder.T(l, k)
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		jsTexts[l] = string(b)
	}
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
	v.Lang = s.lang(c)
	l := v.Lang
	if v.Notice == "" && status < 400 {
		// ?msg= names a notice of the catalog; a fixed list, so the
		// query cannot put arbitrary text on the page.
		if key := "notice." + c.Query("msg"); c.Query("msg") != "" && formbuilder.HasText(l, key) {
			v.Notice = formbuilder.T(l, key)
		}
		if v.Removed == nil {
			for _, r := range c.Context().QueryArgs().PeekMulti("removed") {
				if len(v.Removed) < 20 && len(r) <= 80 {
					v.Removed = append(v.Removed, string(r))
				}
			}
		}
	}
	v.ErrorText = v.Error.Text(l)
	if len(v.Errors) > 0 {
		v.Errs = make(map[string]string, len(v.Errors))
		keys := make([]string, 0, len(v.Errors))
		for k, m := range v.Errors {
			v.Errs[k] = m.Text(l)
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			label := k
			if formbuilder.HasText(l, "label."+k) {
				label = formbuilder.T(l, "label."+k)
			}
			v.Summary = append(v.Summary, summaryItem{Href: "#" + k,
				Text: formbuilder.T(l, "frame.summary_item", "label", label, "message", v.Errs[k])})
		}
	}
	v.CSS, v.JS, v.BaseURL = s.css, s.js, s.BaseURL
	v.JSTexts = jsTexts[formbuilder.Lang(l)]
	if c.Method() == fiber.MethodGet {
		if here := string(c.Request().URI().RequestURI()); safeNext(here) {
			v.Here = here
		}
	}
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
func fieldErrorsFor(err error, prefix, as string) map[string]formbuilder.Msg {
	out := map[string]formbuilder.Msg{}
	fields := formbuilder.ErrorFieldMsgs(err)
	// In key order, so messages that join several problems list them
	// alike every time.
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		msg := fields[k]
		switch {
		case prefix != "" && strings.HasPrefix(k, prefix):
			out[as+inputID(strings.TrimPrefix(k, prefix))] = msg
		case strings.HasPrefix(k, "allowed_origins."):
			n, _ := strconv.Atoi(strings.TrimPrefix(k, "allowed_origins."))
			line := formbuilder.M(formbuilder.MsgLine, "n", strconv.Itoa(n+1)).With("problem", msg)
			if prev := out["allowed_origins"]; !prev.IsZero() {
				line = formbuilder.M(formbuilder.MsgJoin).With("a", prev).With("b", line)
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
			out["fields"] = formbuilder.M(formbuilder.MsgOtherField, "n", strconv.Itoa(i+1), "name", name).With("problem", msg)
		default:
			out[inputID(k)] = msg
		}
	}
	return out
}

// badPageLink says that parameter param of a pager link is wrong (a link
// edited by hand or from an older version): pager parameters have no input
// to point at.
func badPageLink(param string, problem formbuilder.Msg) formbuilder.Msg {
	return formbuilder.M(formbuilder.MsgBadPageLink, "param", param).With("problem", problem)
}

// funcs are the template helpers; none of them produce unescaped HTML
// except sanitized, which passes the text through the one policy first,
// and th, whose markup comes from the compiled-in catalogs and whose
// parameters are escaped. Helpers that show words take the page's language
// (view.Lang) first: the engine has one FuncMap for every request.
var funcs = map[string]any{
	// t is the catalog text of key in lang; kv are its parameters as
	// name, value pairs.
	"t": func(lang, key string, kv ...any) string { return formbuilder.T(lang, key, strs(kv)...) },
	// th is t for the keys ending in "_html", whose text holds markup.
	"th": func(lang, key string, kv ...any) template.HTML {
		p := strs(kv)
		for i := 1; i < len(p); i += 2 {
			p[i] = html.EscapeString(p[i])
		}
		return template.HTML(formbuilder.T(lang, key, p...))
	},
	// msg is a message by code in lang.
	"msg": func(lang string, m formbuilder.Msg) string { return m.Text(lang) },
	"fmtTime": func(lang string, t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format(formbuilder.T(lang, "format.minute"))
	},
	// sanitized renders admin-authored HTML. It was sanitised when stored;
	// sanitising again (idempotent) keeps the admin safe even from rows
	// written by other tools.
	"sanitized": func(s string) template.HTML { return template.HTML(formbuilder.Sanitize(s)) },
	"label":     formbuilder.ParseLabel,
	"lines":     func(xs []string) string { return strings.Join(xs, "\n") },
	"kinds":     func() []formbuilder.FieldKind { return formbuilder.FieldKinds },
	"kindLabel": func(lang string, k formbuilder.FieldKind) string { return named(lang, "kind.", string(k)) },
	"hasOptions": func(k formbuilder.FieldKind) bool {
		return k.HasOptions()
	},
	"add":       func(a, b int) int { return a + b },
	"languages": func() []string { return formbuilder.Languages },
	"langName":  func(lang, l string) string { return named(lang, "langname.", l) },
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
	// auditTarget and auditAction name a kind of change of the audit
	// trail and what was done in words.
	"auditTarget": func(lang, t string) string { return named(lang, "audit.target.", t) },
	"auditAction": func(lang, a string) string { return named(lang, "audit.action.", a) },
	// deliveryError is what a delivery attempt failed with, in lang: by
	// its message code, or the stored English text on attempts recorded
	// before codes were kept.
	"deliveryError": func(lang string, msg formbuilder.Msg, text string) string {
		if msg.IsZero() {
			return text
		}
		return msg.Text(lang)
	},
	// fmtSize writes a file size as people read it (1,234 bytes, 56 KB,
	// 7.8 MB; in German 1.234 Bytes, 7,8 MB).
	"fmtSize": fmtSize,
}

// fmtSize writes n bytes as people of lang read a file size.
func fmtSize(lang string, n int64) string {
	var num, key string
	switch {
	case n < 10_000:
		num, key = strconv.FormatInt(n, 10), "size.bytes"
	case n < 1_000_000:
		num, key = strconv.FormatInt((n+500)/1000, 10), "size.kb"
	default:
		num, key = strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64), "size.mb"
	}
	if formbuilder.Lang(lang) == formbuilder.LangDE {
		num = strings.ReplaceAll(num, ".", ",")
	}
	return formbuilder.T(lang, key, "n", num)
}

// strs formats template arguments as strings.
func strs(kv []any) []string {
	out := make([]string, len(kv))
	for i, v := range kv {
		out[i] = fmt.Sprint(v)
	}
	return out
}

// named is the catalog's word for value among the words under prefix
// ("kind.email"), or value itself when the catalog has none.
func named(lang, prefix, value string) string {
	if formbuilder.HasText(formbuilder.LangEN, prefix+value) {
		return formbuilder.T(lang, prefix+value)
	}
	return value
}
