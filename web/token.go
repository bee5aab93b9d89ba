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

// sigBytes is how much of the HMAC a signature keeps (24 base64 characters).
const sigBytes = 18

// macState is what s.macs pools: an HMAC-SHA256 keyed with cfg.Secret and
// a buffer for the message. The message is written in one piece because
// each []byte conversion handed to hash.Hash.Write (an interface) was an
// allocation of its own.
type macState struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

func (s *Server) getMAC() *macState {
	if m, _ := s.macs.Get().(*macState); m != nil {
		return m
	}
	return &macState{h: hmac.New(sha256.New, s.cfg.Secret), msg: make([]byte, 0, 64)}
}

func (s *Server) putMAC(m *macState) {
	// Verified parts come from clients and may be long; do not keep their
	// buffer alive in the pool.
	if cap(m.msg) > 1024 {
		m.msg = make([]byte, 0, 64)
	}
	s.macs.Put(m)
}

// setMessage makes purpose and parts, each part after a 0 byte, the
// message to sign.
func (m *macState) setMessage(purpose string, parts ...string) {
	m.msg = append(m.msg[:0], purpose...)
	for _, p := range parts {
		m.msg = append(m.msg, 0)
		m.msg = append(m.msg, p...)
	}
}

// appendSig appends the signature of the message to dst.
func (m *macState) appendSig(dst []byte) []byte {
	m.h.Reset()
	m.h.Write(m.msg)
	return base64.RawURLEncoding.AppendEncode(dst, m.h.Sum(m.sum[:0])[:sigBytes])
}

// appendSign appends sign(purpose, parts...) to dst.
func (s *Server) appendSign(dst []byte, purpose string, parts ...string) []byte {
	m := s.getMAC()
	m.setMessage(purpose, parts...)
	dst = m.appendSig(dst)
	s.putMAC(m)
	return dst
}

// sign returns a URL-safe HMAC-SHA256 of the parts under purpose, so a
// signature made for one purpose (render token, withdrawal link) is never
// valid for another.
func (s *Server) sign(purpose string, parts ...string) string {
	var b [32]byte
	return string(s.appendSign(b[:0], purpose, parts...))
}

func (s *Server) verify(sig, purpose string, parts ...string) bool {
	var b [32]byte
	return hmac.Equal([]byte(sig), s.appendSign(b[:0], purpose, parts...))
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
	var b [64]byte
	return string(s.appendWithdrawPath(b[:0], recordID))
}

// withdrawLinkURL returns the absolute URL of withdrawPath, in one allocation.
func (s *Server) withdrawLinkURL(recordID int64) string {
	var b [160]byte // a longer base URL costs one more allocation
	return string(s.appendWithdrawPath(append(b[:0], s.cfg.BaseURL...), recordID))
}

func (s *Server) appendWithdrawPath(dst []byte, recordID int64) []byte {
	dst = append(dst, "/w/"...)
	start := len(dst)
	dst = strconv.AppendInt(dst, recordID, 10)
	m := s.getMAC()
	// setMessage("withdraw", id) without the id as a string.
	m.msg = append(append(append(m.msg[:0], "withdraw"...), 0), dst[start:]...)
	dst = append(dst, '.')
	dst = m.appendSig(dst)
	s.putMAC(m)
	return dst
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
