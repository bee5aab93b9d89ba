package httpx

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
)

// NewSecret returns n random bytes, URL-safe base64 encoded.
func NewSecret(n int) string {
	return base64.RawURLEncoding.EncodeToString(RandomBytes(n))
}

// RandomBytes returns n bytes from crypto/rand.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return b
}

// SameToken compares secrets in constant time; empty never matches.
func SameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
