package httpx

import (
	"strconv"
	"strings"
	"time"
)

// PreviewTTL is how long a preview link works: as long as an admin session
// at most, so a link copied out of the admin stops working with it.
const PreviewTTL = 12 * time.Hour

// PreviewParam returns the value of the preview query parameter of form
// key's page (/f/KEY?preview=…), valid until until. Only the admin UI makes
// one, for a signed-in admin; with it the page is a dry run that stores
// nothing, so a visitor must not be able to make one up.
func (s *Signer) PreviewParam(key string, until time.Time) string {
	exp := strconv.FormatInt(until.Unix(), 36)
	return exp + "." + s.Sign("preview", key, exp)
}

// PreviewValid reports whether param is a PreviewParam of form key that has
// not run out at now.
func (s *Signer) PreviewValid(key, param string, now time.Time) bool {
	exp, sig, ok := strings.Cut(param, ".")
	if !ok || !s.Verify(sig, "preview", key, exp) {
		return false
	}
	sec, err := strconv.ParseInt(exp, 36, 64)
	return err == nil && now.Before(time.Unix(sec, 0))
}
