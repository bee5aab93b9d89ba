package httpx

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// AccessTTL is how long a link to one's own consent entries works.
const AccessTTL = time.Hour

// AccessPath returns the signed path of the self-service page of the data
// subject address, in lang, valid until until:
// /my-consents/ADDRESS.LANG.EXPIRY.SIGNATURE, the address in base64url. It
// goes to that address by mail, so following it proves the address.
func (s *Signer) AccessPath(address, lang string, until time.Time) string {
	a := base64.RawURLEncoding.EncodeToString([]byte(address))
	exp := strconv.FormatInt(until.Unix(), 36)
	return "/my-consents/" + a + "." + lang + "." + exp + "." + s.Sign("my-consents", a, lang, exp)
}

// ParseAccessToken returns the address and language of a valid access
// token (the part of AccessPath after /my-consents/) that has not run out
// at now.
func (s *Signer) ParseAccessToken(tok string, now time.Time) (address, lang string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 || !s.Verify(parts[3], "my-consents", parts[0], parts[1], parts[2]) {
		return "", "", false
	}
	sec, err := strconv.ParseInt(parts[2], 36, 64)
	if err != nil || !now.Before(time.Unix(sec, 0)) {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || !formbuilder.ValidEmail(string(raw)) || !formbuilder.ValidLanguage(parts[1]) {
		return "", "", false
	}
	return string(raw), parts[1], true
}
