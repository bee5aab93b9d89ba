package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publishedKeys reads the public keys as a verifier would: from the JWKS
// route, which anyone may fetch from anywhere.
func publishedKeys(t *testing.T, e *testenv.Env) *formbuilder.KeySet {
	t.Helper()
	resp, body := e.Get("/.well-known/consentforms-keys")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "application/jwk-set+json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.NotContains(t, body, `"d"`, "no private half is published")
	ks, err := formbuilder.ParseKeySet([]byte(body))
	require.NoError(t, err)
	return ks
}

// verifyReceipt checks a receipt against the published keys and the log.
func verifyReceipt(t *testing.T, e *testenv.Env, keys *formbuilder.KeySet, jws string) *formbuilder.Receipt {
	t.Helper()
	r, err := formbuilder.VerifyReceipt(jws, keys)
	require.NoError(t, err)
	rec, err := e.DB.FindRecord(context.Background(), r.Entry.ID)
	require.NoError(t, err)
	require.NoError(t, r.CheckEntry(rec))
	return r
}

type receiptJSON struct {
	RecordID int64  `json:"record_id"`
	Label    string `json:"label"`
	JWS      string `json:"jws"`
}

var receiptLinkRE = regexp.MustCompile(`<a href="data:application/jose,([A-Za-z0-9_.-]+)" download="consent-receipt-(\d+)\.jws"`)

// TestReceipts: every consent given gets a receipt signed with the
// installation's key, in the JSON answer, on the success page (as a
// download), on the withdrawal page and in the chat; each verifies against
// the published keys and names its log entry.
func TestReceipts(t *testing.T) {
	e := newHardEnv(t, nil)
	e.Login()
	resp, _ := e.Post("/admin/settings", url.Values{"company.name": {"Beispiel GmbH"}, "company.address": {"Musterstraße 1"},
		"company.purposes": {"answering you"}, "company.email": {"privacy@example.com"}, "ip_mode": {"full"}})
	require.Equal(t, 303, resp.StatusCode)
	keys := publishedKeys(t, e.Env)
	require.Len(t, keys.Keys, 1)
	cid := strconv.FormatInt(e.consent.ID, 10)

	t.Run("JSON answer", func(t *testing.T) {
		resp, body := e.sendConsents(e.formA.Key, map[string]string{"name": "Ada", "email": "ada@example.com"}, e.consent.ID)
		require.Equal(t, 201, resp.StatusCode, body)
		var ans struct {
			Receipts []receiptJSON `json:"receipts"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &ans))
		require.Len(t, ans.Receipts, 1)
		assert.Equal(t, "I agree to the privacy terms.", ans.Receipts[0].Label)
		r := verifyReceipt(t, e.Env, keys, ans.Receipts[0].JWS)
		assert.Equal(t, ans.Receipts[0].RecordID, r.Entry.ID)
		assert.Equal(t, "form "+e.formA.Key, r.CollectionMethod)
		assert.Equal(t, "ada@example.com", r.PIIPrincipalID)
		assert.Equal(t, testenv.BaseURL, r.Issuer)
		assert.Equal(t, "Beispiel GmbH", r.PIIControllers[0].Controller)
		assert.Equal(t, "answering you", r.Services[0].Purposes[0].Purpose)
		assert.Equal(t, []string{"Name", "E-mail", "Message"}, r.Services[0].Purposes[0].PIICategory, "the fields asked for")
		assert.Equal(t, formbuilder.ConsentTypeImplicit, r.Services[0].Purposes[0].ConsentType, "pre-ticked and untouched")
	})

	t.Run("success page and withdrawal page", func(t *testing.T) {
		vals := e.validForm(e.RenderToken(e.formA.Key), "bert@example.com")
		vals.Set("consent_"+cid+"_interacted", "1")
		resp, page := e.PostRaw("/f/"+e.formA.Key, vals)
		require.Equal(t, 200, resp.StatusCode, page)
		m := receiptLinkRE.FindStringSubmatch(page)
		require.NotNil(t, m, "the success page offers the receipt for download: %s", page)
		r := verifyReceipt(t, e.Env, keys, m[1])
		assert.Equal(t, m[2], strconv.FormatInt(r.Entry.ID, 10))
		assert.Equal(t, formbuilder.ConsentTypeExplicit, r.Services[0].Purposes[0].ConsentType, "touched")

		w := regexp.MustCompile(`href="(http://cf\.example/w/[^"]+)"`).FindStringSubmatch(page)
		require.NotNil(t, w)
		path := strings.TrimPrefix(html.UnescapeString(w[1]), testenv.BaseURL)
		resp, wpage := e.Get(path)
		require.Equal(t, 200, resp.StatusCode)
		shown := regexp.MustCompile(`<pre class="cf-receipt__jws">([A-Za-z0-9_.-]+)</pre>`).FindStringSubmatch(wpage)
		require.NotNil(t, shown, "the withdrawal page shows the receipt")
		again := verifyReceipt(t, e.Env, keys, shown[1])
		assert.Equal(t, r.Entry, again.Entry, "the same entry, signed anew")
		assert.Equal(t, r.ConsentReceiptID, again.ConsentReceiptID)
		resp, js := e.Get(path, "Accept", "application/json")
		require.Equal(t, 200, resp.StatusCode)
		var wj struct {
			Receipt string `json:"receipt"`
		}
		require.NoError(t, json.Unmarshal([]byte(js), &wj))
		verifyReceipt(t, e.Env, keys, wj.Receipt)

		// Withdrawn, the page still shows what was given.
		resp, _ = e.PostRaw(path, url.Values{})
		require.Equal(t, 200, resp.StatusCode)
		_, done := e.Get(path)
		assert.Contains(t, done, `class="cf-receipt__jws"`)
	})

	t.Run("honeypot", func(t *testing.T) {
		b := strings.Replace(e.validJSON(e.RenderToken(e.formA.Key), "bot@example.com"), `{`, `{"website":"x",`, 1)
		resp := e.postJSON(e.formA.Key, b)
		body := testenv.ReadBody(t, resp)
		require.Equal(t, 201, resp.StatusCode, body)
		var ans struct {
			Receipts []receiptJSON `json:"receipts"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &ans))
		require.Len(t, ans.Receipts, 1, "a bot gets what a person gets")
		_, err := formbuilder.VerifyReceipt(ans.Receipts[0].JWS, keys)
		assert.ErrorIs(t, err, formbuilder.ErrSignature, "but nothing our key signed")
	})
}

func TestChatReceipt(t *testing.T) {
	e := newChatEnv(t)
	keys := publishedKeys(t, e.Env)
	v := newVisitor(t)
	resp, _ := e.send(v, "Hello")
	require.Equal(t, 202, resp.StatusCode)
	resp, a := e.answer(v, "accept")
	require.Equal(t, 200, resp.StatusCode)
	r := verifyReceipt(t, e.Env, keys, a.Receipt)
	assert.Equal(t, e.conversation(v).ConsentRecordID, r.Entry.ID)
	assert.Equal(t, "chat "+e.ch.Key, r.CollectionMethod)
	assert.Equal(t, []string{"chat messages"}, r.Services[0].Purposes[0].PIICategory)
	assert.Equal(t, formbuilder.ConsentTypeExplicit, r.Services[0].Purposes[0].ConsentType)
	assert.Equal(t, "I agree to the processing of my chat messages.", r.Services[0].Service)
}
