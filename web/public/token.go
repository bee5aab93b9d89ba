package public

import (
	"strconv"
	"strings"
	"time"
)

// renderToken is put in every rendered form: it carries the form key and the
// time it was issued, signed, so a post can be refused when it comes too
// fast (bots), too late (a day) or with another form's token.
func (s *Server) renderToken(formKey string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 36)
	return ts + "." + s.Signer.Sign("render", formKey, ts)
}

// previewMark follows the time in the token of a preview page: TIME.p.SIG.
// A signature (base64url) never contains a dot, so no live token has it.
const previewMark = "p."

// previewToken is the render token of an admin's preview page: a post
// with it is checked like any other and then stored nothing. It is signed
// for its own purpose, so a live token with the mark added does not verify.
func (s *Server) previewToken(formKey string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 36)
	return ts + "." + previewMark + s.Signer.Sign("render-preview", formKey, ts)
}

// isPreviewToken reports whether tok claims to come from a preview page;
// only checkRenderToken says whether the claim is signed.
func isPreviewToken(tok string) bool {
	_, sig, _ := strings.Cut(tok, ".")
	return strings.HasPrefix(sig, previewMark)
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
	ts, sig, ok := strings.Cut(tok, ".")
	purpose := "render"
	if rest, preview := strings.CutPrefix(sig, previewMark); preview {
		sig, purpose = rest, "render-preview"
	}
	if !ok || !s.Signer.Verify(sig, purpose, formKey, ts) {
		return tokenBad
	}
	sec, err := strconv.ParseInt(ts, 36, 64)
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
