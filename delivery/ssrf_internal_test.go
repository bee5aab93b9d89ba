package delivery

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A redirect is a new connection, and the check runs on it: the first
// receiver (allowed) redirects with 307 to a second one whose address the
// rule refuses; the second never sees the request, and the delivery log
// gets the refusal. Every test address is on loopback, so the rule here
// refuses 127.0.0.2 only; the real rule is formbuilder.NonPublicAddr.
func TestWebhookRedirectToRefusedAddress(t *testing.T) {
	var reached atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	inner := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	inner.Listener.Close()
	inner.Listener = ln
	inner.Start()
	t.Cleanup(inner.Close)
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/in", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(outer.Close)

	only := netip.MustParseAddr("127.0.0.2")
	client := newHTTPClient(2*time.Second, func(a netip.Addr) string {
		if a == only {
			return "private"
		}
		return ""
	})
	req, err := http.NewRequest(http.MethodPost, outer.URL+"/hook", bytes.NewReader([]byte(`{}`)))
	require.NoError(t, err)
	_, err = client.Do(req)
	require.Error(t, err)
	assert.Zero(t, reached.Load(), "the redirect target was not connected to")
	assert.Equal(t, "refused: the host resolves to a non-public address (private); webhooks go to public addresses only"+
		" (the server's operator can allow such targets with --webhook-allow-private)", describeNetError(err).String())
	assert.Equal(t, formbuilder.M(formbuilder.MsgDlvNonPublic).With("scope", formbuilder.M(formbuilder.MsgScopePrivate)), describeNetError(err))

	// The same redirect without the rule reaches the second receiver.
	req, err = http.NewRequest(http.MethodPost, outer.URL+"/hook", bytes.NewReader([]byte(`{}`)))
	require.NoError(t, err)
	resp, err := newHTTPClient(2*time.Second, nil).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, int32(1), reached.Load())
}
