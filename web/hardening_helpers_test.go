package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// hardEnv is the shared test env with two forms: A (name, email, message;
// one required consent) and B (email; the same consent), and A allowing
// only https://shop.example. Its app trusts no proxy and refuses forms sent
// within two seconds of rendering.
type hardEnv struct {
	*testenv.Env
	formA   *formbuilder.Form
	formB   *formbuilder.Form
	consent *formbuilder.Consent
}

// newHardEnv builds the env; mod may change the config (limits, proxies).
func newHardEnv(t testing.TB, mod func(*web.Config)) *hardEnv {
	t.Helper()
	env := testenv.New(t, testenv.WithConfig(func(c *web.Config) {
		c.MinFillTime = 2 * time.Second
		c.TrustedProxies = nil
		if mod != nil {
			mod(c)
		}
	}))
	e := &hardEnv{Env: env}
	ctx := context.Background()
	owner := &formbuilder.User{Email: "owner@example.com", Name: "Olga Owner"}
	require.NoError(t, env.DB.CreateUser(ctx, owner))
	e.consent = env.SeedConsent("Privacy", "<p>We process your data.</p>", "I agree to the %privacy terms%.")
	e.formA = env.SeedForm(&formbuilder.Form{
		Name: "Contact A", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		Consents:          []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
		AllowedOrigins:    []string{"https://shop.example"},
		ResponsibleUserID: owner.ID,
	})
	e.formB = env.SeedForm(&formbuilder.Form{
		Name: "Contact B", Language: "en",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
	})
	return e
}

// validForm returns the url-encoded fields of a good submission of form A.
func (e *hardEnv) validForm(tok, email string) url.Values {
	cid := strconv.FormatInt(e.consent.ID, 10)
	return url.Values{
		"_token": {tok}, "name": {"Erika"}, "email": {email}, "message": {"Hello"},
		"consent_" + cid: {"1"}, "consent_" + cid + "_initial": {"1"},
	}
}

// validJSON returns the JSON body of a good submission of form A.
func (e *hardEnv) validJSON(tok, email string) string {
	b, _ := json.Marshal(map[string]any{
		"token":    tok,
		"values":   map[string]string{"name": "Erika", "email": email, "message": "Hello"},
		"consents": map[string]any{strconv.FormatInt(e.consent.ID, 10): map[string]bool{"checked": true, "initial": true}},
	})
	return string(b)
}

// postForm posts vals url-encoded to /f/key, asking for JSON.
func (e *hardEnv) postForm(key string, vals url.Values, hdr ...string) *http.Response {
	e.T.Helper()
	req := testenv.Request("POST", "/f/"+key, strings.NewReader(vals.Encode()),
		append([]string{"Content-Type", "application/x-www-form-urlencoded", "Accept", "application/json"}, hdr...)...)
	return e.Do(req)
}

// postJSON posts body as JSON to /f/key.
func (e *hardEnv) postJSON(key, body string, hdr ...string) *http.Response {
	e.T.Helper()
	req := testenv.Request("POST", "/f/"+key, strings.NewReader(body),
		append([]string{"Content-Type", "application/json"}, hdr...)...)
	return e.Do(req)
}

// sendConsents posts a fresh render token of form key with values and the
// consents ticked (by id) as JSON, and returns the answer and its body.
func (e *hardEnv) sendConsents(key string, values map[string]string, ticked ...int64) (*http.Response, string) {
	e.T.Helper()
	consents := map[string]bool{}
	for _, id := range ticked {
		consents[strconv.FormatInt(id, 10)] = true
	}
	b, err := json.Marshal(map[string]any{"token": e.RenderToken(key), "values": values, "consents": consents})
	require.NoError(e.T, err)
	resp := e.postJSON(key, string(b))
	return resp, testenv.ReadBody(e.T, resp)
}

// counts returns the number of submissions and consent records stored.
func (e *hardEnv) counts() (subs, recs int) {
	e.T.Helper()
	return e.Count("submissions"), e.Count("consent_records")
}

// sendChunks writes n chunks of chunk and the last chunk to conn, the body
// of a request sent with Transfer-Encoding: chunked; it stops when the
// server closed the connection.
func sendChunks(conn net.Conn, chunk string, n int) {
	for range n {
		if _, err := fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
			return
		}
	}
	fmt.Fprint(conn, "0\r\n\r\n")
}
