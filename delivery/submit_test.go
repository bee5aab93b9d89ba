package delivery_test

import (
	"context"
	"github.com/consentforms/consentforms/internal/testenv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveApp runs the real web app on 127.0.0.1 over the env's database and
// returns its base URL.
func (e *env) serveApp() string {
	e.t.Helper()
	_, base := e.serveWeb()
	return base
}

// serveWeb runs the real web app like serveApp and returns it too: it makes
// the signed links of the visitor mails.
func (e *env) serveWeb() (*web.Server, string) {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(e.t, err)
	base := "http://" + ln.Addr().String()
	srv, err := web.New(web.Config{
		BaseURL: base,
		Secret:  []byte("0123456789abcdef0123456789abcdef-delivery-tests"),
		Keys:    testenv.NewKeys(e.t),
		RateIP:  -1, RateForm: -1, RateIPForm: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, web.Services{
		Forms: e.db, Consents: e.db, Submissions: e.db, Log: e.db,
		Users: e.db, Sessions: e.db, Tokens: e.db, Settings: e.db, Audit: e.db, Changes: e.db, Outbox: e.db,
	})
	require.NoError(e.t, err)
	go func() { _ = srv.Listener(ln) }()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, base
}

var tokenRE = regexp.MustCompile(`name="_token" value="([^"]+)"`)

// postForm loads the hosted form page like a browser and sends it back
// filled in, asking for JSON; it returns the status.
func postForm(t *testing.T, base, key, email string) int {
	t.Helper()
	resp, err := http.Get(base + "/f/" + key)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	m := tokenRE.FindSubmatch(page)
	require.NotNil(t, m, "the page has a render token")
	cid := regexp.MustCompile(`name="consent_(\d+)"`).FindSubmatch(page)
	require.NotNil(t, cid)
	vals := url.Values{"_token": {string(m[1])}, "email": {email}, "message": {"hi"},
		"consent_" + string(cid[1]): {"1"}, "consent_" + string(cid[1]) + "_initial": {"1"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/f/"+key, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode, string(body))
	return resp.StatusCode
}

// A receiver that hangs does not delay the visitor: the submit path only
// writes the outbox rows. The worker has a single slot, so the hanging
// receiver holds the whole worker, and still the next submission is
// answered while the receiver is blocked.
func TestHangingReceiverDoesNotDelaySubmit(t *testing.T) {
	e := newEnv(t)
	ev := &events{}
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	var calls atomic.Int32
	hang := newHangingServer(t, func() {
		n := calls.Add(1)
		ev.add("receiver entered " + strconv.Itoa(int(n)))
		entered <- struct{}{}
		<-release
	})
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: hang, Secret: hookSecret}}})
	cfg := e.config()
	cfg.Concurrency = 1
	cfg.HTTPClient = &http.Client{} // no timeout: the receiver decides when it answers
	e.start(cfg)
	base := e.serveApp()

	postForm(t, base, e.form.Key, "first@example.com")
	ev.add("submit 1 answered")
	<-entered // the worker is now stuck in the receiver with submission 1

	postForm(t, base, e.form.Key, "second@example.com")
	ev.add("submit 2 answered")
	postForm(t, base, e.form.Key, "third@example.com")
	ev.add("submit 3 answered")

	ev.add("receiver released")
	close(release)
	e.waitState(formbuilder.OutboxDelivered, 3)

	got := ev.snapshot()
	idx := func(s string) int {
		for i, x := range got {
			if x == s {
				return i
			}
		}
		t.Fatalf("no event %q in %v", s, got)
		return -1
	}
	assert.Less(t, idx("receiver entered 1"), idx("submit 2 answered"), "%v", got)
	assert.Less(t, idx("submit 2 answered"), idx("receiver released"), "answered while the receiver hung: %v", got)
	assert.Less(t, idx("submit 3 answered"), idx("receiver released"), "%v", got)
	assert.Equal(t, int32(3), calls.Load(), "every submission delivered once the receiver answers")
}

// newHangingServer is a receiver on 127.0.0.1 that calls block before it
// answers 200.
func newHangingServer(t *testing.T, block func()) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		block()
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}
