package httpx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// sigBytes is how much of the HMAC a signature keeps (24 base64 characters).
const sigBytes = 18

// Signer makes and checks the HMAC signatures of the server's tokens
// (render tokens, withdrawal links, the sign-in form's token). Each purpose
// signs differently, so a signature made for one is never valid for
// another.
type Signer struct {
	secret []byte
	// macs pools HMAC-SHA256 states keyed with secret: a new one per
	// signature cost two hash states and a key schedule.
	macs sync.Pool
}

// NewSigner returns a Signer for secret, which must be at least 32 bytes and
// stay the same across restarts, or links already sent stop working.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 32 {
		return nil, errors.New("web: secret must be at least 32 bytes")
	}
	return &Signer{secret: secret}, nil
}

// macState is what Signer.macs pools: an HMAC-SHA256 keyed with the secret
// and a buffer for the message. The message is written in one piece because
// each []byte conversion handed to hash.Hash.Write (an interface) was an
// allocation of its own.
type macState struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

func (s *Signer) getMAC() *macState {
	if m, _ := s.macs.Get().(*macState); m != nil {
		return m
	}
	return &macState{h: hmac.New(sha256.New, s.secret), msg: make([]byte, 0, 64)}
}

func (s *Signer) putMAC(m *macState) {
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

// AppendSign appends Sign(purpose, parts...) to dst.
func (s *Signer) AppendSign(dst []byte, purpose string, parts ...string) []byte {
	m := s.getMAC()
	m.setMessage(purpose, parts...)
	dst = m.appendSig(dst)
	s.putMAC(m)
	return dst
}

// Sign returns a URL-safe HMAC-SHA256 of the parts under purpose.
func (s *Signer) Sign(purpose string, parts ...string) string {
	var b [32]byte
	return string(s.AppendSign(b[:0], purpose, parts...))
}

// Verify reports whether sig is Sign(purpose, parts...), in constant time.
func (s *Signer) Verify(sig, purpose string, parts ...string) bool {
	var b [32]byte
	return hmac.Equal([]byte(sig), s.AppendSign(b[:0], purpose, parts...))
}

// WithdrawPath returns the signed path of the withdrawal page of a consent
// log entry: /w/ID.SIGNATURE.
func (s *Signer) WithdrawPath(recordID int64) string {
	var b [64]byte
	return string(s.appendWithdrawPath(b[:0], recordID))
}

// WithdrawURL returns baseURL + WithdrawPath, in one allocation.
func (s *Signer) WithdrawURL(baseURL string, recordID int64) string {
	var b [160]byte // a longer base URL costs one more allocation
	return string(s.appendWithdrawPath(append(b[:0], baseURL...), recordID))
}

func (s *Signer) appendWithdrawPath(dst []byte, recordID int64) []byte {
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

// ParseWithdrawToken returns the entry id of a valid withdrawal token (the
// part of WithdrawPath after /w/).
func (s *Signer) ParseWithdrawToken(tok string) (int64, bool) {
	id, sig, ok := strings.Cut(tok, ".")
	if !ok || !s.Verify(sig, "withdraw", id) {
		return 0, false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0
}
