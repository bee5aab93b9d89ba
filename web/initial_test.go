package web_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInitialStateIsTheServers: whatever a client says about how the box
// was shown, the entry records how the server showed it; the client's word
// on touching the box is kept as a claim, and a claim that cannot be true
// (a box that changed state "untouched") is refused with nothing stored.
// Form posts and JSON follow the same rules.
func TestInitialStateIsTheServers(t *testing.T) {
	e := newHardEnv(t, nil)
	// Form A's box is pre-ticked; form C's is not.
	formC := e.SeedForm(&formbuilder.Form{
		Name: "Contact C", Language: "en",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: false, Required: true}},
	})
	cid := strconv.FormatInt(e.consent.ID, 10)
	type claim struct {
		initial, interacted *bool
	}
	yes, no := true, false
	tests := []struct {
		name  string
		form  *formbuilder.Form
		claim claim
		// want is (initial, interacted) of the entry; refused means 422.
		wantInitial, wantInteracted bool
		refused                     bool
	}{
		{name: "pre-ticked, claimed not pre-ticked and untouched", form: e.formA,
			claim: claim{&no, &no}, wantInitial: true, wantInteracted: false},
		{name: "pre-ticked, claimed not pre-ticked, touched", form: e.formA,
			claim: claim{&no, &yes}, wantInitial: true, wantInteracted: true},
		{name: "pre-ticked, no claims", form: e.formA, wantInitial: true, wantInteracted: false},
		{name: "not pre-ticked, claimed pre-ticked and untouched", form: formC,
			claim: claim{&yes, &no}, refused: true},
		{name: "not pre-ticked, claimed pre-ticked", form: formC,
			claim: claim{initial: &yes}, wantInitial: false, wantInteracted: true},
		{name: "not pre-ticked, no claims", form: formC, wantInitial: false, wantInteracted: true},
	}
	n := 0
	for _, tt := range tests {
		for _, asJSON := range []bool{true, false} {
			name := tt.name + map[bool]string{true: " (JSON)", false: " (form post)"}[asJSON]
			if !asJSON && tt.claim.interacted != nil && !*tt.claim.interacted {
				// A form post cannot claim "untouched": its hidden field says
				// "0" without JavaScript too, and so says nothing.
				continue
			}
			t.Run(name, func(t *testing.T) {
				n++
				email := "v" + strconv.Itoa(n) + "@example.com"
				tok := e.RenderToken(tt.form.Key)
				var status int
				var body string
				if asJSON {
					box := map[string]any{"checked": true}
					if tt.claim.initial != nil {
						box["initial"] = *tt.claim.initial
					}
					if tt.claim.interacted != nil {
						box["interacted"] = *tt.claim.interacted
					}
					b, _ := json.Marshal(map[string]any{"token": tok, "values": map[string]string{"email": email},
						"consents": map[string]any{cid: box}})
					resp := e.postJSON(tt.form.Key, string(b))
					status, body = resp.StatusCode, testenv.ReadBody(t, resp)
				} else {
					vals := url.Values{"_token": {tok}, "email": {email}, "consent_" + cid: {"1"}}
					if tt.claim.initial != nil {
						vals.Set("consent_"+cid+"_initial", map[bool]string{true: "1", false: "0"}[*tt.claim.initial])
					}
					if tt.claim.interacted != nil {
						vals.Set("consent_"+cid+"_interacted", "1")
					}
					resp := e.postForm(tt.form.Key, vals)
					status, body = resp.StatusCode, testenv.ReadBody(t, resp)
				}
				recs, err := e.DB.ListRecords(context.Background(), formbuilder.RecordFilter{Query: email})
				require.NoError(t, err)
				if tt.refused {
					require.Equal(t, 422, status, body)
					assert.Contains(t, testenv.DecodeError(t, body).Error.Fields["consent."+cid], "cannot have been left untouched")
					assert.Empty(t, recs, "a refused submission stores nothing")
					return
				}
				require.Equal(t, 201, status, body)
				require.Len(t, recs, 1)
				assert.Equal(t, tt.wantInitial, recs[0].InitialState, "initial state")
				assert.Equal(t, tt.wantInteracted, recs[0].Interacted, "interacted")
			})
		}
	}
}

// TestInitialStateIsWhatThePageShowed: the admin switches "checked by
// default" while a visitor's page is open; the entry records the box as
// that page showed it (the render token's word), not as the form is now.
func TestInitialStateIsWhatThePageShowed(t *testing.T) {
	e := newHardEnv(t, nil)
	cid := strconv.FormatInt(e.consent.ID, 10)
	post := func(tok, email string) *formbuilder.ConsentRecord {
		t.Helper()
		resp := e.postForm(e.formA.Key, url.Values{"_token": {tok}, "email": {email}, "consent_" + cid: {"1"},
			// The page's hidden field, which the server no longer believes.
			"consent_" + cid + "_initial": {"1"}})
		require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
		recs, err := e.DB.ListRecords(context.Background(), formbuilder.RecordFilter{Subject: email})
		require.NoError(t, err)
		require.Len(t, recs, 1)
		return recs[0]
	}
	// The admin changes the form through the API, which the form pages
	// see at once.
	api := e.APIToken("initial")
	setTicked := func(ticked bool) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"name": e.formA.Name, "language": "en", "fields": e.formA.Fields,
			"allowed_origins": e.formA.AllowedOrigins,
			"consents":        []map[string]any{{"consent_id": e.consent.ID, "checked_by_default": ticked, "required": true}}})
		resp, out := e.API("PUT", "/api/v1/forms/"+strconv.FormatInt(e.formA.ID, 10), api, string(body))
		require.Equal(t, 200, resp.StatusCode, out)
	}

	// Shown pre-ticked, unticked by the admin meanwhile: pre-ticked, untouched.
	tok := e.RenderToken(e.formA.Key)
	setTicked(false)
	r := post(tok, "shown-ticked@example.com")
	assert.True(t, r.InitialState)
	assert.False(t, r.Interacted)

	// Shown unticked, pre-ticked by the admin meanwhile: the visitor ticked it.
	tok = e.RenderToken(e.formA.Key)
	setTicked(true)
	r = post(tok, "shown-empty@example.com")
	assert.False(t, r.InitialState)
	assert.True(t, r.Interacted)
}

// interactedFieldRE reads the hidden claim of a re-rendered page's box.
var interactedFieldRE = regexp.MustCompile(`name="consent_(\d+)_interacted" value="([01])"`)

// TestRefusedPageKeepsTheChange: without JavaScript, a visitor unticks the
// pre-ticked required box and is refused; the page that comes back says
// the box was changed, so that ticking it again is recorded as the
// visitor's act (pre-ticked, touched), not as an untouched default.
func TestRefusedPageKeepsTheChange(t *testing.T) {
	e := newHardEnv(t, nil)
	cid := strconv.FormatInt(e.consent.ID, 10)
	resp, page := e.PostRaw("/f/"+e.formA.Key, url.Values{"_token": {e.RenderToken(e.formA.Key)}, "email": {"ada@example.com"},
		"consent_" + cid + "_interacted": {"0"}})
	require.Equal(t, 422, resp.StatusCode, page)
	m := interactedFieldRE.FindStringSubmatch(page)
	require.NotNil(t, m, page)
	assert.Equal(t, []string{cid, "1"}, m[1:], "the page claims the change it saw")
	tok := tokenRE.FindStringSubmatch(page)
	require.NotNil(t, tok)

	// The next post sends what the page holds: the box ticked again and
	// the claim.
	resp, page = e.PostRaw("/f/"+e.formA.Key, url.Values{"_token": {tok[1]}, "email": {"ada@example.com"},
		"consent_" + cid: {"1"}, "consent_" + cid + "_interacted": {m[2]}})
	require.Equal(t, 200, resp.StatusCode, page)
	recs, err := e.DB.ListRecords(context.Background(), formbuilder.RecordFilter{Subject: "ada@example.com"})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.True(t, recs[0].InitialState, "shown pre-ticked")
	assert.True(t, recs[0].Interacted, "and changed by the visitor")
	assert.False(t, recs[0].PreTickedUntouched())
}
