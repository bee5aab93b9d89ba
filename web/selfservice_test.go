package web_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doiEnv is the hardened env with a newsletter consent that needs
// confirmation by e-mail, attached to form A (optional, not pre-ticked).
type doiEnv struct {
	*hardEnv
	news *formbuilder.Consent
}

func newDOIEnv(t *testing.T) *doiEnv {
	t.Helper()
	e := &doiEnv{hardEnv: newHardEnv(t, nil)}
	e.news = e.SeedConsentContent("Newsletter (internal)", formbuilder.ConsentContent{Text: "<p>Monthly news by e-mail.</p>",
		Label: "Send me the %newsletter%.", Language: "en"})
	co, err := e.DB.FindConsentByID(context.Background(), e.news.ID)
	require.NoError(t, err)
	co.ConfirmByEmail = true
	_, err = e.DB.UpdateConsent(context.Background(), co, co.Current.Content(), "test")
	require.NoError(t, err)
	f := e.Form(e.formA.ID)
	f.Consents = append(f.Consents, formbuilder.FormConsent{ConsentID: e.news.ID})
	require.NoError(t, e.DB.UpdateForm(context.Background(), f))
	e.formA = e.SeedForm(&formbuilder.Form{Name: "News form", Fields: f.Fields, Consents: f.Consents})
	return e
}

// give posts form A from email with both consents ticked and returns the
// newsletter's entry.
func (e *doiEnv) give(email string) *formbuilder.ConsentRecord {
	e.T.Helper()
	resp, body := e.sendConsents(e.formA.Key, map[string]string{"email": email}, e.consent.ID, e.news.ID)
	require.Equal(e.T, 201, resp.StatusCode, body)
	recs, err := e.DB.ListRecords(context.Background(), formbuilder.RecordFilter{Subject: email, ConsentID: e.news.ID})
	require.NoError(e.T, err)
	require.Len(e.T, recs, 1)
	return recs[0]
}

func TestDoubleOptInConfirmPage(t *testing.T) {
	e := newDOIEnv(t)
	ctx := context.Background()
	rec := e.give("ada@example.com")
	assert.Equal(t, testenv.Start.Add(formbuilder.DefaultConfirmWithin).Unix()/60, rec.ConfirmBy.Unix()/60,
		"the deadline is the configured time to confirm from now")
	msgs, err := e.DB.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: e.formA.ID, Kind: formbuilder.DeliveryConfirm})
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the confirmation mail is queued with the submission")
	assert.Equal(t, "ada@example.com", msgs[0].Target)

	link := e.Srv.ConfirmURL(rec.ID)
	path := strings.TrimPrefix(link, testenv.BaseURL)
	require.Regexp(t, `^/confirm/\d+\.[A-Za-z0-9_-]{24}$`, path)
	resp, page := e.Get(path)
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, "Confirm your consent")
	assert.Contains(t, page, "Send me the newsletter.")
	assert.Contains(t, page, "Monthly news by e-mail.")
	assert.NotContains(t, page, "Newsletter (internal)")
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	ok, err := e.DB.Confirmed(ctx, []int64{rec.ID})
	require.NoError(t, err)
	assert.Empty(t, ok, "opening the link confirms nothing")

	resp, page = e.PostRaw(path, url.Values{})
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, "Consent confirmed")
	assert.Contains(t, page, `class="cf-receipt__jws"`, "the receipt of what is now confirmed")
	ok, err = e.DB.Confirmed(ctx, []int64{rec.ID})
	require.NoError(t, err)
	assert.True(t, ok[rec.ID])
	resp, page = e.PostRaw(path, url.Values{})
	require.Equal(t, 200, resp.StatusCode, "a second press changes nothing")
	assert.Contains(t, page, "Consent confirmed")
	confirmations, err := e.DB.ListRecords(ctx, formbuilder.RecordFilter{Action: formbuilder.ActionConfirmed})
	require.NoError(t, err)
	assert.Len(t, confirmations, 1)

	// Too late: shown as expired, and nothing is appended.
	late := e.give("late@example.com")
	e.Clock.Add(formbuilder.DefaultConfirmWithin + time.Hour)
	lpath := strings.TrimPrefix(e.Srv.ConfirmURL(late.ID), testenv.BaseURL)
	resp, page = e.PostRaw(lpath, url.Values{})
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, "Link expired")
	confirmations, err = e.DB.ListRecords(ctx, formbuilder.RecordFilter{Action: formbuilder.ActionConfirmed})
	require.NoError(t, err)
	assert.Len(t, confirmations, 1)

	// A forged link, another entry's signature, a consent that needs no
	// confirmation: not found.
	privacy, err := e.DB.ListRecords(ctx, formbuilder.RecordFilter{ConsentID: e.consent.ID, Limit: 1})
	require.NoError(t, err)
	for _, p := range []string{"/confirm/" + strconv.FormatInt(rec.ID, 10) + ".AAAAAAAAAAAAAAAAAAAAAAAA",
		"/confirm/" + strconv.FormatInt(late.ID, 10) + path[strings.Index(path, "."):],
		strings.TrimPrefix(e.Srv.ConfirmURL(privacy[0].ID), testenv.BaseURL)} {
		resp, _ := e.Get(p)
		assert.Equal(t, 404, resp.StatusCode, p)
	}
}

// A consent that needs confirmation by e-mail cannot be given without an
// address to confirm through.
func TestDoubleOptInNeedsAnAddress(t *testing.T) {
	e := newDOIEnv(t)
	f := e.SeedForm(&formbuilder.Form{Name: "Phone only",
		Fields:   []formbuilder.Field{{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.news.ID, Required: true}}})
	resp, body := e.sendConsents(f.Key, map[string]string{"phone": "+49 30 1234567"}, e.news.ID)
	require.Equal(t, 422, resp.StatusCode, body)
	assert.Contains(t, testenv.DecodeError(t, body).Error.Fields["consent."+strconv.FormatInt(e.news.ID, 10)], "e-mail address")
	e.RequireNothingStored()
}

// addressValueRE finds the address the ask page shows in its field again.
var addressValueRE = regexp.MustCompile(`value="[^"]*@[^"]*"`)

// TestSelfServiceAsksWithoutTellingWhoIsKnown: the page answers every
// address alike and queues a mail for every one (the worker sends only to
// known ones); it is limited per client and per address.
func TestSelfServiceAsksWithoutTellingWhoIsKnown(t *testing.T) {
	e := newDOIEnv(t)
	e.give("ada@example.com")
	resp, page := e.Get("/my-consents")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, `<html lang="en"`)
	assert.Contains(t, page, "Your consents")
	_, de := e.Get("/my-consents", "Accept-Language", "de-DE,de;q=0.9")
	assert.Contains(t, de, `<html lang="de"`)
	assert.Contains(t, de, "Ihre Einwilligungen")
	_, de = e.Get("/my-consents?lang=de")
	assert.Contains(t, de, "E-Mail-Adresse")

	ask := func(email string) (int, string) {
		resp, body := e.PostRaw("/my-consents", url.Values{"email": {email}, "lang": {"en"}})
		return resp.StatusCode, addressValueRE.ReplaceAllString(body, `value="ADDRESS"`)
	}
	outbox := func() int {
		msgs, err := e.DB.ListOutbox(context.Background(), formbuilder.OutboxFilter{Kind: formbuilder.DeliveryAccess})
		require.NoError(t, err)
		return len(msgs)
	}
	resp, _ = e.PostRaw("/my-consents", url.Values{"email": {"not an address"}})
	assert.Equal(t, 422, resp.StatusCode)
	known, kbody := ask("ada@example.com")
	unknown, ubody := ask("nobody@example.com")
	assert.Equal(t, 200, known)
	assert.Equal(t, known, unknown)
	assert.Equal(t, kbody, ubody, "the same answer for a known and an unknown address")
	assert.Contains(t, kbody, "If we have consents for this address")
	assert.Equal(t, 2, outbox(), "queued for both: the worker decides")

	// The same address a fourth time within the hour: the same answer, no
	// fourth mail.
	ask("ada@example.com")
	ask("ADA@example.com")
	code, body := ask("ada@example.com")
	assert.Equal(t, 200, code)
	assert.Equal(t, kbody, body)
	assert.Equal(t, 4, outbox())

	// One client asking for many addresses is stopped.
	for i := 0; i < 4; i++ {
		ask("other" + strconv.Itoa(i) + "@example.com")
	}
	code, _ = ask("more@example.com")
	assert.Equal(t, 429, code)

}

// TestSelfServiceList: the mailed link lists every consent given with the
// address, with its text version, time, source, state and receipt, and
// withdraws each that is in force; in German and English.
func TestSelfServiceList(t *testing.T) {
	e := newDOIEnv(t)
	ctx := context.Background()
	news := e.give("Ada@Example.com")
	other := e.give("bob@example.com")
	keys := publishedKeys(t, e.Env)

	path := strings.TrimPrefix(e.Srv.AccessURL("ada@example.com", "en", e.Clock.Now()), testenv.BaseURL)
	resp, page := e.Get(path)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	assert.Contains(t, page, "Consents given with ada@example.com")
	assert.Contains(t, page, "I agree to the privacy terms.")
	assert.Contains(t, page, "Send me the newsletter.")
	assert.Contains(t, page, "waiting for your confirmation")
	assert.Contains(t, page, "version 1")
	assert.NotContains(t, page, "bob@example.com")
	assert.NotContains(t, page, "Newsletter (internal)")
	receipts := receiptLinkRE.FindAllStringSubmatch(page, -1)
	require.Len(t, receipts, 2)
	for _, m := range receipts {
		verifyReceipt(t, e.Env, keys, m[1])
	}
	assert.Equal(t, 2, strings.Count(page, `name="entry"`), "a withdraw button for each in force")

	// Withdraw the newsletter; the list shows it withdrawn, without a button.
	resp, _ = e.PostRaw(path, url.Values{"entry": {strconv.FormatInt(news.ID, 10)}})
	require.Equal(t, 303, resp.StatusCode)
	done, err := e.DB.Withdrawn(ctx, []int64{news.ID})
	require.NoError(t, err)
	assert.True(t, done[news.ID])
	_, page = e.Get(path)
	assert.Contains(t, page, "withdrawn")
	assert.Equal(t, 1, strings.Count(page, `name="entry"`))

	// Another person's entry cannot be withdrawn through this link.
	resp, _ = e.PostRaw(path, url.Values{"entry": {strconv.FormatInt(other.ID, 10)}})
	assert.Equal(t, 404, resp.StatusCode)
	done, err = e.DB.Withdrawn(ctx, []int64{other.ID})
	require.NoError(t, err)
	assert.Empty(t, done)

	// German.
	dpath := strings.TrimPrefix(e.Srv.AccessURL("ada@example.com", "de", e.Clock.Now()), testenv.BaseURL)
	_, dpage := e.Get(dpath)
	assert.Contains(t, dpage, `<html lang="de"`)
	assert.Contains(t, dpage, "Mit ada@example.com erteilte Einwilligungen")
	assert.Contains(t, dpage, "widerrufen")
	assert.Contains(t, dpage, "Fassung 1")

	// An hour later the link is spent; a forged one never worked.
	e.Clock.Add(time.Hour + time.Minute)
	resp, gone := e.Get(path)
	assert.Equal(t, 410, resp.StatusCode)
	assert.Contains(t, gone, "/my-consents")
	resp, _ = e.Get(path[:len(path)-4] + "AAAA")
	assert.Equal(t, 410, resp.StatusCode)
}

// TestSuccessSaysWhatWaitsForConfirmation: the answer to a submission names
// the consents that count only once confirmed by mail, as JSON (to_confirm)
// and on the success page; a consent that needs no confirmation is not named.
func TestSuccessSaysWhatWaitsForConfirmation(t *testing.T) {
	e := newDOIEnv(t)
	cid, nid := strconv.FormatInt(e.consent.ID, 10), strconv.FormatInt(e.news.ID, 10)
	resp, body := e.sendConsents(e.formA.Key, map[string]string{"email": "ada@example.com"}, e.consent.ID, e.news.ID)
	require.Equal(t, 201, resp.StatusCode, body)
	var res struct {
		ToConfirm []string `json:"to_confirm"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &res))
	assert.Equal(t, []string{"Send me the newsletter."}, res.ToConfirm)

	// Without the newsletter nothing waits: an empty list, never null.
	resp, body = e.sendConsents(e.formA.Key, map[string]string{"email": "bob@example.com"}, e.consent.ID)
	require.Equal(t, 201, resp.StatusCode, body)
	assert.Contains(t, body, `"to_confirm":[]`)

	// A plain form post gets the page, which says it too.
	resp, page := e.PostRaw("/f/"+e.formA.Key, url.Values{"_token": {e.RenderToken(e.formA.Key)}, "email": {"eve@example.com"},
		"consent_" + cid: {"1"}, "consent_" + nid: {"1"}})
	require.Equal(t, 200, resp.StatusCode, page)
	assert.Contains(t, page, `<p class="cf-success__confirm">Please check your e-mail: your consent “Send me the newsletter.” counts only once you confirm it`)
	assert.Equal(t, 1, strings.Count(page, "cf-success__confirm"))
}
