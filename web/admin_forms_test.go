package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
)

// formID returns the id in a /admin/forms/ID… redirect.
func formID(t *testing.T, loc string) int64 {
	t.Helper()
	rest := strings.TrimPrefix(loc, "/admin/forms/")
	n, err := strconv.ParseInt(strings.FieldsFunc(rest, func(r rune) bool { return r == '?' || r == '#' || r == '/' })[0], 10, 64)
	require.NoError(t, err, loc)
	return n
}

func TestFormsListAndNewFormPage(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, body := e.Get("/admin/forms")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `id="new-form"`)
	require.Contains(t, body, "No forms yet")

	live := e.SeedForm(&formbuilder.Form{Name: "Live <b>form</b>"})
	old := e.SeedForm(&formbuilder.Form{Name: "Old form"})
	require.NoError(t, e.DB.ArchiveForm(t.Context(), old.ID, true))
	_, body = e.Get("/admin/forms")
	require.Contains(t, body, `id="forms-list"`)
	require.Contains(t, body, "Live &lt;b&gt;form&lt;/b&gt;", "names are escaped")
	require.Contains(t, body, `href="/admin/forms/`+strconv.FormatInt(live.ID, 10)+`"`)
	require.NotContains(t, body, "Old form")
	_, body = e.Get("/admin/forms?archived=1")
	require.Contains(t, body, "Old form")
	require.Contains(t, body, "archived")

	resp, body = e.Get("/admin/forms/new")
	require.Equal(t, 200, resp.StatusCode)
	for _, id := range []string{"name", "title", "language", "description", "submit_label", "success_message",
		"redirect_url", "responsible_user_id", "allowed_origins", "retention_days"} {
		require.Contains(t, body, `id="`+id+`"`, id)
	}
	require.Contains(t, body, "Ada Admin", "users offered as responsible")
}

func TestFormCreateValidationAndSuccess(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, body := e.Post("/admin/forms", url.Values{
		"name": {""}, "language": {"fr"}, "title": {"Kept <title>"},
		"allowed_origins": {"https://ok.example\nnot an origin\nhttps://x.example/path"},
		"retention_days":  {"soon"}, "redirect_url": {"javascript:alert(1)"},
	})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is required", testenv.FieldError(body, "name"))
	require.Contains(t, testenv.FieldError(body, "retention_days"), "whole number")
	// The parse error stops before domain validation; fix it and see the rest.
	resp, body = e.Post("/admin/forms", url.Values{
		"name": {""}, "language": {"fr"}, "title": {"Kept <title>"},
		"allowed_origins": {"https://ok.example\nnot an origin\nhttps://x.example/path"},
		"redirect_url":    {"javascript:alert(1)"},
	})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is required", testenv.FieldError(body, "name"))
	require.Contains(t, testenv.FieldError(body, "language"), "de, en")
	require.Contains(t, testenv.FieldError(body, "redirect_url"), "http")
	origins := testenv.FieldError(body, "allowed_origins")
	require.Contains(t, origins, "line 2:")
	require.Contains(t, origins, "line 3:")
	require.NotContains(t, origins, "line 1:")
	require.Contains(t, body, `id="error-summary"`)
	require.Contains(t, body, `href="#allowed_origins"`)
	require.Contains(t, body, `value="Kept &lt;title&gt;"`, "typed values are kept, escaped")
	require.Contains(t, body, `aria-invalid="true"`)
	forms, _ := e.DB.ListForms(t.Context(), formbuilderFilterAll)
	require.Empty(t, forms)

	resp, _ = e.Post("/admin/forms", url.Values{
		"name": {"Contact"}, "title": {"Write to us"}, "language": {"de"},
		"description":         {`<p>Hello <script>alert(1)</script><a href="https://x.example" onclick="x()">x</a></p>`},
		"allowed_origins":     {"HTTPS://Shop.Example:443\n\n https://www.example.com "},
		"retention_days":      {"30"},
		"responsible_user_id": {strconv.FormatInt(e.Admin.ID, 10)},
		"success_message":     {"Thanks!"},
	})
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	require.Contains(t, loc, "msg=created")
	require.Contains(t, loc, "removed=")
	f := e.Form(formID(t, loc))
	require.Equal(t, "Contact", f.Name)
	require.Equal(t, "de", f.Language)
	require.Equal(t, []string{"https://shop.example", "https://www.example.com"}, f.AllowedOrigins)
	require.Equal(t, 30, f.RetentionDays)
	require.Equal(t, e.Admin.ID, f.ResponsibleUserID)
	require.NotContains(t, f.Description, "script")
	require.NotContains(t, f.Description, "onclick")
	require.True(t, formbuilder.ValidFormKey(f.Key))

	_, body = e.Get(loc)
	require.Contains(t, body, "Form created.")
	require.Contains(t, body, `id="sanitizer-notice"`)
	require.Contains(t, body, "&lt;script&gt;")
	require.Contains(t, body, "event handler attributes")
}

func TestFormSettingsSaveInvalidatesPublicPage(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	f := e.SeedForm(&formbuilder.Form{Name: "Contact", Title: "Old title",
		Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	resp, body := e.Get("/f/" + f.Key)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, "Old title")

	edit := "/admin/forms/" + strconv.FormatInt(f.ID, 10)
	resp, body = e.Get(edit)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `value="Old title"`)

	vals := url.Values{"name": {"Contact"}, "title": {"New title"}, "language": {"en"},
		"version": {strconv.Itoa(f.Version)}, "responsible_user_id": {"999"}}
	resp, body = e.Post(edit, vals)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is not a known user", testenv.FieldError(body, "responsible_user_id"))

	vals.Set("responsible_user_id", strconv.FormatInt(e.Admin.ID, 10))
	resp, _ = e.Post(edit, vals)
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	require.Contains(t, loc, "msg=saved")
	_, body = e.Get(loc)
	require.Contains(t, body, `id="page-notice">Saved.`)
	require.Equal(t, "Ada Admin", e.Form(f.ID).ResponsibleUser)

	_, body = e.Get("/f/" + f.Key)
	require.Contains(t, body, "New title", "the cached public page was invalidated")

	// A post from a page of an older version is refused, nothing saved.
	vals.Set("title", "Stale title")
	resp, body = e.Post(edit, vals)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, testenv.PageError(body), "changed in another window")
	require.Equal(t, "New title", e.Form(f.ID).Title)
}

func TestFieldEditorEveryKind(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	f := e.SeedForm(&formbuilder.Form{Name: "All kinds"})
	base := "/admin/forms/" + strconv.FormatInt(f.ID, 10)
	_, body := e.Get(base)
	for _, id := range []string{"add-field", "field-label", "field-kind", "field-key", "field-required",
		"field-placeholder", "field-help", "field-options", "field-default", "field-max_length"} {
		require.Contains(t, body, `id="`+id+`"`, id)
	}
	for _, k := range formbuilder.FieldKinds {
		require.Contains(t, body, `<option value="`+string(k)+`"`, k)
	}

	for i, k := range formbuilder.FieldKinds {
		vals := url.Values{"label": {"Field " + string(k)}, "kind": {string(k)},
			"version": {strconv.Itoa(e.Form(f.ID).Version)}, "help": {"Help " + string(k)},
			"placeholder": {"Type " + string(k)}}
		switch k {
		case formbuilder.KindSelect, formbuilder.KindRadio, formbuilder.KindCheckbox:
			vals.Set("options", "Red\r\nGreen\n\nBlue\n")
			vals.Set("default", "Green")
		case formbuilder.KindHidden:
			vals.Set("default", "campaign-7")
		case formbuilder.KindText:
			vals.Set("max_length", "50")
			vals.Set("required", "1")
		}
		resp, body := e.Post(base+"/fields", vals)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "%s: %s", k, testenv.PageError(body)+body[:0])
		got := e.Form(f.ID).Fields
		require.Len(t, got, i+1)
		fl := got[i]
		require.Equal(t, k, fl.Kind)
		require.Equal(t, "field_"+string(k), fl.Key, "key derived from the label")
		require.Equal(t, "Help "+string(k), fl.Help)
		if k.HasOptions() {
			require.Equal(t, []string{"Red", "Green", "Blue"}, fl.Options)
			require.Equal(t, "Green", fl.Default)
		}
		if k == formbuilder.KindText {
			require.True(t, fl.Required)
			require.Equal(t, 50, fl.MaxLength)
		}
	}
	_, body = e.Get(base)
	require.Contains(t, body, `id="field-list"`)
	require.Contains(t, body, "Field textarea")

	// The public form shows them.
	resp, pub := e.Get("/f/" + f.Key)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, pub, "Field radio")
}

func TestFieldEditorValidationErrors(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	f := e.SeedForm(&formbuilder.Form{Name: "F", Fields: []formbuilder.Field{
		{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	base := "/admin/forms/" + strconv.FormatInt(f.ID, 10)
	ver := strconv.Itoa(f.Version)

	resp, body := e.Post(base+"/fields", url.Values{"label": {"Colour"}, "kind": {"select"}, "version": {ver}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "needs at least one option", testenv.FieldError(body, "field-options"))
	require.Contains(t, body, `value="Colour"`, "the add-field inputs keep what was typed")

	resp, body = e.Post(base+"/fields", url.Values{"label": {"Mail 2"}, "key": {"email"}, "kind": {"email"}, "version": {ver}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is used twice", testenv.FieldError(body, "field-key"))

	resp, body = e.Post(base+"/fields", url.Values{"label": {"X"}, "key": {"9bad key"}, "kind": {"text"},
		"max_length": {"lots"}, "version": {ver}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, testenv.FieldError(body, "field-max_length"), "whole number")

	resp, body = e.Post(base+"/fields", url.Values{"label": {"X"}, "key": {"9bad key"}, "kind": {"text"},
		"max_length": {"20000"}, "options": {"a"}, "version": {ver}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, testenv.FieldError(body, "field-options"), "only drop-down lists")

	resp, body = e.Post(base+"/fields", url.Values{"label": {"X"}, "key": {"9bad key"}, "kind": {"text"},
		"max_length": {"20000"}, "version": {ver}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, testenv.FieldError(body, "field-key"), "must start with a letter")
	require.Contains(t, testenv.FieldError(body, "field-max_length"), "between 0 and 10000")

	resp, body = e.Post(base+"/fields", url.Values{"label": {"Kind?"}, "kind": {"rocket"}, "version": {ver}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is not a known field kind", testenv.FieldError(body, "field-kind"))

	resp, body = e.Post(base+"/fields", url.Values{"label": {"Age"}, "kind": {"number"}, "default": {"old"}, "version": {ver}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "must be a number", testenv.FieldError(body, "field-default"))

	require.Len(t, e.Form(f.ID).Fields, 1, "nothing was added")
}

func TestFieldEditReorderRemove(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	f := e.SeedForm(&formbuilder.Form{Name: "F", Fields: []formbuilder.Field{
		{Key: "a", Label: "A", Kind: formbuilder.KindText},
		{Key: "b", Label: "B", Kind: formbuilder.KindText},
		{Key: "c", Label: "C", Kind: formbuilder.KindText},
	}})
	base := "/admin/forms/" + strconv.FormatInt(f.ID, 10)
	keys := func() string {
		var ks []string
		for _, fl := range e.Form(f.ID).Fields {
			ks = append(ks, fl.Key)
		}
		return strings.Join(ks, ",")
	}
	ver := func() string { return strconv.Itoa(e.Form(f.ID).Version) }

	resp, body := e.Get(base + "/fields/2")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `id="edit-field"`)
	require.Contains(t, body, `value="B"`)
	resp, _ = e.Get(base + "/fields/4")
	require.Equal(t, 404, resp.StatusCode)
	resp, _ = e.Get(base + "/fields/x")
	require.Equal(t, 404, resp.StatusCode)

	resp, body = e.Post(base+"/fields/2", url.Values{"label": {""}, "key": {"b"}, "kind": {"text"}, "version": {ver()}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is required", testenv.FieldError(body, "field-label"))

	resp, _ = e.Post(base+"/fields/2", url.Values{"label": {"Bee"}, "key": {"bee"}, "kind": {"email"},
		"required": {"1"}, "version": {ver()}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=field-saved")
	fl := e.Form(f.ID).Fields[1]
	require.Equal(t, "bee", fl.Key)
	require.Equal(t, formbuilder.KindEmail, fl.Kind)
	require.True(t, fl.Required)

	resp, _ = e.Post(base+"/fields/3/move", url.Values{"dir": {"up"}, "version": {ver()}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "a,c,bee", keys())
	resp, _ = e.Post(base+"/fields/1/move", url.Values{"dir": {"down"}, "version": {ver()}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "c,a,bee", keys())
	resp, _ = e.Post(base+"/fields/1/move", url.Values{"dir": {"up"}, "version": {ver()}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "c,a,bee", keys(), "the first cannot move up")

	// A post from an outdated page would hit the wrong field: refused.
	resp, body = e.Post(base+"/fields/1/delete", url.Values{"version": {"1"}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, testenv.PageError(body), "changed")
	require.Equal(t, "c,a,bee", keys())

	resp, _ = e.Post(base+"/fields/1/delete", url.Values{"version": {ver()}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=field-deleted")
	require.Equal(t, "a,bee", keys())
}

func TestFormConsentsAttachSwitchesReorderDetach(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	c1 := e.SeedConsent("Privacy", "<p>Privacy text</p>", "I agree to the %privacy terms%.")
	c2 := e.SeedConsent("Newsletter", "<p>News</p>", "Send me news.")
	f := e.SeedForm(&formbuilder.Form{Name: "F", Fields: []formbuilder.Field{
		{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	base := "/admin/forms/" + strconv.FormatInt(f.ID, 10)
	ver := func() string { return strconv.Itoa(e.Form(f.ID).Version) }

	_, body := e.Get(base)
	require.Contains(t, body, `id="attach-consent"`)
	require.Contains(t, body, `id="attach-checked" name="checked_by_default" value="1" checked`)
	require.Contains(t, body, `id="attach-required" name="required" value="1" checked`)
	require.Contains(t, body, "A pre-ticked box is not valid consent under the GDPR")
	require.Contains(t, body, "Recital 32")
	require.Contains(t, body, "C-673/17")
	require.Contains(t, body, "Planet49")
	require.Contains(t, body, "EDPB Guidelines 05/2020")
	require.Contains(t, body, "Privacy")

	// Browsers send ticked boxes only: the defaults (both on).
	resp, _ := e.Post(base+"/consents", url.Values{"consent_id": {strconv.FormatInt(c1.ID, 10)},
		"checked_by_default": {"1"}, "required": {"1"}, "version": {ver()}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-attached")
	// Both switched off.
	resp, _ = e.Post(base+"/consents", url.Values{"consent_id": {strconv.FormatInt(c2.ID, 10)}, "version": {ver()}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	got := e.Form(f.ID).Consents
	require.Len(t, got, 2)
	require.Equal(t, c1.ID, got[0].ConsentID)
	require.True(t, got[0].CheckedByDefault)
	require.True(t, got[0].Required)
	require.False(t, got[1].CheckedByDefault)
	require.False(t, got[1].Required)

	_, body = e.Get(base)
	require.Contains(t, body, `id="consent-list"`)
	require.Contains(t, body, `<u>privacy terms</u>`)
	require.Contains(t, body, "Every consent is attached.")

	// Attaching twice or an unknown consent is refused next to the select.
	resp, body = e.Post(base+"/consents", url.Values{"consent_id": {strconv.FormatInt(c1.ID, 10)}, "version": {ver()}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, body, "is attached twice")
	resp, _ = e.Post(base+"/consents", url.Values{"consent_id": {"9999"}, "version": {ver()}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	cid := func(c *formbuilder.Consent) string { return strconv.FormatInt(c.ID, 10) }
	resp, _ = e.Post(base+"/consents/"+cid(c2), url.Values{"checked_by_default": {"1"}, "version": {ver()}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-saved")
	got = e.Form(f.ID).Consents
	require.True(t, got[1].CheckedByDefault)
	require.False(t, got[1].Required)

	resp, _ = e.Post(base+"/consents/"+cid(c2)+"/move", url.Values{"dir": {"up"}, "version": {ver()}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, c2.ID, e.Form(f.ID).Consents[0].ConsentID)

	// The public form follows at once (cache invalidated).
	_, pub := e.Get("/f/" + f.Key)
	require.Contains(t, pub, "Send me news.")

	resp, _ = e.Post(base+"/consents/"+cid(c2)+"/delete", url.Values{"version": {ver()}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-detached")
	got = e.Form(f.ID).Consents
	require.Len(t, got, 1)
	require.Equal(t, c1.ID, got[0].ConsentID)
	_, pub = e.Get("/f/" + f.Key)
	require.NotContains(t, pub, "Send me news.")

	resp, _ = e.Post(base+"/consents/"+cid(c2)+"/delete", url.Values{"version": {ver()}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestFormArchiveAndRestore(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	f := e.SeedForm(&formbuilder.Form{Name: "F", Fields: []formbuilder.Field{
		{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	base := "/admin/forms/" + strconv.FormatInt(f.ID, 10)
	resp, _ := e.Get("/f/" + f.Key)
	require.Equal(t, 200, resp.StatusCode)

	resp, _ = e.Post(base+"/archive", url.Values{"archived": {"1"}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=archived")
	require.True(t, e.Form(f.ID).Archived)
	resp, _ = e.Get("/f/" + f.Key)
	require.Equal(t, http.StatusGone, resp.StatusCode)
	_, body := e.Get(base)
	require.Contains(t, body, `id="unarchive"`)
	_, body = e.Get(base + "/preview")
	require.Contains(t, body, "archived")
	require.NotContains(t, body, "<iframe")

	resp, _ = e.Post(base+"/archive", url.Values{"archived": {"0"}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=unarchived")
	require.False(t, e.Form(f.ID).Archived)
	resp, _ = e.Get("/f/" + f.Key)
	require.Equal(t, 200, resp.StatusCode)
}

func TestFormPreviewAndEmbedPages(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	f := e.SeedForm(&formbuilder.Form{Name: "F", Fields: []formbuilder.Field{
		{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	base := "/admin/forms/" + strconv.FormatInt(f.ID, 10)

	resp, body := e.Get(base + "/preview")
	require.Equal(t, 200, resp.StatusCode)
	src := html.UnescapeString(testenv.Find(t, body, `<iframe src="(/f/`+f.Key+`\?preview=[^"]+)"`))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-src 'self'")
	// The framed page lets this origin frame it.
	resp, _ = e.Get(src)
	require.Equal(t, 200, resp.StatusCode)
	require.Empty(t, resp.Header.Get("X-Frame-Options"))

	resp, body = e.Get(base + "/embed")
	require.Equal(t, 200, resp.StatusCode)
	snippet := func(id string) string {
		return html.UnescapeString(testenv.Find(t, body, `(?s)<textarea id="snippet-`+id+`"[^>]*>(.*?)</textarea>`))
	}
	require.Equal(t, `<script src="`+testenv.BaseURL+`/embed.js" data-consentforms="inline/`+f.Key+`" async></script>`,
		snippet("inline"))
	require.Equal(t, `<script src="`+testenv.BaseURL+`/embed.js" data-consentforms="click/`+f.Key+`" async></script>`+
		"\n"+`<button type="button">Contact us</button>`, snippet("click"))
	require.Equal(t, `<script src="`+testenv.BaseURL+`/embed.js" data-consentforms="auto/`+f.Key+`" data-delay="5" data-frequency="session" async></script>`,
		snippet("auto"))
	hint := func(id string) string {
		return html.UnescapeString(testenv.Find(t, body, `(?s)<p class="hint" id="snippet-`+id+`-hint">(.*?)</p>`))
	}
	// data-trigger as the loader reads it: an id with or without "#"
	// (issue 15: 7); data-frequency with each of its values.
	require.Contains(t, hint("click"), `data-trigger="contact-button"`)
	require.Contains(t, hint("click"), `data-trigger="#contact-button"`)
	require.Contains(t, hint("click"), "both work")
	for _, v := range []string{`data-frequency="session"`, `"always"`, `"7d"`, "data-delay"} {
		require.Contains(t, hint("auto"), v)
	}
	require.Equal(t, testenv.BaseURL+"/f/"+f.Key, snippet("link"))
	require.Equal(t, "script-src "+testenv.BaseURL+"; frame-src "+testenv.BaseURL, snippet("csp"))
	for _, id := range []string{"inline", "click", "auto", "link", "csp"} {
		require.Contains(t, body, `id="copy-`+id+`" data-copy="snippet-`+id+`"`)
	}
	require.Contains(t, body, "Any website may embed this form")

	resp, _ = e.Get("/admin/forms/9999/embed")
	require.Equal(t, 404, resp.StatusCode)
}

func TestAdminErrorsAreHTML(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	for _, p := range []string{"/admin/forms/9999", "/admin/forms/abc", "/admin/forms/-1", "/admin/nope",
		"/admin/consents/123", "/admin/consents/123/versions"} {
		resp, body := e.Get(p)
		require.Equal(t, 404, resp.StatusCode, p)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", p)
		require.Contains(t, body, "<h1>Not found</h1>", p)
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), p)
	}
	req, _ := http.NewRequest(http.MethodDelete, "/admin/forms", nil)
	resp := e.Do(req)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	// Asking for JSON changes nothing: admin pages never answer JSON.
	req, _ = http.NewRequest(http.MethodGet, "/admin/forms/9999", nil)
	req.Header.Set("Accept", "application/json")
	resp = e.Do(req)
	require.Equal(t, 404, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
}
