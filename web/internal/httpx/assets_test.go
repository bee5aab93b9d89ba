package httpx

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		ae   string
		brOK bool
		want Encoding
	}{
		{"", true, EncIdentity},
		{"gzip", true, EncGzip},
		{"GZIP", false, EncGzip},
		{"x-gzip", false, EncGzip},
		{"gzip, deflate, br", true, EncBrotli},
		{"gzip, deflate, br", false, EncGzip},
		{"br", false, EncIdentity},
		{"gzip;q=0, br", true, EncBrotli},
		{"gzip;q=0", true, EncIdentity},
		{"gzip; q=0.000", true, EncIdentity},
		{"gzip;q=0.001", true, EncGzip},
		{"gzip;q=1.0", true, EncGzip},
		{"*", true, EncBrotli},
		{"*", false, EncGzip},
		{"*;q=0", true, EncIdentity},
		{"*, gzip;q=0", false, EncIdentity},
		{"*, gzip;q=0", true, EncBrotli},
		{"identity", true, EncIdentity},
		{" br ; q=0 , gzip ", true, EncGzip},
	} {
		assert.Equal(t, c.want, Negotiate([]byte(c.ae), c.brOK), "%q br=%v", c.ae, c.brOK)
	}
	assert.Equal(t, EncGzip, Negotiate([]byte("deflate, gzip"), false))
}

func TestETagMatches(t *testing.T) {
	const tag = `"3-abc"`
	for inm, want := range map[string]bool{
		`"3-abc"`:            true,
		`"3-abc-gz"`:         true,
		`"3-abc-br"`:         true,
		`W/"3-abc"`:          true,
		`"x", "3-abc-gz"`:    true,
		`*`:                  true,
		``:                   false,
		`"3-ab"`:             false,
		`3-abc`:              false,
		`"3-abc-gz-gz"`:      false,
		`"3-abc", W/"other"`: true,
		`"other"`:            false,
	} {
		assert.Equal(t, want, ETagMatches([]byte(inm), tag), inm)
	}
}
