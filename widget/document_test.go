package widget

import (
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// policyDoc is a stored document as versions carry it (no bytes).
var policyDoc = &formbuilder.Document{SHA256: strings.Repeat("ab", 32), Name: "privacy.pdf",
	ContentType: formbuilder.DocPDF, Size: 1234}

// TestDocumentLinks: a label whose version has a document links to exactly
// that file, served by this server, in a new tab without access to the
// page that opened it: in the form, in the chat (and its consent page) and
// on the withdrawal page. A document wins over a link URL a version could
// not also have.
func TestDocumentLinks(t *testing.T) {
	r := newRenderer(t)
	url := testBase + "/d/" + policyDoc.SHA256 + ".pdf"

	f := &formbuilder.Form{Key: "abcdefghjkmnpqrs", Name: "L", Language: "en", Consents: []formbuilder.FormConsent{{
		ConsentID: 5, Required: true, CheckedByDefault: true,
		Consent: &formbuilder.Consent{ID: 5, Current: &formbuilder.ConsentVersion{ID: 50,
			Label: "I agree to the %privacy policy%.", Text: "<p>t</p>", Document: policyDoc}},
	}}}
	out, err := r.FormPage(f, PageState{})
	require.NoError(t, err)
	assertSafePage(t, out)
	assert.Contains(t, string(out), `I agree to the <a class="cf-consent__link" href="`+url+
		`" target="_blank" rel="noopener nofollow">privacy policy<span class="cf-visually-hidden"> (opens in a new tab)</span></a>.`)
	box, err := r.ConsentBox(f, 5, PageState{Renewed: map[int64]bool{5: true}})
	require.NoError(t, err)
	assert.Contains(t, string(box), `href="`+url+`" target="_blank" rel="noopener nofollow"`, "the box of a 422 links it too")

	ch := fixtureChannel("en")
	ch.Consent.Current.Document = policyDoc
	out, err = r.ChatPage(ch, ChatPageState{})
	require.NoError(t, err)
	checkChatSafe(t, out)
	assert.Contains(t, string(out), `I agree to the <a href="`+url+`" target="_blank" rel="noopener">processing of my personal data</a>.`)
	out, err = r.ChatConsentPage(ch)
	require.NoError(t, err)
	assertSafePage(t, out)
	assert.Contains(t, string(out), `<a href="`+url+`" target="_blank" rel="noopener">privacy.pdf</a>`)

	rec := &formbuilder.ConsentRecord{ID: 7, Action: formbuilder.ActionGiven, Time: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	ver := &formbuilder.ConsentVersion{Label: "I agree to the %privacy policy%.", Text: "<p>t</p>", Language: "en", Document: policyDoc}
	out, err = r.WithdrawPage(WithdrawState{Lang: "en", Record: rec, Version: ver, Action: "/w/x"})
	require.NoError(t, err)
	assertSafePage(t, out)
	assert.Contains(t, string(out), `<strong>Consent:</strong> I agree to the <a href="`+url+`" target="_blank" rel="noopener">privacy policy</a>.</p>`)
	// Without a document or link URL the label stays text.
	ver.Document = nil
	out, err = r.WithdrawPage(WithdrawState{Lang: "en", Record: rec, Version: ver, Action: "/w/x"})
	require.NoError(t, err)
	assert.Contains(t, string(out), `<strong>Consent:</strong> I agree to the privacy policy.</p>`)
}
