package public

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/gofiber/fiber/v2"
)

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
			return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgFormNotFound)
		}
		return nil, err
	}
	// The form's errors speak its language, as its pages do.
	httpx.SetLang(c, cf.form.Language)
	if cf.form.Archived {
		return nil, formbuilder.NewError(formbuilder.EGONE, formbuilder.MsgFormClosed)
	}
	return cf, nil
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
	if q := c.Context().QueryArgs(); q.Has("preview") {
		return s.previewPage(c, cf.form, string(q.Peek("preview")))
	}
	page := cf.pages[0]
	if string(c.Context().QueryArgs().Peek("embed")) == "1" {
		page = cf.pages[1]
	}
	enc := httpx.Negotiate(c.Request().Header.Peek(fiber.HeaderAcceptEncoding), false)
	page.headers[min(enc, httpx.EncGzip)].Set(c)
	if httpx.ETagMatches(c.Request().Header.Peek(fiber.HeaderIfNoneMatch), page.etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	f := cf.form
	b := page.body(s.Now(), func(at time.Time) string { return s.renderToken(f, at) })
	h := &c.Response().Header
	h.SetContentType(fiber.MIMETextHTMLCharsetUTF8)
	if enc == httpx.EncGzip {
		h.SetContentEncoding("gzip")
		return c.Send(b.gzip)
	}
	return c.Send(b.identity)
}

// previewPage serves the admin's preview of f (param from
// httpx.Signer.PreviewParam): the form marked as a preview, rendered for
// this request and never cached, with a preview token, so that sending it
// is a dry run.
func (s *Server) previewPage(c *fiber.Ctx, f *formbuilder.Form, param string) error {
	now := s.Now()
	if !s.Signer.PreviewValid(f.Key, param, now) {
		return formbuilder.NewError(formbuilder.EFORBIDDEN, formbuilder.MsgPreviewLink)
	}
	page, err := s.Widget.FormPage(f, widget.PageState{Embed: c.Query("embed") == "1", Preview: true,
		Token: s.previewToken(f, now)})
	if err != nil {
		return err
	}
	return sendPage(c, f, fiber.StatusOK, page)
}

// sendPage answers with page, a page of form f rendered for this request
// alone: the public page headers, and kept by no cache.
func sendPage(c *fiber.Ctx, f *formbuilder.Form, status int, page []byte) error {
	httpx.SetPublicPageHeaders(c, httpx.PublicCSP(f))
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(page)
}

// checkPostOrigin refuses cross-origin posts from origins the form does not
// allow. The hosted page and the iframe post from this server's own origin.
func (s *Server) checkPostOrigin(c *fiber.Ctx, f *formbuilder.Form) error {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || len(f.AllowedOrigins) == 0 {
		return nil
	}
	if self, err := formbuilder.NormalizeOrigin(s.BaseURL); err == nil {
		if o, err := formbuilder.NormalizeOrigin(origin); err == nil && o == self {
			return nil
		}
	}
	if f.OriginAllowed(origin) {
		return nil
	}
	return formbuilder.NewError(formbuilder.EFORBIDDEN, formbuilder.MsgOriginRefused, "origin", httpx.SafeForMessage(origin))
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
	// Receipts are the signed consent receipts, one per consent given.
	Receipts []widget.Receipt `json:"receipts"`
	// ToConfirm are the labels of the consents given that count only once
	// the visitor confirms them by the link in a mail (double opt-in).
	ToConfirm []string `json:"to_confirm"`
	// Preview and PreviewNote mark the answer to an admin's dry run.
	Preview     bool   `json:"preview,omitempty"`
	PreviewNote string `json:"preview_note,omitempty"`
}

// withdrawLinkJSON is widget.WithdrawLink as the JSON answer has it.
type withdrawLinkJSON = widget.WithdrawLink

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
	asJSON := httpx.WantsJSON(c)
	if err != nil {
		if sub != nil && formbuilder.ErrorCode(err) == formbuilder.EINVALID {
			// A field the form does not know, say: answered like any other
			// refusal, with a token for the next send.
			return s.respondInvalid(c, f, sub, err, asJSON)
		}
		return err
	}
	if why := s.checkRenderToken(f.Key, sub.token, s.Now()); why != "" {
		msg := formbuilder.MsgFormExpired
		refuse(c, httpx.RefusedTokenExpired)
		if why == tokenTooFast {
			refuse(c, httpx.RefusedTooFast)
			msg = formbuilder.MsgTooFast
		}
		return s.respondInvalid(c, f, sub, formbuilder.FieldError("_token", msg), asJSON)
	}
	sub.in.ConfirmBy = s.Now().Add(s.cfg.ConfirmWithin)
	// How the page showed each box is the server's word, signed into the
	// token it just verified; the post's own claims are not read.
	sub.in.Shown = shownIn(sub.token)
	stored, records, err := formbuilder.ValidateSubmission(f, sub.in)
	if err != nil {
		if formbuilder.ErrorCode(err) == formbuilder.EINVALID {
			return s.respondInvalid(c, f, sub, err, asJSON)
		}
		return err
	}
	if isPreviewToken(sub.token) {
		// The token verified, so it is an admin's preview: a dry run.
		uncounted(c)
		return s.respondPreview(c, f, sub, asJSON)
	}
	if sub.honeypot != "" {
		// A bot: it passed every check a person's post passes, and gets
		// the answer a person would get, so it learns nothing.
		s.Log.Info("honeypot filled, submission discarded", "form", f.Key, "ip", sub.in.IP)
		refuse(c, httpx.RefusedHoneypot)
		ans := s.decoy(c.UserContext(), f, records)
		ans.toConfirm = toConfirm(f, records)
		return s.respondSuccess(c, f, sub, ans, asJSON)
	}
	if err := s.svc.Submissions.CreateSubmission(c.UserContext(), stored, records); err != nil {
		return err
	}
	c.Locals(localStored, true)
	s.decoys.noteStored(stored, records)
	ans := successAnswer{id: stored.ID, links: make([]widget.WithdrawLink, 0, len(records)),
		receipts: make([]widget.Receipt, 0, len(records)), toConfirm: toConfirm(f, records)}
	for _, r := range records {
		ans.links = append(ans.links, widget.WithdrawLink{Label: consentLabel(f, r.ConsentID),
			URL: s.Signer.WithdrawURL(s.BaseURL, r.ID)})
		if rc, ok := s.receiptOf(s.Keys.Load(), f, r); ok {
			ans.receipts = append(ans.receipts, rc)
		}
	}
	return s.respondSuccess(c, f, sub, ans, asJSON)
}

// successAnswer is what the answer to a stored submission names: its id,
// per consent given a withdrawal link and a signed receipt, and the labels
// of those that wait for confirmation by e-mail.
type successAnswer struct {
	id        int64
	links     []widget.WithdrawLink
	receipts  []widget.Receipt
	toConfirm []string
}

// toConfirm returns the labels of the consents among records that count
// only once confirmed (double opt-in), never nil.
func toConfirm(f *formbuilder.Form, records []*formbuilder.ConsentRecord) []string {
	out := []string{}
	for _, r := range records {
		if r.NeedsConfirmation() {
			out = append(out, consentLabel(f, r.ConsentID))
		}
	}
	return out
}

// receiptOf signs with keys the receipt of entry r, just stored from a post
// to f (or pretended, for the honeypot). A receipt that cannot be signed
// (no key valid now) is logged and left out: the consent is stored, and
// refusing the answer would only make the visitor send it twice; the
// withdrawal page offers the receipt later.
func (s *Server) receiptOf(keys *formbuilder.KeySet, f *formbuilder.Form, r *formbuilder.ConsentRecord) (widget.Receipt, bool) {
	for _, fc := range f.Consents {
		if fc.ConsentID != r.ConsentID || fc.Consent == nil || fc.Consent.Current == nil || fc.Consent.Current.ID != r.VersionID {
			continue
		}
		tok, err := s.IssueReceiptWith(keys, r, fc.Consent.Current, formbuilder.CollectionMethod("form", f.Key), httpx.FormData(f))
		if err != nil {
			s.Log.Error("consent receipt not signed", "entry", r.ID, "err", err)
			return widget.Receipt{}, false
		}
		return widget.Receipt{RecordID: r.ID, Label: widget.LabelText(fc.Consent.Current.Label), JWS: tok}, true
	}
	return widget.Receipt{}, false
}

// invalidJSON is the JSON answer to a refused submission (422): the error,
// the render token the widget sends next (see nextToken), and the current
// box of each consent whose text changed since the page was rendered.
type invalidJSON struct {
	Error    httpx.ErrorBody  `json:"error"`
	Token    string           `json:"token"`
	Consents []consentBoxJSON `json:"consents,omitempty"`
}

// consentBoxJSON is the current version of a consent whose text changed
// while the visitor's page was open: what it says, and the box as the page
// renders it (unticked, with its message), for form.js to put in place of
// the old one.
type consentBoxJSON struct {
	ConsentID int64  `json:"consent_id"`
	VersionID int64  `json:"version_id"`
	Version   int    `json:"version"`
	Label     string `json:"label"`
	Text      string `json:"text"`
	HTML      string `json:"html"`
}

// renewed returns the consents of f that the post says it showed in
// another version than the current one.
func renewed(f *formbuilder.Form, sub *submission) map[int64]bool {
	var out map[int64]bool
	for _, fc := range f.Consents {
		ci, ok := sub.in.Consents[fc.ConsentID]
		if !ok || ci.VersionID == 0 || fc.Consent == nil || fc.Consent.Current == nil || ci.VersionID == fc.Consent.Current.ID {
			continue
		}
		if out == nil {
			out = map[int64]bool{}
		}
		out[fc.ConsentID] = true
	}
	return out
}

// nextToken is the render token a refused post's answer carries for the
// next send: the one the visitor sent while it is still good (valid and not
// expired, too young at most), since its age keeps counting towards the
// minimum fill time and a fresh one would restart it; else a fresh one, so
// that an expired or broken page can be sent again without a reload.
//
// The token also says how the page showed each box. An expired token's
// page still shows the boxes it showed, whatever the form says now, so
// the renewed token keeps its word; the boxes of consents whose text
// changed (renewed) are shown anew, unticked, and the token says that too,
// keeping its time.
//
// A preview page's token that expired is renewed as a preview token; one
// that does not verify gets a live token of the form as it is now, like
// any broken token.
func (s *Server) nextToken(f *formbuilder.Form, sent string, now time.Time, renewed map[int64]bool) string {
	p, _ := splitRenderToken(sent)
	at := now
	switch s.checkRenderToken(f.Key, sent, now) {
	case "", tokenTooFast:
		if len(renewed) == 0 {
			return sent
		}
		sec, _ := strconv.ParseInt(p.ts, 36, 64) // verified
		at = time.Unix(sec, 0)
	case tokenExpired:
		// Only a verified token expires.
	default:
		return s.signRenderToken(f.Key, now, shownWith(f, nil, renewed), false)
	}
	return s.signRenderToken(f.Key, at, shownWith(f, parseShown(p.shown), renewed), p.preview)
}

func (s *Server) respondInvalid(c *fiber.Ctx, f *formbuilder.Form, sub *submission, err error, asJSON bool) error {
	fresh := renewed(f, sub)
	token := s.nextToken(f, sub.token, s.Now(), fresh)
	if asJSON {
		// Same wording as the no-JS page, in the form's language.
		m := formbuilder.ErrorMsg(err)
		ans := invalidJSON{Error: httpx.ErrorBody{
			Code: formbuilder.EINVALID, Message: m.Text(f.Language), MessageCode: m.Code, Params: m.Params,
			Fields: widget.LocalizeErrors(f, formbuilder.ErrorFieldMsgs(err)), FieldCodes: formbuilder.ErrorFieldMsgs(err)},
			Token: token}
		st := widget.PageState{Errors: formbuilder.ErrorFieldMsgs(err), Renewed: fresh}
		for _, fc := range f.Consents {
			if !fresh[fc.ConsentID] {
				continue
			}
			box, berr := s.Widget.ConsentBox(f, fc.ConsentID, st)
			if berr != nil {
				return berr
			}
			v := fc.Consent.Current
			ans.Consents = append(ans.Consents, consentBoxJSON{ConsentID: fc.ConsentID, VersionID: v.ID,
				Version: v.Number, Label: widget.LabelText(v.Label), Text: formbuilder.Sanitize(v.Text), HTML: string(box)})
		}
		return c.Status(fiber.StatusUnprocessableEntity).JSON(ans)
	}
	st := widget.PageState{
		Renewed:    fresh,
		Embed:      sub.embed,
		Errors:     formbuilder.ErrorFieldMsgs(err),
		Values:     sub.in.Values,
		Consents:   map[int64]bool{},
		Interacted: map[int64]bool{},
		PageURL:    sub.in.PageURL,
		Token:      token,
		// nextToken gives a preview token only for a verified one.
		Preview: isPreviewToken(token),
	}
	// The page comes back with each box as the visitor left it, and with
	// the claim that they changed it whenever the refused post shows they
	// did: a page without JavaScript cannot say so itself, and on the next
	// post the box may be back in the state it was first shown in.
	shown := shownIn(sub.token)
	for _, fc := range f.Consents {
		ci := sub.in.Consents[fc.ConsentID]
		st.Consents[fc.ConsentID] = ci.Checked
		initial, ok := shown[fc.ConsentID]
		if !ok {
			initial = fc.CheckedByDefault
		}
		st.Interacted[fc.ConsentID], _ = formbuilder.Interaction(initial, ci.Checked, ci.Touched)
	}
	page, rerr := s.Widget.FormPage(f, st)
	if rerr != nil {
		return rerr
	}
	return sendPage(c, f, fiber.StatusUnprocessableEntity, page)
}

// respondSuccess answers a submission with ans: JSON 201, a redirect, or
// the success page.
func (s *Server) respondSuccess(c *fiber.Ctx, f *formbuilder.Form, sub *submission, ans successAnswer, asJSON bool) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	links := ans.links
	redirect := redirectWithLinks(f.RedirectURL, links)
	if asJSON {
		res := submitResult{ID: ans.id, Message: f.SuccessMessage, RedirectURL: redirect, WithdrawLinks: links,
			Receipts: ans.receipts, ToConfirm: ans.toConfirm}
		return c.Status(fiber.StatusCreated).JSON(res)
	}
	// Inside the iframe a post without JavaScript cannot move the host
	// page, and a thank-you page loaded into the frame would be refused by
	// many sites: it gets the success page with the links.
	if redirect != "" && !sub.embed {
		return c.Redirect(redirect, fiber.StatusSeeOther)
	}
	page, err := s.Widget.SuccessPage(f, widget.SuccessState{Embed: sub.embed, Withdraws: links, Receipts: ans.receipts,
		ToConfirm: ans.toConfirm})
	if err != nil {
		return err
	}
	return sendPage(c, f, fiber.StatusOK, page)
}

// consentLabel names consent id of f to visitors: its current label as
// plain text (the version just recorded), never its internal name.
func consentLabel(f *formbuilder.Form, id int64) string {
	for _, fc := range f.Consents {
		if fc.ConsentID == id && fc.Consent != nil && fc.Consent.Current != nil {
			return widget.LabelText(fc.Consent.Current.Label)
		}
	}
	return ""
}

// withdrawParam is the query parameter that carries the withdrawal links to
// a form's redirect URL, once per consent given, so that the thank-you page
// can show them: a visitor sent away never sees the success page.
const withdrawParam = "cf_withdraw"

// redirectWithLinks returns target with a withdrawParam per link added to
// its query (its own query and fragment stay as they are); "" for no
// target.
func redirectWithLinks(target string, links []widget.WithdrawLink) string {
	if target == "" || len(links) == 0 {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		// Validated when saved; a row written otherwise keeps its URL.
		return target
	}
	var q strings.Builder
	q.WriteString(u.RawQuery)
	for _, l := range links {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(withdrawParam + "=")
		q.WriteString(url.QueryEscape(l.URL))
	}
	u.RawQuery = q.String()
	return u.String()
}

// respondPreview answers a valid post from an admin's preview page like a
// stored one, marked as a preview: nothing is stored or delivered, no link
// is given (there is nothing to withdraw) and nobody is redirected; the
// note says what visitors get instead.
func (s *Server) respondPreview(c *fiber.Ctx, f *formbuilder.Form, sub *submission, asJSON bool) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	note := widget.PreviewNote(f)
	if asJSON {
		res := submitResult{Message: f.SuccessMessage, WithdrawLinks: []withdrawLinkJSON{}, Receipts: []widget.Receipt{},
			ToConfirm: []string{}, Preview: true, PreviewNote: note}
		return c.Status(fiber.StatusOK).JSON(res)
	}
	page, err := s.Widget.SuccessPage(f, widget.SuccessState{Embed: sub.embed, Preview: true})
	if err != nil {
		return err
	}
	return sendPage(c, f, fiber.StatusOK, page)
}
