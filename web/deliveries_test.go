package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// version is the current version of the env's form, for posts.
func (e *inboxEnv) version() string {
	return strconv.Itoa(e.Form(e.f.ID).Version)
}

func TestDeliverySettings(t *testing.T) {
	e := newInboxEnv(t)
	ctx := context.Background()
	resp, body := e.Get(e.formPath("/deliveries"))
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `id="smtp-missing"`, "says that SMTP is not configured")
	assert.Contains(t, body, "Nothing sent yet.")

	// Add a webhook without a secret: one is made.
	resp, _ = e.Post(e.formPath("/webhooks"), url.Values{"url": {"https://crm.example.com/hook"}, "version": {e.version()}})
	assert.Equal(t, e.formPath("/deliveries?msg=webhook-added#webhooks"), testenv.Location(t, resp, 303))
	f := e.Form(e.f.ID)
	require.Len(t, f.Notifications.Webhooks, 1)
	secret := f.Notifications.Webhooks[0].Secret
	assert.True(t, strings.HasPrefix(secret, "whsec_"))
	assert.GreaterOrEqual(t, len(secret), 32)
	_, body = e.Get(e.formPath("/deliveries"))
	assert.Contains(t, body, "https://crm.example.com/hook")
	assert.Contains(t, body, secret)

	// Mistakes come back next to the input, with what was typed.
	for _, c := range []struct{ url, secret, field, msg string }{
		{"https://crm.example.com/hook", "", "webhook-url", "already a webhook"},
		{"ftp://files.example.com/", "", "webhook-url", "http or https"},
		{"", "", "webhook-url", "required"},
		{"https://ok.example.com/", "short", "webhook-secret", "16 to 200"},
	} {
		resp, body = e.Post(e.formPath("/webhooks"), url.Values{"url": {c.url}, "secret": {c.secret}, "version": {e.version()}})
		require.Equal(t, 422, resp.StatusCode, c.url)
		assert.Contains(t, testenv.FieldError(body, c.field), c.msg, c.url)
		assert.Contains(t, body, `value="`+html.EscapeString(c.url)+`"`)
	}
	// A secret of one's own is kept.
	resp, _ = e.Post(e.formPath("/webhooks"), url.Values{"url": {"https://hooks.example.net:8443/in"},
		"secret": {"my-own-secret-of-enough-length"}, "version": {e.version()}})
	require.Equal(t, 303, resp.StatusCode)
	f = e.Form(e.f.ID)
	require.Len(t, f.Notifications.Webhooks, 2)
	assert.Equal(t, "my-own-secret-of-enough-length", f.Notifications.Webhooks[1].Secret)

	// New secret for the first.
	resp, _ = e.Post(e.formPath("/webhooks/1/secret"), url.Values{"version": {e.version()}})
	require.Equal(t, 303, resp.StatusCode)
	f = e.Form(e.f.ID)
	assert.NotEqual(t, secret, f.Notifications.Webhooks[0].Secret)
	assert.Equal(t, "my-own-secret-of-enough-length", f.Notifications.Webhooks[1].Secret)

	// Send test queues a test message for that receiver.
	resp, _ = e.Post(e.formPath("/webhooks/2/test"), url.Values{"version": {e.version()}})
	assert.Equal(t, e.formPath("/deliveries?msg=test-queued#log"), testenv.Location(t, resp, 303))
	msgs, err := e.DB.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: e.f.ID})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].Test)
	assert.Equal(t, "https://hooks.example.net:8443/in", msgs[0].Target)
	_, body = e.Get(e.formPath("/deliveries"))
	assert.Contains(t, body, `id="queued-`+strconv.FormatInt(msgs[0].ID, 10)+`"`)

	// A post from an outdated page changes nothing.
	resp, body = e.Post(e.formPath("/webhooks/1/delete"), url.Values{"version": {"1"}})
	assert.Equal(t, 409, resp.StatusCode)
	assert.Contains(t, testenv.PageError(body), "changed in another window")
	assert.Len(t, e.Form(e.f.ID).Notifications.Webhooks, 2)
	resp, _ = e.Post(e.formPath("/webhooks/7/delete"), url.Values{"version": {e.version()}})
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = e.Post(e.formPath("/webhooks/1/delete"), url.Values{"version": {e.version()}})
	require.Equal(t, 303, resp.StatusCode)
	f = e.Form(e.f.ID)
	require.Len(t, f.Notifications.Webhooks, 1)
	assert.Equal(t, "https://hooks.example.net:8443/in", f.Notifications.Webhooks[0].URL)

	// E-mail addresses.
	resp, _ = e.Post(e.formPath("/emails"), url.Values{"email": {"Sales@Example.com"}, "version": {e.version()}})
	require.Equal(t, 303, resp.StatusCode)
	for _, c := range []struct{ in, msg string }{
		{"sales@example.com", "already on the list"},
		{"not an address", "not a valid"},
		{"a@example.com\r\nBcc: spy@example.com", "not a valid"},
		{"", "required"},
	} {
		resp, body = e.Post(e.formPath("/emails"), url.Values{"email": {c.in}, "version": {e.version()}})
		require.Equal(t, 422, resp.StatusCode, c.in)
		assert.Contains(t, testenv.FieldError(body, "email"), c.msg, c.in)
	}
	resp, _ = e.Post(e.formPath("/emails/1/test"), url.Values{"version": {e.version()}})
	require.Equal(t, 303, resp.StatusCode)
	msgs, err = e.DB.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: e.f.ID, Kind: formbuilder.DeliveryEmail})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	_, body = e.Get(e.formPath("/deliveries"))
	assert.Contains(t, body, "1 mail is waiting.")

	// A real submission now goes to both receivers.
	e.submitN(1)
	msgs, err = e.DB.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: e.f.ID, Pending: true})
	require.NoError(t, err)
	assert.Len(t, msgs, 4, "two tests and one message per receiver")
	resp, _ = e.Post(e.formPath("/emails/1/delete"), url.Values{"version": {e.version()}})
	require.Equal(t, 303, resp.StatusCode)
	assert.Empty(t, e.Form(e.f.ID).Notifications.Emails)

	// Without the CSRF token nothing happens.
	resp, _ = e.PostRaw(e.formPath("/emails"), url.Values{"email": {"x@example.com"}, "version": {e.version()}}, testenv.SameOrigin...)
	assert.Equal(t, 403, resp.StatusCode)
	assert.Empty(t, e.Form(e.f.ID).Notifications.Emails)
}

func TestDeliveryLogShowsAttempts(t *testing.T) {
	e := newInboxEnv(t, testenv.WithConfig(func(c *web.Config) { c.SMTPConfigured = true }))
	ctx := context.Background()
	f := e.Form(e.f.ID)
	f.Notifications = formbuilder.Notifications{
		Webhooks: []formbuilder.Webhook{{URL: "https://hooks.example.com/<x>", Secret: "whsec_0123456789abcdef"}},
		Emails:   []string{"sales@example.com"}}
	require.NoError(t, e.DB.UpdateForm(ctx, f))
	sub := e.submitN(1)[0]
	msgs, err := e.DB.ListOutbox(ctx, formbuilder.OutboxFilter{SubmissionID: sub.ID, Kind: formbuilder.DeliveryWebhook})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.NoError(t, e.DB.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: msgs[0].ID, FormID: e.f.ID,
		SubmissionID: sub.ID, Kind: formbuilder.DeliveryWebhook, Target: msgs[0].Target, Status: 502,
		Error: "HTTP 502", Duration: 87}, e.Clock.Now().Add(60e9)))

	_, body := e.Get(e.formPath("/deliveries"))
	assert.NotContains(t, body, `id="smtp-missing"`)
	assert.Contains(t, body, "HTTP 502")
	assert.Contains(t, body, "87 ms")
	assert.Contains(t, body, "https://hooks.example.com/&lt;x&gt;", "escaped")
	assert.Contains(t, body, `href="`+e.formPath("/submissions/"+strconv.FormatInt(sub.ID, 10))+`"`)

	_, body = e.Get(e.formPath("/submissions/" + strconv.FormatInt(sub.ID, 10)))
	assert.Contains(t, body, `id="submission-deliveries"`)
	assert.Contains(t, body, "retrying")
	assert.Contains(t, body, "sales@example.com")
}

// The app without the inbox services: the routes exist and answer 404.
func TestInboxRoutesWithoutServices(t *testing.T) {
	e := testenv.New(t, testenv.WithServices(func(s *web.Services) { s.Inbox, s.Outbox = nil, nil }))
	e.Login()
	f := e.SeedForm(&formbuilder.Form{Name: "F", Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	for _, p := range []string{"/submissions", "/deliveries", "/submissions/export.csv"} {
		resp, _ := e.Get("/admin/forms/" + strconv.FormatInt(f.ID, 10) + p)
		assert.Equal(t, 404, resp.StatusCode, p)
	}
}

// A webhook URL that names a non-public address outright (a private or
// loopback address, localhost) is refused when saved, in the admin UI and
// the API, unless the server allows private targets: "send test" would
// otherwise report what answers inside the server's network (issue 15: 21).
func TestWebhookToPrivateAddressIsRefusedOnSave(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newInboxEnv(t, testenv.WithConfig(func(c *web.Config) { c.WebhookAllowPrivate = allow }))
		tok := e.APIToken("ci")
		targets := []struct{ url, scope string }{
			{"http://10.0.0.5:8080/in", "private"},
			{"http://127.0.0.1:5432/", "loopback"},
			{"http://localhost:8080/hook", "localhost"},
			{"http://169.254.169.254/latest/meta-data/", "link-local"},
			{"http://[::1]/x", "loopback"},
			{"http://2130706433/", "loopback"},
		}
		for _, tg := range targets {
			resp, body := e.Post(e.formPath("/webhooks"), url.Values{"url": {tg.url}, "version": {e.version()}})
			if allow {
				require.Equal(t, 303, resp.StatusCode, "%s allowed: %s", tg.url, testenv.FieldError(body, "webhook-url"))
				require.Equal(t, tg.url, e.Form(e.f.ID).Notifications.Webhooks[0].URL)
				resp, _ = e.Post(e.formPath("/webhooks/1/delete"), url.Values{"version": {e.version()}})
				require.Equal(t, 303, resp.StatusCode)
				continue
			}
			require.Equal(t, 422, resp.StatusCode, tg.url)
			msg := testenv.FieldError(body, "webhook-url")
			assert.Contains(t, msg, tg.scope, tg.url)
			assert.Contains(t, msg, "public addresses only", tg.url)
			assert.Contains(t, body, `value="`+html.EscapeString(tg.url)+`"`, "what was typed stays")
			assert.Contains(t, body, "must be reachable on the internet", "the hint says so beforehand")
			assert.Empty(t, e.Form(e.f.ID).Notifications.Webhooks, "nothing saved")
		}

		path := "/api/v1/forms/" + strconv.FormatInt(e.f.ID, 10)
		_, form := e.API("GET", path, tok, "")
		var req map[string]any
		decodeJSON(t, form, &req)
		req["notifications"] = map[string]any{"webhooks": []map[string]string{
			{"url": "https://crm.example.com/hook", "secret": "whsec_0123456789abcdef"},
			{"url": "http://192.168.1.10/hook", "secret": "whsec_0123456789abcdef"},
		}}
		body, _ := json.Marshal(req)
		resp, out := e.API("PUT", path, tok, string(body))
		if allow {
			require.Equal(t, 200, resp.StatusCode, out)
			continue
		}
		require.Equal(t, 422, resp.StatusCode, out)
		fields := testenv.DecodeError(t, out).Error.Fields
		assert.Contains(t, fields["notifications.webhooks.1.url"], "non-public address (private)", out)
		assert.NotContains(t, fields, "notifications.webhooks.0.url")
		assert.Empty(t, e.Form(e.f.ID).Notifications.Webhooks, "nothing saved")
		resp, out = e.API("POST", "/api/v1/forms", tok, `{"name":"New","language":"en",
			"notifications":{"webhooks":[{"url":"http://localhost/x","secret":"whsec_0123456789abcdef"}]}}`)
		require.Equal(t, 422, resp.StatusCode, out)
		assert.Contains(t, testenv.DecodeError(t, out).Error.Fields["notifications.webhooks.0.url"], "localhost", out)
	}
}
