package web

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestUploadRoute: only the exact paths of the consent writes take a
// document; everything else, also what Fiber would route there, keeps the
// normal body limit.
func TestUploadRoute(t *testing.T) {
	for _, tc := range []struct{ method, uri, want string }{
		{"POST", "/admin/consents", "admin"},
		{"POST", "/admin/consents/12", "admin"},
		{"POST", "/admin/consents/12?x=1", "admin"},
		{"POST", "/api/v1/consents", "api"},
		{"PUT", "/api/v1/consents/7", "api"},
		{"GET", "/admin/consents", ""},
		{"PUT", "/admin/consents/12", ""},
		{"POST", "/admin/consents/preview", ""},
		{"POST", "/admin/consents/12/update-standard", ""},
		{"POST", "/admin/consents/", ""},
		{"POST", "/ADMIN/consents", ""},
		{"POST", "/api/v1/consents/7", ""},
		{"PUT", "/api/v1/consents", ""},
		{"POST", "/f/abcdefghjkmnpqrs", ""},
		{"POST", "/admin/consents/12345678901234567890", ""},
	} {
		assert.Equal(t, tc.want, uploadRoute([]byte(tc.method), []byte(tc.uri)), "%s %s", tc.method, tc.uri)
	}
}

// BenchmarkUploadRoute is what every request pays for the per-route body
// limit before its body is read: the check of a form post's path.
func BenchmarkUploadRoute(b *testing.B) {
	m, u := []byte("POST"), []byte("/f/abcdefghjkmnpqrs")
	b.ReportAllocs()
	for b.Loop() {
		if uploadRoute(m, u) != "" {
			b.Fatal("not an upload route")
		}
	}
}
