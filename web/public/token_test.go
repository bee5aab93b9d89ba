package public

import (
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShownRoundTrip(t *testing.T) {
	f := &formbuilder.Form{Consents: []formbuilder.FormConsent{
		{ConsentID: 11, CheckedByDefault: true}, {ConsentID: 12}, {ConsentID: 1 << 40, CheckedByDefault: true}}}
	s := shownOf(f)
	assert.Equal(t, "-b_c-"+strconv.FormatInt(1<<40, 36), s, "11 ticked, 12 not, 2^40 ticked")
	assert.Equal(t, map[int64]bool{11: true, 12: false, 1 << 40: true}, parseShown(s))
	assert.Equal(t, map[int64]bool{}, parseShown(""), "a form without consents")
	for _, bad := range []string{"b", "-", "-b_", "-0", "+b", "-b.c", "-zzzzzzzzzzzzzzzz"} {
		assert.Nil(t, parseShown(bad), bad)
	}
}

// The token says how the page showed the boxes, and a changed word does
// not verify.
func TestRenderTokenSignsShown(t *testing.T) {
	e := newUnitEnv(t, nil)
	tok := e.s.renderToken(e.form, e.now)
	p, ok := splitRenderToken(tok)
	require.True(t, ok)
	assert.False(t, p.preview)
	assert.Equal(t, "", e.s.checkRenderToken(e.form.Key, tok, e.now.Add(e.s.cfg.MinFillTime+2e9)))
	assert.Equal(t, map[int64]bool{e.consent.ID: true}, shownIn(tok))

	flipped := strings.Replace(tok, "."+p.shown+".", "._"+p.shown[1:]+".", 1)
	assert.Equal(t, tokenBad, e.s.checkRenderToken(e.form.Key, flipped, e.now.Add(3e9)))

	prev := e.s.previewToken(e.form, e.now)
	assert.True(t, isPreviewToken(prev))
	assert.Equal(t, "", e.s.checkRenderToken(e.form.Key, prev, e.now.Add(3e9)))
	assert.Equal(t, tokenBad, e.s.checkRenderToken(e.form.Key, strings.Replace(prev, ".p.", ".", 1), e.now.Add(3e9)),
		"a preview signature is no live one")
}

// FuzzRenderToken: the parsers of a posted token never panic, and a token
// that verifies is one the server made, with the boxes as it showed them.
func FuzzRenderToken(f *testing.F) {
	e := newUnitEnv(f, nil)
	good := e.s.renderToken(e.form, e.now)
	f.Add(good)
	f.Add(e.s.previewToken(e.form, e.now))
	f.Add("a.b")
	f.Add("..p.")
	f.Add("x.-1_2.sig")
	f.Fuzz(func(t *testing.T, tok string) {
		isPreviewToken(tok)
		shown := shownIn(tok)
		if e.s.checkRenderToken(e.form.Key, tok, e.now.Add(3e9)) != "" {
			return
		}
		if len(shown) != 1 || !shown[e.consent.ID] {
			t.Fatalf("%q verified with boxes %v", tok, shown)
		}
	})
}
