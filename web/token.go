package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"
	"time"
)

// sign returns a URL-safe HMAC-SHA256 of the parts under purpose, so a
// signature made for one purpose (render token, withdrawal link) is never
// valid for another.
func (s *Server) sign(purpose string, parts ...string) string {
	m, _ := s.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.cfg.Secret)
	} else {
		m.Reset()
	}
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	s.macs.Put(m)
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

func (s *Server) verify(sig, purpose string, parts ...string) bool {
	return hmac.Equal([]byte(sig), []byte(s.sign(purpose, parts...)))
}

// renderToken is put in every rendered form: it carries the form key and the
// time it was issued, signed, so a post can be refused when it comes too
// fast (bots), too late (a day) or with another form's token.
func (s *Server) renderToken(formKey string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 36)
	return ts + "." + s.sign("render", formKey, ts)
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
	if !ok || !s.verify(sig, "render", formKey, ts) {
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
	if age < s.cfg.MinFillTime {
		return tokenTooFast
	}
	return ""
}

// withdrawPath returns the signed path of the withdrawal page of a record.
func (s *Server) withdrawPath(recordID int64) string {
	id := strconv.FormatInt(recordID, 10)
	return "/w/" + id + "." + s.sign("withdraw", id)
}

// parseWithdrawToken returns the record id of a valid withdrawal token.
func (s *Server) parseWithdrawToken(tok string) (int64, bool) {
	id, sig, ok := strings.Cut(tok, ".")
	if !ok || !s.verify(sig, "withdraw", id) {
		return 0, false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}
