package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConsentEditorAsksForDoubleOptIn: the consent editor's switch and the
// API's confirm_by_email set it; a PUT without it, and the "update from
// the company data" button, keep it; a consent a chat channel uses cannot
// get it, and the editor says so at the switch.
func TestConsentEditorAsksForDoubleOptIn(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	e.Login()
	resp, body := e.Post("/admin/consents", url.Values{"name": {"Newsletter"}, "type": {"custom"}, "text": {"<p>News.</p>"},
		"label": {"Send me %news%."}, "language": {"en"}, "confirm_by_email": {"1"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	id := strings.TrimPrefix(strings.SplitN(resp.Header.Get("Location"), "?", 2)[0], "/admin/consents/")
	cid, err := strconv.ParseInt(id, 10, 64)
	require.NoError(t, err)
	co, err := e.DB.FindConsentByID(ctx, cid)
	require.NoError(t, err)
	assert.True(t, co.ConfirmByEmail)
	_, page := e.Get("/admin/consents/" + id)
	assert.Contains(t, page, `id="confirm_by_email" name="confirm_by_email" value="1" checked`)
	audit := e.Audit()
	require.NotEmpty(t, audit)
	assert.Equal(t, "true", audit[0].Details["confirm_by_email"], "the audit trail says so")

	// Saving the editor without the box ticked turns it off.
	resp, body = e.Post("/admin/consents/"+id, url.Values{"name": {"Newsletter"}, "type": {"custom"}, "text": {"<p>News.</p>"},
		"label": {"Send me %news%."}, "language": {"en"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	co, err = e.DB.FindConsentByID(ctx, cid)
	require.NoError(t, err)
	assert.False(t, co.ConfirmByEmail)

	// The API: on with true, kept by a PUT that leaves it out, off with false.
	tok := e.APIToken("script")
	put := func(extra string) *formbuilder.Consent {
		t.Helper()
		resp, body := e.API(http.MethodPut, "/api/v1/consents/"+id, tok,
			`{"name":"Newsletter","text":"<p>News.</p>","label":"Send me %news%.","language":"en"`+extra+`}`)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var out formbuilder.Consent
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		return &out
	}
	assert.True(t, put(`,"confirm_by_email":true`).ConfirmByEmail)
	assert.True(t, put(``).ConfirmByEmail, "a PUT without the field keeps it")
	assert.False(t, put(`,"confirm_by_email":false`).ConfirmByEmail)
	resp, body = e.API(http.MethodPost, "/api/v1/consents", tok,
		`{"name":"Offers","text":"<p>Offers.</p>","label":"Send me %offers%.","language":"en","confirm_by_email":true}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	assert.Contains(t, body, `"confirm_by_email":true`)

	// A standard consent made from older company data keeps double opt-in
	// when it is brought up to date.
	std := &formbuilder.Consent{Name: "Standard", Type: formbuilder.ConsentStandard, ConfirmByEmail: true}
	old := formbuilder.StandardContent("en", formbuilder.CompanyData{Name: "Old GmbH", Purposes: "answering"})
	old.Sanitize()
	require.NoError(t, e.DB.CreateConsent(ctx, std, old, "seed"))
	resp, body = e.Post("/admin/settings", url.Values{"company.name": {"New GmbH"}, "company.purposes": {"answering"},
		"ip_mode": {"full"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	resp, body = e.Post("/admin/consents/"+strconv.FormatInt(std.ID, 10)+"/update-standard", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	got, err := e.DB.FindConsentByID(ctx, std.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Current.Number)
	assert.True(t, got.ConfirmByEmail, "updating the text keeps double opt-in")

	// A consent a chat channel asks for cannot need a mail.
	chatConsent := e.SeedConsent("Chat terms", "<p>Chat.</p>", "I accept the %chat terms%.")
	require.NoError(t, e.DB.CreateChannel(ctx, &formbuilder.Channel{Name: "Help", Language: "en", WarnPersonalData: true,
		ConsentID: chatConsent.ID}))
	resp, body = e.Post("/admin/consents/"+strconv.FormatInt(chatConsent.ID, 10), url.Values{"name": {"Chat terms"},
		"type": {"custom"}, "text": {"<p>Chat.</p>"}, "label": {"I accept the %chat terms%."}, "language": {"en"},
		"confirm_by_email": {"1"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
	assert.Contains(t, body, formbuilder.M(formbuilder.MsgChatCannotConfirm).String())
	assert.Contains(t, body, `href="#confirm_by_email"`, "the error summary leads to the switch")
	got, err = e.DB.FindConsentByID(ctx, chatConsent.ID)
	require.NoError(t, err)
	assert.False(t, got.ConfirmByEmail)
}

// TestLogShowsConfirmationState: the log list, an entry's page, the
// submission page and the API show a consent that needs confirmation as
// unconfirmed, then confirmed with the confirmation as an entry of its
// own, or expired when nobody confirmed it in time; the filter finds the
// confirmations.
func TestLogShowsConfirmationState(t *testing.T) {
	e := newDOIEnv(t)
	ctx := context.Background()
	rec := e.give("ada@example.com")
	late := e.give("late@example.com")
	e.Login()
	tok := e.APIToken("reader")
	apiState := func(id int64) string {
		t.Helper()
		resp, body := e.API(http.MethodGet, "/api/v1/consent-records/"+strconv.FormatInt(id, 10), tok, "")
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var out struct {
			Record struct {
				Confirmation string `json:"confirmation"`
				ConfirmBy    string `json:"confirm_by"`
				ConfirmsID   int64  `json:"confirms_id"`
				Action       string `json:"action"`
			} `json:"record"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		if out.Record.Action == formbuilder.ActionGiven {
			assert.NotEmpty(t, out.Record.ConfirmBy)
		}
		return out.Record.Confirmation
	}
	row := func(page string, id int64) string {
		t.Helper()
		i := strings.Index(page, `id="entry-`+strconv.FormatInt(id, 10)+`"`)
		require.GreaterOrEqual(t, i, 0, "entry %d is listed", id)
		return page[i : i+strings.Index(page[i:], "</tr>")]
	}

	_, page := e.Get("/admin/log")
	assert.Contains(t, row(page, rec.ID), `state-unconfirmed`)
	assert.Equal(t, formbuilder.ConfirmPending, apiState(rec.ID))
	_, page = e.Get("/admin/log/" + strconv.FormatInt(rec.ID, 10))
	assert.Contains(t, page, `id="doi-notice"`)
	assert.Contains(t, page, "Unconfirmed.")
	assert.Contains(t, page, `id="confirm-by"`)

	// The visitor confirms.
	resp, _ := e.PostRaw(strings.TrimPrefix(e.Srv.ConfirmURL(rec.ID), testenv.BaseURL), url.Values{})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	confs, err := e.DB.ListRecords(ctx, formbuilder.RecordFilter{Action: formbuilder.ActionConfirmed})
	require.NoError(t, err)
	require.Len(t, confs, 1)
	conf := confs[0]

	_, page = e.Get("/admin/log")
	assert.Contains(t, row(page, rec.ID), `state-confirmed`)
	assert.Contains(t, row(page, conf.ID), `confirmation</span> of <a href="/admin/log/`+strconv.FormatInt(rec.ID, 10)+`"`)
	assert.Contains(t, row(page, late.ID), `state-unconfirmed`)
	assert.Equal(t, formbuilder.ConfirmDone, apiState(rec.ID))
	assert.Equal(t, "", apiState(conf.ID), "a confirmation has no state of its own")
	_, page = e.Get("/admin/log/" + strconv.FormatInt(conf.ID, 10))
	assert.Contains(t, page, "Confirmation entry")
	assert.Contains(t, page, `id="withdraws-link"`)

	// The filter finds the confirmations only.
	resp, page = e.Get("/admin/log?action=confirmed")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, `id="entry-`+strconv.FormatInt(conf.ID, 10)+`"`)
	assert.NotContains(t, page, `id="entry-`+strconv.FormatInt(rec.ID, 10)+`"`)
	assert.Contains(t, page, `<option value="confirmed" selected>`)
	resp, body := e.API(http.MethodGet, "/api/v1/consent-records?action=confirmed", tok, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, `"confirms_id":`+strconv.FormatInt(rec.ID, 10))
	resp, body = e.API(http.MethodGet, "/api/v1/consent-records?action=maybe", tok, "")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, body)
	assert.Contains(t, body, "given, withdrawn, confirmed")

	// The submission page shows the state next to each entry.
	_, page = e.Get("/admin/forms/" + strconv.FormatInt(e.formA.ID, 10) + "/submissions/" + strconv.FormatInt(rec.SubmissionID, 10))
	i := strings.Index(page, `id="consent-entry-`+strconv.FormatInt(rec.ID, 10)+`"`)
	require.GreaterOrEqual(t, i, 0)
	assert.Contains(t, page[i:], `state-confirmed`)
	assert.Contains(t, page, `id="consent-entry-`+strconv.FormatInt(conf.ID, 10)+`"`)

	// Nobody confirms the other one in time: expired.
	e.Clock.Add(formbuilder.DefaultConfirmWithin + 1)
	e.Login() // the session ended meanwhile
	_, page = e.Get("/admin/log")
	assert.Contains(t, row(page, late.ID), `state-expired`)
	assert.Contains(t, row(page, rec.ID), `state-confirmed`, "a confirmed consent stays confirmed")
	assert.Equal(t, formbuilder.ConfirmExpired, apiState(late.ID))
	_, page = e.Get("/admin/log/" + strconv.FormatInt(late.ID, 10))
	assert.Contains(t, page, "Expired unconfirmed.")

	// Exports carry the deadline and the link between the entries, and
	// their hashes still hold.
	resp, body = e.API(http.MethodGet, "/api/v1/consent-records/export?format=csv", tok, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	dec := formbuilder.NewCSVDecoder(strings.NewReader(body))
	var seen int
	for {
		r, err := dec.Decode()
		if err != nil {
			break
		}
		assert.Equal(t, r.Hash, r.ComputeHash(), "entry %d", r.ID)
		if r.ID == conf.ID {
			assert.Equal(t, rec.ID, r.ConfirmsID)
			seen++
		}
		if r.ID == rec.ID {
			assert.True(t, r.ConfirmBy.Equal(rec.ConfirmBy))
			seen++
		}
	}
	assert.Equal(t, 2, seen)
}
