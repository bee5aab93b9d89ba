package formbuilder

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidVisitorID(t *testing.T) {
	assert.True(t, ValidVisitorID("0123456789abcdef0123456789abcdef"))
	for _, bad := range []string{"", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
		"0123456789ABCDEF0123456789abcdef", "0123456789abcdeg0123456789abcdef", "0123456789abcdef0123456789abcd\u00e9"} {
		assert.False(t, ValidVisitorID(bad), bad)
	}
	a, b := VisitorHash("0123456789abcdef0123456789abcdef"), VisitorHash("0123456789abcdef0123456789abcdee")
	assert.Len(t, a, 64)
	assert.NotEqual(t, a, b)
	assert.NotContains(t, a, "0123456789abcdef0123456789abcdef")
}

func TestValidateMessageText(t *testing.T) {
	s, err := ValidateMessageText("  hello\x00 world \n")
	require.NoError(t, err)
	assert.Equal(t, "hello world", s)
	_, err = ValidateMessageText(" \t ")
	assert.Equal(t, EINVALID, ErrorCode(err))
	_, err = ValidateMessageText("\xff")
	assert.Equal(t, EINVALID, ErrorCode(err))
	_, err = ValidateMessageText(strings.Repeat("ß", MaxMessageLength))
	assert.NoError(t, err, "the limit counts characters, not bytes")
	_, err = ValidateMessageText(strings.Repeat("ß", MaxMessageLength+1))
	assert.Equal(t, ETOOLARGE, ErrorCode(err))
	assert.Contains(t, ErrorFields(err), "text")
}

func TestChannelValidate(t *testing.T) {
	ok := Channel{Name: "Chat", Language: "de", OperatorIDs: []int64{1, 2}, WarnPersonalData: true, ConsentID: 3,
		AllowedOrigins: []string{"https://a.example"}}
	require.NoError(t, ok.Validate())
	assert.Equal(t, int64(1), ok.ResponsibleUserID())
	assert.True(t, ok.AsksConsent())
	assert.True(t, ok.OriginAllowed("https://a.example"))
	assert.False(t, ok.OriginAllowed("https://b.example"))
	for field, mod := range map[string]func(c *Channel){
		"name":              func(c *Channel) { c.Name = " " },
		"language":          func(c *Channel) { c.Language = "fr" },
		"key":               func(c *Channel) { c.Key = "UPPER" },
		"consent_id":        func(c *Channel) { c.ConsentID = 0 },
		"operator_ids":      func(c *Channel) { c.OperatorIDs = []int64{1, 1} },
		"allowed_origins.0": func(c *Channel) { c.AllowedOrigins = []string{"https://a.example/path"} },
	} {
		c := ok
		c.OperatorIDs = append([]int64(nil), ok.OperatorIDs...)
		mod(&c)
		assert.Contains(t, ErrorFields(c.Validate()), field)
	}
	off := Channel{Name: "Chat", Language: "en"}
	require.NoError(t, off.Validate())
	assert.Zero(t, off.ResponsibleUserID())
	assert.False(t, off.AsksConsent())
	assert.Equal(t, ConvOpen, InitialState(&off))
	assert.Equal(t, ConvAwaitingConsent, InitialState(&ok))
}

// TestDisposeVisitorMessage is the consent step's table: what happens to a
// visitor's message in every state.
func TestDisposeVisitorMessage(t *testing.T) {
	asks := &Channel{WarnPersonalData: true, ConsentID: 1}
	off := &Channel{}
	for _, tc := range []struct {
		state, held string
		ch          *Channel
		want        Disposition
		code        string
	}{
		{ConvOpen, "", asks, Deliver, ""},
		{ConvOpen, "", off, Deliver, ""},
		{ConvAwaitingConsent, "", asks, Hold, ""},
		{ConvAwaitingConsent, "first", asks, 0, ECONFLICT},
		{ConvAwaitingConsent, "first", off, Deliver, ""},
		{ConvDeclined, "", asks, 0, EFORBIDDEN},
		{ConvDeclined, "", off, 0, EFORBIDDEN},
		{"bogus", "", asks, 0, EINTERNAL},
	} {
		got, err := DisposeVisitorMessage(&Conversation{State: tc.state, HeldMessage: tc.held}, tc.ch)
		assert.Equal(t, tc.want, got, "%+v", tc)
		assert.Equal(t, tc.code, ErrorCode(err), "%+v", tc)
	}
}

func TestCheckPageURL(t *testing.T) {
	for _, ok := range []string{"", "https://shop.example/a?b=1", "http://127.0.0.2:8080/x"} {
		got, err := CheckPageURL(ok)
		assert.NoError(t, err, ok)
		assert.Equal(t, ok, got)
	}
	for _, bad := range []string{"javascript:alert(1)", "/relative", "https://" + strings.Repeat("a", MaxPageURL)} {
		_, err := CheckPageURL(bad)
		assert.Contains(t, ErrorFields(err), "page_url", bad)
	}
}
