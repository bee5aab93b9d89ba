package public

import (
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// renderToken is put in every rendered form: TIME.SHOWN.SIG. It carries
// the time it was issued and how the page showed each consent box
// (SHOWN, see shownOf), signed with the form key, so a post can be refused
// when it comes too fast (bots), too late (a day) or with another form's
// token, and the consent log records the initial state of each box from
// the server's own word, never from the client's (issue 16).
func (s *Server) renderToken(f *formbuilder.Form, at time.Time) string {
	return s.signRenderToken(f.Key, at, shownOf(f), false)
}

// previewMark starts the signature in the token of a preview page:
// TIME.SHOWN.p.SIG. A signature (base64url) never contains a dot, so no
// live token has it.
const previewMark = "p."

// previewToken is the render token of an admin's preview page: a post
// with it is checked like any other and then stored nothing. It is signed
// for its own purpose, so a live token with the mark added does not verify.
func (s *Server) previewToken(f *formbuilder.Form, at time.Time) string {
	return s.signRenderToken(f.Key, at, shownOf(f), true)
}

// signRenderToken makes the token of a page of form key served at, whose
// boxes were shown as shown says.
func (s *Server) signRenderToken(key string, at time.Time, shown string, preview bool) string {
	ts := strconv.FormatInt(at.Unix(), 36)
	if preview {
		return ts + "." + shown + "." + previewMark + s.Signer.Sign("render-preview", key, ts, shown)
	}
	return ts + "." + shown + "." + s.Signer.Sign("render", key, ts, shown)
}

// shownOf writes how f's page shows its consent boxes: per consent, in the
// form's order, '-' for a pre-ticked box or '_' for an empty one, then the
// consent id in base 36 ("-b_c": 11 ticked, 12 not).
func shownOf(f *formbuilder.Form) string { return shownWith(f, nil, nil) }

// shownWith writes how a page of f shows its boxes when it showed them as
// before says (a consent it does not name as configured) and then showed
// the boxes of renewed anew, unticked (a consent whose text changed, see
// widget.PageState.Renewed).
func shownWith(f *formbuilder.Form, before, renewed map[int64]bool) string {
	var b strings.Builder
	for _, fc := range f.Consents {
		ticked, ok := before[fc.ConsentID]
		if !ok {
			ticked = fc.CheckedByDefault
		}
		if ticked && !renewed[fc.ConsentID] {
			b.WriteByte('-')
		} else {
			b.WriteByte('_')
		}
		b.WriteString(strconv.FormatInt(fc.ConsentID, 36))
	}
	return b.String()
}

// parseShown reads what shownOf wrote; nil when it is not that.
func parseShown(s string) map[int64]bool {
	out := map[int64]bool{}
	for s != "" {
		ticked := s[0] == '-'
		if !ticked && s[0] != '_' {
			return nil
		}
		s = s[1:]
		n := strings.IndexAny(s, "-_")
		if n < 0 {
			n = len(s)
		}
		id, err := strconv.ParseInt(s[:n], 36, 64)
		if err != nil || id <= 0 {
			return nil
		}
		out[id] = ticked
		s = s[n:]
	}
	return out
}

// renderTokenParts are the parts of a render token.
type renderTokenParts struct {
	ts, shown, sig string
	preview        bool
}

// splitRenderToken cuts tok into its parts; ok is false for anything of
// another shape.
func splitRenderToken(tok string) (p renderTokenParts, ok bool) {
	var rest string
	if p.ts, rest, ok = strings.Cut(tok, "."); !ok {
		return p, false
	}
	if p.shown, p.sig, ok = strings.Cut(rest, "."); !ok {
		return p, false
	}
	p.sig, p.preview = strings.CutPrefix(p.sig, previewMark)
	return p, p.ts != "" && p.sig != ""
}

// isPreviewToken reports whether tok claims to come from a preview page;
// only checkRenderToken says whether the claim is signed.
func isPreviewToken(tok string) bool {
	p, ok := splitRenderToken(tok)
	return ok && p.preview
}

// shownIn returns how the page of a verified token showed its consent
// boxes (see shownOf).
func shownIn(tok string) map[int64]bool {
	p, _ := splitRenderToken(tok)
	return parseShown(p.shown)
}

// Errors a render token check can give; the visitor sees the message.
const (
	tokenMissing = "missing"
	tokenBad     = "invalid"
	tokenExpired = "expired"
	tokenTooFast = "too_fast"
)

// maxTokenAge is how long a rendered form can be sent.
const maxTokenAge = 24 * time.Hour

// checkRenderToken returns "" when tok is a valid token of formKey.
func (s *Server) checkRenderToken(formKey, tok string, now time.Time) string {
	if tok == "" {
		return tokenMissing
	}
	p, ok := splitRenderToken(tok)
	purpose := "render"
	if p.preview {
		purpose = "render-preview"
	}
	if !ok || parseShown(p.shown) == nil || !s.Signer.Verify(p.sig, purpose, formKey, p.ts, p.shown) {
		return tokenBad
	}
	sec, err := strconv.ParseInt(p.ts, 36, 64)
	if err != nil {
		return tokenBad
	}
	issued := time.Unix(sec, 0)
	age := now.Sub(issued)
	if age > maxTokenAge || age < -time.Minute {
		return tokenExpired
	}
	// The token names only the second the page was served in (and page
	// bodies are shared by every request of a second), so the page may have
	// been served at its very end: the fill time counts from there, so that
	// a post it lets through came at least MinFillTime after the page.
	if s.cfg.MinFillTime > 0 && now.Sub(issued.Add(time.Second)) < s.cfg.MinFillTime {
		return tokenTooFast
	}
	return ""
}
