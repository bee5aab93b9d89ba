package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/jsonx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) routesPublic(app *fiber.App) {
	app.Get("/f/:key", s.handleFormPage)
	app.Post("/f/:key", s.limitPublicPost, s.handleFormSubmit)
	app.Options("/f/:key", s.handleFormPreflight)
	app.Get("/w/:token", s.handleWithdrawPage)
	app.Post("/w/:token", s.limitPublicPost, s.handleWithdrawConfirm)
	app.Get("/static/:name", s.handleAsset)
	app.Get("/embed.js", s.handleEmbedJS)
}

// loadForm returns the cached form for the :key param, or a not-found error
// for keys that cannot exist, before any storage lookup (formCache.get
// checks the key pattern on a cache miss).
func (s *Server) loadForm(c *fiber.Ctx) (*cachedForm, error) {
	key := c.Params("key")
	// fasthttp read the clock when the request came in; the cache's TTL
	// needs no second reading.
	cf, err := s.forms.get(c.UserContext(), key, c.Context().Time())
	if err != nil {
		if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
			return nil, formbuilder.Errorf(formbuilder.ENOTFOUND, "form not found")
		}
		return nil, err
	}
	if cf.form.Archived {
		return nil, formbuilder.Errorf(formbuilder.EGONE, "%s", ifLang(cf.form.Language,
			"Dieses Formular nimmt keine Eingaben mehr an.", "This form no longer accepts submissions."))
	}
	return cf, nil
}

// setPublicPageHeaders sets the headers of every page a visitor sees. The
// form may be framed only by its allowed origins (frame-ancestors, no
// X-Frame-Options, which cannot list origins); scripts and styles only from
// this server.
func setPublicPageHeaders(c *fiber.Ctx, f *formbuilder.Form) {
	setPublicPageHeadersCSP(c, publicCSP(f))
}

// publicCSP is the Content-Security-Policy of the pages of form f (nil for
// pages of no form). The form cache keeps it per form version.
func publicCSP(f *formbuilder.Form) string {
	ancestors := "*"
	formAction := "'self'"
	if f != nil {
		if len(f.AllowedOrigins) > 0 {
			ancestors = "'self'"
			for _, o := range f.AllowedOrigins {
				if n, err := formbuilder.NormalizeOrigin(o); err == nil {
					ancestors += " " + n
				}
			}
		}
		if f.RedirectURL != "" {
			// Chromium applies form-action to the redirect after a post.
			if u, err := url.Parse(f.RedirectURL); err == nil {
				formAction += " " + u.Scheme + "://" + u.Host
			}
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action " + formAction +
		"; frame-ancestors " + ancestors
}

func setPublicPageHeadersCSP(c *fiber.Ctx, csp string) {
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "strict-origin-when-cross-origin")
}

// handleFormPage serves the hosted form from the form cache: bytes rendered
// once per form version, assembled with the render token once a second, in
// the coding the client accepts (gzip spliced around the token, see
// gzipSplice; no brotli, which cannot be spliced safely). No template runs
// and storage is not read.
func (s *Server) handleFormPage(c *fiber.Ctx) error {
	cf, err := s.loadForm(c)
	if err != nil {
		return err
	}
	page := cf.pages[0]
	if string(c.Context().QueryArgs().Peek("embed")) == "1" {
		page = cf.pages[1]
	}
	enc := negotiate(c.Request().Header.Peek(fiber.HeaderAcceptEncoding), false)
	page.headers[min(enc, encGzip)].set(c)
	if etagMatches(c.Request().Header.Peek(fiber.HeaderIfNoneMatch), page.etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	key := cf.form.Key
	b := page.body(s.now(), func(at time.Time) string { return s.renderToken(key, at) })
	h := &c.Response().Header
	h.SetContentType(fiber.MIMETextHTMLCharsetUTF8)
	if enc == encGzip {
		h.SetContentEncoding("gzip")
		return c.Send(b.gzip)
	}
	return c.Send(b.identity)
}

// submission is what a post carries besides the field values.
type submission struct {
	in       formbuilder.SubmissionInput
	token    string
	honeypot string
	embed    bool
}

func badRequest(msg string) error { return formbuilder.Errorf(formbuilder.EINVALID, "%s", msg) }

// parseSubmission reads a form post (urlencoded or multipart, as FormData
// sends) or a JSON body into a SubmissionInput.
func (s *Server) parseSubmission(c *fiber.Ctx) (*submission, error) {
	sub := &submission{in: formbuilder.SubmissionInput{
		Values:    map[string][]string{},
		Consents:  map[int64]formbuilder.ConsentInput{},
		IP:        s.clientIP(c),
		UserAgent: c.Get(fiber.HeaderUserAgent),
	}}
	if len(c.Body()) == 0 {
		return nil, fiber.NewError(fiber.StatusBadRequest, "empty request body")
	}
	ct := c.Request().Header.ContentType()
	switch {
	case contentTypeIs(ct, fiber.MIMEApplicationJSON):
		return sub, s.parseJSONSubmission(c, sub)
	case contentTypeIs(ct, fiber.MIMEApplicationForm), contentTypeIs(ct, fiber.MIMEMultipartForm):
		vals, err := postValues(c, contentTypeIs(ct, fiber.MIMEMultipartForm))
		if err != nil {
			return nil, err
		}
		return sub, parseFormSubmission(vals, sub)
	}
	return nil, fiber.NewError(fiber.StatusUnsupportedMediaType,
		"send application/x-www-form-urlencoded, multipart/form-data or application/json")
}

// contentTypeIs reports whether strings.ToLower(string(ct)) starts with
// prefix (lower-case ASCII), without that string for the usual ASCII ct.
func contentTypeIs(ct []byte, prefix string) bool {
	for _, b := range ct {
		if b >= utf8.RuneSelf {
			// ToLower maps some non-ASCII letters to ASCII ones (U+0130 to
			// 'i', U+212A to 'k').
			return strings.HasPrefix(strings.ToLower(string(ct)), prefix)
		}
	}
	return len(ct) >= len(prefix) && bytes.EqualFold(ct[:len(prefix)], []byte(prefix))
}

// maxValuesPerKey bounds repeated keys (checkbox groups) per field.
const maxValuesPerKey = formbuilder.MaxOptions

// maxPostKeys bounds the distinct keys of one post: far more than any form
// has, few enough that an error answer naming each stays small.
const maxPostKeys = 200

func postValues(c *fiber.Ctx, multipart bool) (map[string][]string, error) {
	var vals map[string][]string
	if multipart {
		mf, err := c.MultipartForm()
		if err != nil {
			return nil, badRequest("the multipart body could not be read")
		}
		if len(mf.File) > 0 {
			return nil, badRequest("file uploads are not accepted")
		}
		vals = make(map[string][]string, len(mf.Value))
		for k, v := range mf.Value {
			vals[k] = v
		}
	} else {
		args := c.Request().PostArgs()
		// Every key and value is a slice of one string, and every first
		// value of a key a slice of one array: three allocations per pair
		// were a third of a post's.
		pairs, size := 0, 0
		args.VisitAll(func(k, v []byte) {
			pairs++
			size += len(k) + len(v)
		})
		vals = make(map[string][]string, min(pairs, maxPostKeys))
		firsts := make([]string, pairs)
		var all strings.Builder
		all.Grow(size) // never grows again, so the strings below stay put
		var bad error
		args.VisitAll(func(kb, vb []byte) {
			if bad != nil {
				return
			}
			all.Write(kb)
			all.Write(vb)
			s := all.String()
			k, v := s[len(s)-len(kb)-len(vb):len(s)-len(vb)], s[len(s)-len(vb):]
			have, ok := vals[k]
			switch {
			case len(have) >= maxValuesPerKey:
				bad = badRequest("too many values for one field")
			case !ok && len(vals) >= maxPostKeys:
				bad = badRequest("too many fields")
			case ok:
				vals[k] = append(have, v)
			default:
				firsts[0] = v
				vals[k] = firsts[:1:1]
				firsts = firsts[1:]
			}
		})
		if bad != nil {
			return nil, bad
		}
	}
	if len(vals) > maxPostKeys {
		return nil, badRequest("too many fields")
	}
	for k, v := range vals {
		if len(v) > maxValuesPerKey {
			return nil, badRequest("too many values for one field")
		}
		if !utf8.ValidString(k) || len(k) > 100 {
			return nil, badRequest("invalid field name")
		}
	}
	return vals, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// parseFormSubmission sorts posted keys into field values, consent boxes and
// the hidden fields the widget renders (see widget's form template).
func parseFormSubmission(vals map[string][]string, sub *submission) error {
	for k, v := range vals {
		switch {
		case k == "_token":
			sub.token = first(v)
		case k == "_page_url":
			sub.in.PageURL = first(v)
		case k == "_embed":
			sub.embed = first(v) == "1"
		case k == "website":
			sub.honeypot = first(v)
		case strings.HasPrefix(k, "consent_"):
			rest := k[len("consent_"):]
			idStr, suffix, _ := strings.Cut(rest, "_")
			id, err := strconv.ParseInt(idStr, 10, 64)
			if err != nil || id <= 0 {
				return formbuilder.FieldErrors(map[string]string{k: "is not a consent of this form"})
			}
			ci := sub.in.Consents[id]
			val := first(v)
			switch suffix {
			case "":
				ci.Checked = val != "" && val != "0"
			case "initial":
				ci.Initial = val == "1"
			case "interacted":
				ci.Interacted = val == "1"
			case "version":
				n, err := strconv.ParseInt(val, 10, 64)
				if err != nil || n < 0 {
					return formbuilder.FieldErrors(map[string]string{k: "must be a version id"})
				}
				ci.VersionID = n
			default:
				return formbuilder.FieldErrors(map[string]string{k: "is not a field of this form"})
			}
			sub.in.Consents[id] = ci
		case strings.HasPrefix(k, "_"):
			// Other underscore fields are the widget's; ignore unknown ones
			// so older cached pages keep working.
		default:
			sub.in.Values[k] = v
		}
	}
	for id, ci := range sub.in.Consents {
		// Without JavaScript nothing sets _interacted, but a box sent in
		// another state than it was shown in was changed by the visitor.
		if ci.Checked != ci.Initial {
			ci.Interacted = true
			sub.in.Consents[id] = ci
		}
	}
	return nil
}

func (s *Server) parseJSONSubmission(c *fiber.Ctx, sub *submission) error {
	return parseSubmissionJSON(c.Body(), sub)
}

// maxJSONDepth is the deepest nesting a submission needs: the body, the
// consents map, one consent object (or a list of values).
const maxJSONDepth = 4

// checkJSONShape refuses JSON that nests deeper than a submission can, or
// repeats a key in one object (parsers disagree on which one wins).
func checkJSONShape(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		keys  map[string]bool
		isObj bool
		key   bool // the next string token in an object is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// Syntax errors are reported by the real decode.
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.isObj && top.key {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return badRequest("the JSON body repeats the key " + strconv.Quote(safeForMessage(k)))
				}
				top.keys[k] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if top != nil && top.isObj {
				top.key = true
			}
			if len(stack) >= maxJSONDepth {
				return badRequest("the JSON body is nested too deeply")
			}
			isObj := tok == json.Delim('{')
			f := frame{isObj: isObj, key: isObj}
			if isObj {
				f.keys = map[string]bool{}
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		default:
			if top != nil && top.isObj {
				top.key = true
			}
		}
	}
}

// checkPostOrigin refuses cross-origin posts from origins the form does not
// allow. The hosted page and the iframe post from this server's own origin.
func (s *Server) checkPostOrigin(c *fiber.Ctx, f *formbuilder.Form) error {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || len(f.AllowedOrigins) == 0 {
		return nil
	}
	if self, err := formbuilder.NormalizeOrigin(s.cfg.BaseURL); err == nil {
		if o, err := formbuilder.NormalizeOrigin(origin); err == nil && o == self {
			return nil
		}
	}
	if f.OriginAllowed(origin) {
		return nil
	}
	return formbuilder.Errorf(formbuilder.EFORBIDDEN, "this form does not accept posts from %s", safeForMessage(origin))
}

func safeForMessage(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return strings.ToValidUTF8(s, "?")
}

// setCORS answers cross-origin requests of allowed origins, never with
// credentials: forms need no cookies.
func setCORS(c *fiber.Ctx, f *formbuilder.Form) {
	origin := c.Get(fiber.HeaderOrigin)
	c.Vary(fiber.HeaderOrigin)
	if origin == "" {
		return
	}
	if len(f.AllowedOrigins) == 0 {
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
		return
	}
	if f.OriginAllowed(origin) {
		n, _ := formbuilder.NormalizeOrigin(origin)
		c.Set(fiber.HeaderAccessControlAllowOrigin, n)
	}
}

func (s *Server) handleFormPreflight(c *fiber.Ctx) error {
	cf, err := s.loadForm(c)
	if err != nil {
		return err
	}
	setCORS(c, cf.form)
	c.Set(fiber.HeaderAccessControlAllowMethods, "POST")
	c.Set(fiber.HeaderAccessControlAllowHeaders, "Content-Type, Accept")
	c.Set(fiber.HeaderAccessControlMaxAge, "600")
	return c.SendStatus(fiber.StatusNoContent)
}

// submitResult is the JSON answer to a stored submission.
type submitResult struct {
	ID            int64              `json:"id"`
	Message       string             `json:"message,omitempty"`
	RedirectURL   string             `json:"redirect_url,omitempty"`
	WithdrawLinks []withdrawLinkJSON `json:"withdraw_links"`
}

type withdrawLinkJSON struct {
	ConsentName string `json:"consent_name"`
	URL         string `json:"url"`
}

// appendJSON appends r as json.Marshal encodes it (TestSubmitResultJSON),
// without its reflection: the answer to every accepted JSON post.
func (r *submitResult) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, r.ID, 10)
	if r.Message != "" {
		dst = append(dst, `,"message":`...)
		dst = jsonx.AppendString(dst, r.Message)
	}
	if r.RedirectURL != "" {
		dst = append(dst, `,"redirect_url":`...)
		dst = jsonx.AppendString(dst, r.RedirectURL)
	}
	dst = append(dst, `,"withdraw_links":`...)
	if r.WithdrawLinks == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, '[')
	for i, l := range r.WithdrawLinks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"consent_name":`...)
		dst = jsonx.AppendString(dst, l.ConsentName)
		dst = append(dst, `,"url":`...)
		dst = jsonx.AppendString(dst, l.URL)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func (s *Server) handleFormSubmit(c *fiber.Ctx) error {
	cf, err := s.loadForm(c)
	if err != nil {
		return err
	}
	f := cf.form
	setCORS(c, f)
	if err := s.checkPostOrigin(c, f); err != nil {
		return err
	}
	sub, err := s.parseSubmission(c)
	if err != nil {
		return err
	}
	asJSON := wantsJSON(c)
	if sub.honeypot != "" {
		// Bots get the same answer as people so they learn nothing.
		s.log.Info("honeypot filled, submission discarded", "form", f.Key, "ip", sub.in.IP)
		return s.respondSuccess(c, f, sub, &formbuilder.Submission{}, nil, asJSON)
	}
	if why := s.checkRenderToken(f.Key, sub.token, s.now()); why != "" {
		msg := ifLang(f.Language, "Das Formular ist abgelaufen. Bitte senden Sie es erneut.",
			"This form has expired. Please send it again.")
		if why == tokenTooFast {
			msg = ifLang(f.Language, "Das ging sehr schnell. Bitte prüfen Sie Ihre Angaben und senden Sie erneut.",
				"That was very fast. Please check your answers and send again.")
		}
		return s.respondInvalid(c, f, sub, formbuilder.FieldErrors(map[string]string{"_token": msg}), asJSON)
	}
	sub.in.IP = formbuilder.ApplyIPMode(s.settings.Load().IPMode, sub.in.IP)
	stored, records, err := formbuilder.ValidateSubmission(f, sub.in)
	if err != nil {
		if formbuilder.ErrorCode(err) == formbuilder.EINVALID {
			return s.respondInvalid(c, f, sub, err, asJSON)
		}
		return err
	}
	if err := s.svc.Submissions.CreateSubmission(c.UserContext(), stored, records); err != nil {
		return err
	}
	return s.respondSuccess(c, f, sub, stored, records, asJSON)
}

func (s *Server) respondInvalid(c *fiber.Ctx, f *formbuilder.Form, sub *submission, err error, asJSON bool) error {
	if asJSON {
		// Same wording as the no-JS page, in the form's language.
		return c.Status(fiber.StatusUnprocessableEntity).JSON(apiError{Error: apiErrorBody{
			Code: formbuilder.EINVALID, Message: formbuilder.ErrorMessage(err),
			Fields: widget.LocalizeErrors(f, formbuilder.ErrorFields(err))}})
	}
	st := widget.PageState{
		Embed:      sub.embed,
		Errors:     formbuilder.ErrorFields(err),
		Values:     sub.in.Values,
		Consents:   map[int64]bool{},
		Interacted: map[int64]bool{},
		PageURL:    sub.in.PageURL,
		Token:      s.renderToken(f.Key, s.now()),
	}
	for _, fc := range f.Consents {
		ci := sub.in.Consents[fc.ConsentID]
		st.Consents[fc.ConsentID] = ci.Checked
		st.Interacted[fc.ConsentID] = ci.Interacted
	}
	page, rerr := s.widget.FormPage(f, st)
	if rerr != nil {
		return rerr
	}
	setPublicPageHeaders(c, f)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(fiber.StatusUnprocessableEntity).Send(page)
}

func (s *Server) respondSuccess(c *fiber.Ctx, f *formbuilder.Form, sub *submission, stored *formbuilder.Submission,
	records []*formbuilder.ConsentRecord, asJSON bool) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if asJSON {
		links := make([]withdrawLinkJSON, 0, len(records))
		for _, r := range records {
			links = append(links, withdrawLinkJSON{ConsentName: r.ConsentName, URL: s.withdrawLinkURL(r.ID)})
		}
		res := submitResult{ID: stored.ID, Message: f.SuccessMessage, RedirectURL: f.RedirectURL, WithdrawLinks: links}
		c.Status(fiber.StatusCreated)
		c.Response().SetBodyRaw(res.appendJSON(make([]byte, 0, 256)))
		c.Response().Header.SetContentType(fiber.MIMEApplicationJSON)
		return nil
	}
	wlinks := make([]widget.WithdrawLink, 0, len(records))
	for _, r := range records {
		wlinks = append(wlinks, widget.WithdrawLink{ConsentName: r.ConsentName, URL: s.withdrawLinkURL(r.ID)})
	}
	if f.RedirectURL != "" && !sub.embed {
		return c.Redirect(f.RedirectURL, fiber.StatusSeeOther)
	}
	page, err := s.widget.SuccessPage(f, sub.embed, wlinks)
	if err != nil {
		return err
	}
	setPublicPageHeaders(c, f)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(fiber.StatusOK).Send(page)
}
