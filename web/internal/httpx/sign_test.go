package httpx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// refSign is how signatures were always made (written out once more): links and
// tokens already handed out must stay valid.
func refSign(secret []byte, purpose string, parts ...string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func TestSignMatchesReference(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-token")
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	base := "https://forms.example"
	long := strings.Repeat("x", 5000)
	for _, c := range [][]string{
		{"render", "abcdefgh", "t5x0k1"}, {"render", "", ""}, {"withdraw", "1"}, {"withdraw"},
		{"render", long, "ts"}, {"withdraw", "9223372036854775807"}, {"render", "a\x00b", "c"},
	} {
		for range 3 { // nothing carries over from one signature to the next
			want := refSign(secret, c[0], c[1:]...)
			if got := s.Sign(c[0], c[1:]...); got != want {
				t.Fatalf("sign%q = %q, want %q", c, got, want)
			}
			if !s.Verify(want, c[0], c[1:]...) || s.Verify(want[:len(want)-1], c[0], c[1:]...) {
				t.Fatalf("verify%q", c)
			}
		}
	}
	for _, id := range []int64{1, 7, 99, 100, 123456789, 1<<63 - 1, 0, -5} {
		ids := strconv.FormatInt(id, 10)
		want := "/w/" + ids + "." + refSign(secret, "withdraw", ids)
		if got := s.WithdrawPath(id); got != want {
			t.Fatalf("withdrawPath(%d) = %q, want %q", id, got, want)
		}
		if got := s.WithdrawURL(base, id); got != base+want {
			t.Fatalf("WithdrawURL(%d) = %q", id, got)
		}
		if id > 0 {
			if n, ok := s.ParseWithdrawToken(strings.TrimPrefix(want, "/w/")); !ok || n != id {
				t.Fatalf("parseWithdrawToken(%q) = %d, %v", want, n, ok)
			}
		}
	}
	long = "https://" + strings.Repeat("long.", 40) + "example"
	if got, want := s.WithdrawURL(long, 42), long+"/w/42."+refSign(secret, "withdraw", "42"); got != want {
		t.Fatalf("WithdrawURL with a long base = %q, want %q", got, want)
	}
}
