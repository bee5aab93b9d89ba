package delivery_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without AllowPrivate, a webhook or "send test" aimed at this machine
// never reaches it: the delivery log says why, shows no status of the
// internal service, and a real submission is given up at once (retrying a
// refused target cannot help).
func TestWebhookToNonPublicTargetIsRefused(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	port := strings.TrimPrefix(rcv.srv.URL, "http://127.0.0.1")
	urls := []string{rcv.srv.URL + "/hook", "http://localhost" + port + "/hook", "http://[::ffff:127.0.0.1]" + port + "/hook"}
	var hooks []formbuilder.Webhook
	for _, u := range urls {
		hooks = append(hooks, formbuilder.Webhook{URL: u, Secret: hookSecret})
	}
	e.setNotifications(formbuilder.Notifications{Webhooks: hooks})
	cfg := e.config()
	cfg.AllowPrivate = false
	e.start(cfg)

	e.submit("jane@example.com", "Hello")
	require.NoError(t, e.db.EnqueueTest(e.ctx, &formbuilder.OutboxMessage{FormID: e.form.ID,
		Kind: formbuilder.DeliveryWebhook, Target: urls[0]}))
	for _, m := range e.waitState(formbuilder.OutboxFailed, len(urls)+1) {
		assert.Equal(t, 1, m.Attempts, "%s: given up after one refusal", m.Target)
	}
	assert.Empty(t, rcv.requests(), "nothing reached the receiver")
	log := e.attempts()
	require.Len(t, log, len(urls)+1)
	want := map[string]string{
		urls[0]: "refused: the URL points at a non-public address (loopback); webhooks go to public addresses only" +
			" (the server's operator can allow such targets with --webhook-allow-private)",
		urls[1]: "refused: the URL points at this server (localhost); webhooks go to public addresses only" +
			" (the server's operator can allow such targets with --webhook-allow-private)",
		urls[2]: "refused: the URL points at a non-public address (loopback); webhooks go to public addresses only" +
			" (the server's operator can allow such targets with --webhook-allow-private)",
	}
	tests := 0
	for _, a := range log {
		assert.Equal(t, want[a.Target], a.Error, a.Target)
		assert.Zero(t, a.Status, "no status of an internal service")
		assert.False(t, a.Delivered)
		if a.Test {
			tests++
		}
	}
	assert.Equal(t, 1, tests, "send test is refused the same way")
}

// The client checks the address it dials, after DNS resolution: a name
// that is no address literal ("localhost", resolved through the system)
// is refused when it resolves to loopback. With private targets allowed,
// the same request goes through, so the refusal is the check's doing.
func TestWebhookClientChecksTheResolvedAddress(t *testing.T) {
	rcv := newReceiver(t, nil)
	target := strings.Replace(rcv.srv.URL, "127.0.0.1", "localhost", 1) + "/hook"
	post := func(c *http.Client) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader([]byte(`{}`)))
		require.NoError(t, err)
		return c.Do(req)
	}
	_, err := post(delivery.NewHTTPClient(2*time.Second, false))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused to connect to a non-public address (loopback)")
	assert.Empty(t, rcv.requests())

	resp, err := post(delivery.NewHTTPClient(2*time.Second, true))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Len(t, rcv.requests(), 1)
}

// A proxy from the environment would be what the check sees, so a guarded
// client uses none; an allowing one keeps Go's default.
func TestWebhookClientProxy(t *testing.T) {
	guarded := delivery.NewHTTPClient(time.Second, false).Transport.(*http.Transport)
	assert.Nil(t, guarded.Proxy)
	open := delivery.NewHTTPClient(time.Second, true).Transport.(*http.Transport)
	assert.NotNil(t, open.Proxy)
}
