package widget

import (
	"encoding/json"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtureChannel asks for the privacy consent of fixtureForm.
func fixtureChannel(lang string) *formbuilder.Channel {
	f := fixtureForm(lang)
	return &formbuilder.Channel{ID: 4, Key: "chankeyabcdefgh2", Name: "Website chat", Language: lang,
		WarnPersonalData: true, ConsentID: 3, Consent: f.Consents[0].Consent}
}

var chatJSONRE = regexp.MustCompile(`(?s)<script type="application/json" id="cf-chat-texts">(.*?)</script>`)

// checkChatSafe is checkSafe for the chat page: its one script is chat.js,
// besides the inert JSON block of texts.
func checkChatSafe(t *testing.T, out []byte) {
	t.Helper()
	s := chatJSONRE.ReplaceAllString(string(out), "")
	tags := scriptTagRE.FindAllString(s, -1)
	require.Len(t, tags, 1)
	assert.Regexp(t, `^<script src="http://127\.0\.0\.1:8080/static/chat\.[0-9a-f]{10}\.js" defer>$`, tags[0])
	assert.NotRegexp(t, styleTagRE, s)
	assert.NotRegexp(t, badTagRE, s)
	for _, a := range attrs(s) {
		assert.False(t, strings.HasPrefix(a[0], "on"), "event handler attribute %s=%q", a[0], a[1])
		assert.NotEqual(t, "style", a[0], "style attribute")
		if a[0] == "href" || a[0] == "src" {
			assert.NotRegexp(t, scriptURLRE, html.UnescapeString(a[1]))
		}
	}
}

func TestChatPage(t *testing.T) {
	r := newRenderer(t)
	ch := fixtureChannel("en")
	out, err := r.ChatPage(ch, ChatPageState{Embed: true, Origin: "https://shop.example.com",
		PageURL: "https://shop.example.com/help?q=1"})
	require.NoError(t, err)
	checkChatSafe(t, out)
	s := string(out)
	assert.Contains(t, s, `<html lang="en" class="cf-embed" data-embed="1" data-origin="https://shop.example.com">`)
	assert.Regexp(t, `<link rel="stylesheet" href="http://127\.0\.0\.1:8080/static/chat\.[0-9a-f]{10}\.css">`, s)
	assert.Contains(t, s, `data-api="http://127.0.0.1:8080/c/chankeyabcdefgh2"`)
	assert.Contains(t, s, `data-page="https://shop.example.com/help?q=1"`)
	assert.Contains(t, s, `id="cf-chat-close"`)
	// The consent: its label with the %…% part as the toggle of its text,
	// the sanitised text hidden until asked for, the version shown.
	assert.Contains(t, s, `data-version="31"`)
	assert.Contains(t, s, `I agree to the <a href="#cf-chat-consent-text" class="cf-chat__toggle" id="cf-chat-toggle" aria-expanded="false" aria-controls="cf-chat-consent-text">processing of my personal data</a>.`)
	assert.Contains(t, s, `<div class="cf-chat__consent-text" id="cf-chat-consent-text" role="region" aria-label="Consent text" hidden><p>We process your data to answer you.`)
	assert.Contains(t, s, `href="http://127.0.0.1:8080/c/chankeyabcdefgh2/consent"`)
	assert.Contains(t, s, `id="cf-chat-accept">Accept and send</button>`)
	assert.Contains(t, s, `id="cf-chat-decline">Decline</button>`)

	m := chatJSONRE.FindStringSubmatch(s)
	require.Len(t, m, 2)
	var texts map[string]string
	require.NoError(t, json.Unmarshal([]byte(m[1]), &texts), m[1])
	for _, k := range chatScriptTexts {
		assert.NotEmpty(t, texts[k], k)
	}

	// Standalone: no close button, no origin; a bad page URL is dropped.
	out, err = r.ChatPage(ch, ChatPageState{PageURL: "javascript:alert(1)", Origin: "https://evil.example"})
	require.NoError(t, err)
	s = string(out)
	assert.NotContains(t, s, "cf-chat-close")
	assert.NotContains(t, s, "data-origin")
	assert.Contains(t, s, `data-page=""`)

	// A link URL on the consent makes the label link to it instead.
	ch.Consent = fixtureForm("en").Consents[1].Consent
	out, err = r.ChatPage(ch, ChatPageState{})
	require.NoError(t, err)
	assert.Contains(t, string(out), `Send me the <a href="https://example.com/newsletter" target="_blank" rel="noopener">newsletter</a> (100% free).`)

	// No consent step: no consent block at all.
	ch.WarnPersonalData = false
	out, err = r.ChatPage(ch, ChatPageState{})
	require.NoError(t, err)
	assert.NotContains(t, string(out), "cf-chat-consent")
	checkChatSafe(t, out)

	// German chrome.
	out, err = r.ChatPage(fixtureChannel("de"), ChatPageState{})
	require.NoError(t, err)
	assert.Contains(t, string(out), `Zustimmen und senden`)
	assert.Contains(t, string(out), `lang="de"`)

	// A consent that is on but not loaded cannot be asked.
	broken := fixtureChannel("en")
	broken.Consent = nil
	_, err = r.ChatPage(broken, ChatPageState{})
	require.Error(t, err)
}

func TestChatPageEscapes(t *testing.T) {
	r := newRenderer(t)
	for _, p := range xssPayloads {
		ch := fixtureChannel("en")
		ch.Name = p
		v := *ch.Consent.Current
		v.Label = p + " %" + p + "% " + p
		v.Text = "<p>ok</p>" + p
		co := *ch.Consent
		co.Current = &v
		ch.Consent = &co
		out, err := r.ChatPage(ch, ChatPageState{Embed: true, PageURL: "https://a.example/?" + p})
		require.NoError(t, err)
		checkChatSafe(t, out)
		assert.NotContains(t, string(out), "<script>alert")
		out, err = r.ChatConsentPage(ch)
		require.NoError(t, err)
		assertSafePage(t, out)
	}
}

func TestChatConsentPage(t *testing.T) {
	r := newRenderer(t)
	out, err := r.ChatConsentPage(fixtureChannel("en"))
	require.NoError(t, err)
	assertSafePage(t, out)
	s := string(out)
	assert.Contains(t, s, `<strong>I agree to the processing of my personal data.</strong>`)
	assert.Contains(t, s, `We process your data to answer you.`)
	ch := fixtureChannel("de")
	ch.WarnPersonalData = false
	out, err = r.ChatConsentPage(ch)
	require.NoError(t, err)
	assert.Contains(t, string(out), "Dieser Chat fragt nach keiner Einwilligung.")
}
