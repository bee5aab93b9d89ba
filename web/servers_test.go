package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Several servers on one database: what one server changes reaches what
// the others hold (chat streams, settings, cached form pages), through
// storage's change feed.

// TestServersShareChatEvents: a visitor and an operator on server A, their
// streams on server B: B's streams get every message and state A stores.
func TestServersShareChatEvents(t *testing.T) {
	testdb.PostgresOnly(t, "chat events of one server reach the streams of another")
	a := newChatEnv(t)
	b := &chatEnv{Env: a.Peer(), consent: a.consent, operator: a.operator, ch: a.ch}
	baseB, _ := b.listen()
	visitor := newVisitor(t)
	resp, _ := a.send(visitor, "hello from A")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	vs := testenv.OpenEvents(t, baseB+"/c/"+b.ch.Key+"/events?visitor_id="+visitor)
	ev := vs.Next(t)
	assert.Equal(t, "state", ev.Name)
	assert.JSONEq(t, `{"state":"awaiting_consent","held":"hello from A"}`, ev.Data)
	lists := testenv.OpenEvents(t, baseB+"/admin/conversations/events", "Cookie", b.sessionCookie())

	resp, ans := a.answer(visitor, "accept")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m, state := vs.MessageAndState(t)
	assert.Equal(t, ans.Message.ID, m.ID)
	assert.Equal(t, "hello from A", m.Text)
	assert.JSONEq(t, `{"state":"open"}`, state)
	assert.Equal(t, "changed", lists.Next(t).Name)

	conv := a.conversation(visitor)
	cid := strconv.FormatInt(conv.ID, 10)
	ops := testenv.OpenEvents(t, baseB+"/admin/conversations/"+cid+"/events", "Cookie", b.sessionCookie())
	assert.Equal(t, "hello from A", ops.NextMessage(t).Text)
	a.Login()
	r, _ := a.Post("/admin/conversations/"+cid+"/reply", url.Values{"text": {"Support on A"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	assert.Equal(t, "Support on A", vs.NextMessage(t).Text)
	assert.Equal(t, "Support on A", ops.NextMessage(t).Text)
	resp, _ = a.send(visitor, "thanks, A")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "thanks, A", vs.NextMessage(t).Text)
	assert.Equal(t, "thanks, A", ops.NextMessage(t).Text)

	// B loses its listening connection: whatever was sent meanwhile is
	// gone, so B ends its streams, and the clients replay from storage.
	_, err := b.Raw().Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'consentforms listener' AND datname = current_database()")
	require.NoError(t, err)
	for _, s := range []*testenv.EventStream{vs, ops} {
		for {
			if _, ok := s.NextOrEnd(t); !ok {
				break
			}
		}
	}
	resp, _ = a.send(visitor, "while B was away")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	again := testenv.OpenEvents(t, baseB+"/c/"+b.ch.Key+"/events?visitor_id="+visitor, "Last-Event-ID", strconv.FormatInt(m.ID, 10))
	var last int64
	for _, want := range []string{"Support on A", "thanks, A", "while B was away"} {
		got := again.NextMessage(t)
		assert.Equal(t, want, got.Text)
		last = got.ID
	}
	assert.Equal(t, "state", again.Next(t).Name)
	resp, _ = a.send(visitor, "after the resync")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "after the resync", again.NextMessageAfter(t, last).Text, "B listens again")
}

// TestServersShareSettingsAndPages: an admin on server A switches the IP
// addresses to "truncated" and edits a form. The next submission on B,
// right after A's save returned, stores a truncated address (storage
// applies the mode); B's settings page and its cached form page follow A
// without a restart and long before the page cache's TTL (the test's clock
// stands still, so only the change feed can refresh them).
func TestServersShareSettingsAndPages(t *testing.T) {
	testdb.PostgresOnly(t, "settings and form pages of one server follow another")
	a := testenv.New(t)
	co := a.SeedConsent("P", "<p>x</p>", "ok")
	f := a.SeedForm(&formbuilder.Form{Name: "F", Title: "Old title",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}},
		Consents: []formbuilder.FormConsent{{ConsentID: co.ID, Required: true}}})
	b := a.Peer()
	a.Login()
	b.Jar = a.Jar
	_, page := b.Get("/f/" + f.Key)
	require.Contains(t, page, "Old title", "B has rendered and cached the page")
	tok := testenv.Find(t, page, `name="_token" value="([^"]+)"`)
	submitOnB := func(email string) string {
		t.Helper()
		b.IP = "198.51.100.77"
		resp, _ := b.PostRaw("/f/"+f.Key, url.Values{"_token": {tok}, "email": {email},
			"consent_" + strconv.FormatInt(co.ID, 10): {"1"}}, "Accept", "application/json")
		require.Equal(t, http.StatusCreated, resp.StatusCode)
		recs, err := b.DB.ListRecords(t.Context(), formbuilder.RecordFilter{Limit: 1})
		require.NoError(t, err)
		return recs[0].IP
	}
	require.Equal(t, "198.51.100.77", submitOnB("first@example.com"))

	resp, _ := a.Post("/admin/settings", url.Values{"ip_mode": {"truncated"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "198.51.100.0", submitOnB("second@example.com"), "the first post on B after A's save")
	require.Eventually(t, func() bool {
		_, body := b.Get("/admin/settings")
		return strings.Contains(body, `id="ip_mode-truncated" name="ip_mode" value="truncated" checked`)
	}, 10*time.Second, 5*time.Millisecond, "B's settings follow A's save")

	form := a.Form(f.ID)
	form.Title = "New title"
	require.NoError(t, a.DB.UpdateForm(t.Context(), form))
	require.Eventually(t, func() bool {
		_, body := b.Get("/f/" + f.Key)
		return strings.Contains(body, "New title")
	}, 10*time.Second, 5*time.Millisecond, "B's cached page follows A's change")
	require.NoError(t, a.DB.ArchiveForm(t.Context(), f.ID, true))
	require.Eventually(t, func() bool {
		resp, _ := b.Get("/f/" + f.Key)
		return resp.StatusCode == http.StatusGone
	}, 10*time.Second, 5*time.Millisecond, "an archived form stops being served on B")
}
