package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookReceiver counts webhook deliveries by their Idempotency-Key (the
// outbox id, the same on every retry).
type hookReceiver struct {
	mu   sync.Mutex
	keys map[int64]int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	id, err := strconv.ParseInt(r.Header.Get("Idempotency-Key"), 10, 64)
	if err != nil {
		http.Error(w, "no Idempotency-Key", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.keys[id]++
	h.mu.Unlock()
}

func (h *hookReceiver) snapshot() map[int64]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[int64]int, len(h.keys))
	for k, v := range h.keys {
		out[k] = v
	}
	return out
}

// TestTwoServersKillAndRestart runs two `serve` processes (the real binary)
// on one PostgreSQL database, posts to both at once, SIGKILLs one mid-load
// and starts it again. Afterwards every acknowledged submission is stored
// with its consent entries, `consents verify` passes and no webhook was
// sent twice; meanwhile a chat message posted on one server reaches an
// event stream on the other, and an admin's switch to truncated IP
// addresses on one server holds on the other from the moment it returns.
func TestTwoServersKillAndRestart(t *testing.T) {
	testdb.PostgresOnly(t, "several servers on one database")
	bin := buildBinary(t)
	dsn := testdb.Empty(t)
	lf := seedLoadDB(t, dsn)
	ctx := context.Background()
	raw := pgtest.Owner(t, dsn)

	hooks := &hookReceiver{keys: map[int64]int{}}
	rcv := httptest.NewServer(hooks)
	t.Cleanup(rcv.Close)
	var channelKey, adminPassword string
	func() {
		db, err := openDB(dsn)
		require.NoError(t, err)
		defer db.Close()
		forms, err := db.ListForms(ctx, formbuilder.FormFilter{})
		require.NoError(t, err)
		f := forms[0]
		f.Notifications = formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.URL + "/hook", Secret: "whsec_0123456789abcdef"}}}
		require.NoError(t, db.UpdateForm(ctx, f))
		ch := &formbuilder.Channel{Name: "Shop chat", Language: "en"}
		require.NoError(t, db.CreateChannel(ctx, ch))
		channelKey = ch.Key
	}()
	var out strings.Builder
	require.Equal(t, 0, run(ctx, []string{"admin", "add", "admin@example.com", "--db", dsn}, &out, io.Discard))
	adminPassword = regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out.String())[1]

	// Receivers on this machine: --webhook-allow-private.
	a := startProc(t, bin, dsn, "--webhook-allow-private")
	b := startProc(t, bin, dsn, "--webhook-allow-private")
	tok := renderToken(t, a.base, lf.key) // the secret is shared: B takes A's tokens
	var seq atomic.Int64
	var sent sync.Map
	var acked []acked
	la, lb := newLoader(a.base, tok, lf, &seq, &sent), newLoader(b.base, tok, lf, &seq, &sent)
	la.start(8)
	lb.start(8)
	time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
	b.kill()
	got := lb.halt()
	acked = append(acked, got...)
	ackedB, cutOff := len(got), lb.fails.Load()
	killed := time.Now()
	time.Sleep(300 * time.Millisecond) // A goes on alone
	b = startProc(t, bin, dsn, "--webhook-allow-private")
	lb = newLoader(b.base, tok, lf, &seq, &sent)
	lb.start(8)
	time.Sleep(300 * time.Millisecond)

	// A chat message posted on A reaches a stream on B.
	visitor := strings.Repeat("ab", 16)
	postChat(t, a.base, channelKey, visitor, "first, on A")
	stream := testenv.OpenEvents(t, b.base+"/c/"+channelKey+"/events?visitor_id="+visitor)
	first := stream.NextMessage(t)
	require.Equal(t, "first, on A", first.Text)
	postChat(t, a.base, channelKey, visitor, "second, on A, live on B")
	require.Equal(t, "second, on A, live on B", stream.NextMessageAfter(t, first.ID).Text)

	// The admin switches to truncated addresses on A while both servers
	// store submissions: once the save returned, no server stores a full
	// address, and a post on B right after it is truncated.
	countFull := func() int {
		var n int
		require.NoError(t, raw.QueryRow("SELECT count(*) FROM submissions WHERE ip = '127.0.0.1'").Scan(&n))
		return n
	}
	admin := signIn(t, a.base, "admin@example.com", adminPassword)
	countFull()
	admin.post(t, "/admin/settings", url.Values{"ip_mode": {"truncated"}})
	fullAtSave := countFull()
	sent.Store("right-after-the-save@example.com", 2) // postOne ticks the two required consents
	postOne(t, b.base, lf, tok, "right-after-the-save@example.com")
	var ip string
	require.NoError(t, raw.QueryRow("SELECT ip FROM submissions WHERE subject = 'right-after-the-save@example.com'").Scan(&ip))
	assert.Equal(t, "127.0.0.0", ip, "B stores the address truncated")
	time.Sleep(300 * time.Millisecond)

	acked = append(acked, la.halt()...)
	acked = append(acked, lb.halt()...)
	fails := cutOff + la.fails.Load() + lb.fails.Load()
	assert.Equal(t, fullAtSave, countFull(), "full addresses stored after the save of \"truncated\" returned")

	// Deliveries settle: every message is delivered but those the killed B
	// had claimed, which wait for their lease (two minutes) to run out.
	// Delivery is at least once: a message B sent but could not record as
	// delivered before the kill is sent again by A after that lease, with
	// the same Idempotency-Key for the receiver to drop; up to then (the
	// end of this test) no message may reach the receiver twice, which two
	// workers claiming the same message would cause.
	type msg struct {
		delivered bool
		next      time.Time
	}
	var msgs map[int64]msg
	require.Eventually(t, func() bool {
		msgs = map[int64]msg{}
		rows, err := raw.Query("SELECT id, delivered_at IS NOT NULL, next_attempt FROM outbox")
		require.NoError(t, err)
		defer rows.Close()
		due := 0
		for rows.Next() {
			var id int64
			var m msg
			var next string
			require.NoError(t, rows.Scan(&id, &m.delivered, &next))
			m.next, err = time.Parse(time.RFC3339Nano, next)
			require.NoError(t, err)
			msgs[id] = m
			if !m.delivered && m.next.Before(killed.Add(time.Minute)) {
				due++
			}
		}
		require.NoError(t, rows.Err())
		return due == 0
	}, 60*time.Second, 50*time.Millisecond, "deliveries settle")
	received := hooks.snapshot()
	var delivered, leased, sentByB int
	for id, m := range msgs {
		switch {
		case m.delivered:
			delivered++
			assert.Equal(t, 1, received[id], "message %d delivered", id)
		default:
			// Claimed by B before the kill: maybe sent, never recorded.
			leased++
			assert.LessOrEqual(t, received[id], 1, "message %d", id)
			sentByB += received[id]
		}
	}
	for id, n := range received {
		assert.Equal(t, 1, n, "message %d was sent %d times", id, n)
		_, ok := msgs[id]
		assert.True(t, ok, "a delivery of message %d, which is not in the outbox", id)
	}

	stored := checkRows(t, raw)
	requireStoredAsSent(t, stored, &sent, acked)
	assert.Len(t, msgs, len(stored), "one webhook message per stored submission")
	a.stop(t)
	b.stop(t)
	verified := verifyCmd(t, bin, dsn)
	t.Logf("two servers: %d sent, %d acknowledged (%d by B before its SIGKILL), %d stored, %d posts failed (cut off by the kill, or refused while B was down); "+
		"webhooks: %d messages, %d delivered once each, %d still leased by the killed server (%d of them sent before the kill); "+
		"%d full addresses, all stored before the save of \"truncated\" returned; %s",
		seq.Load(), len(acked), ackedB, len(stored), fails, len(msgs), delivered, leased, sentByB, fullAtSave, verified)
}

// postChat posts a visitor's chat message as chat.js does.
func postChat(t *testing.T, base, key, visitor, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"visitor_id": visitor, "text": text})
	resp, err := http.Post(base+"/c/"+key+"/messages", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", b)
}

// adminSession is a signed-in admin's browser.
type adminSession struct {
	base   string
	client *http.Client
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signIn signs in at base's admin UI as a browser does.
func signIn(t *testing.T, base, email, password string) *adminSession {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	s := &adminSession{base: base, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	s.post(t, "/admin/login", url.Values{"email": {email}, "password": {password}})
	return s
}

// post sends a form of the admin UI the way its page does (with the page's
// CSRF token) and requires the redirect that follows a save.
func (s *adminSession) post(t *testing.T, path string, vals url.Values) {
	t.Helper()
	resp, err := s.client.Get(s.base + path)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRE.FindSubmatch(page)
	require.NotNil(t, m, "no CSRF token on %s", path)
	vals.Set("_csrf", string(m[1]))
	req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(vals.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	resp, err = s.client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "POST %s: %s", path, body)
}
