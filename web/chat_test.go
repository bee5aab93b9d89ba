package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChatConsentFlow drives the visitor API through decline, a refused
// message, a change of mind and acceptance, and checks what operators and
// the consent log see at each step.
func TestChatConsentFlow(t *testing.T) {
	e := newChatEnv(t)
	ctx := context.Background()
	visitor := newVisitor(t)
	const secret = "my phone is 0301234567"

	// A visitor who never wrote has nothing.
	h := e.history(visitor)
	assert.Equal(t, "new", h.State)
	assert.Empty(t, h.Messages)

	resp, a := e.send(visitor, secret)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "held, not delivered")
	assert.Equal(t, "awaiting_consent", a.State)
	assert.Equal(t, secret, a.Held)
	assert.Empty(t, a.Messages)
	h = e.history(visitor)
	assert.Equal(t, secret, h.Held, "the visitor sees their own held message after a reload")

	// While it waits, nothing more passes.
	resp, a = e.send(visitor, "hello?")
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "Please answer the question about your data first.", a.Error.Message)

	// Operators see nothing: not in the list, not by id, not in the API.
	e.Login()
	conv := e.conversation(visitor)
	_, body := e.Get("/admin/conversations")
	assert.NotContains(t, body, secret)
	assert.NotContains(t, body, "/admin/conversations/"+strconv.FormatInt(conv.ID, 10))
	r, body := e.Get("/admin/conversations/" + strconv.FormatInt(conv.ID, 10))
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	assert.NotContains(t, body, secret)
	tok := e.APIToken("chat")
	_, out := e.API(http.MethodGet, "/api/v1/conversations", tok, "")
	assert.NotContains(t, out, secret)
	r, out = e.API(http.MethodGet, "/api/v1/conversations/"+strconv.FormatInt(conv.ID, 10), tok, "")
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	assert.NotContains(t, out, secret)

	// Decline: dropped, refused from now on, nothing logged.
	resp, a = e.answer(visitor, "decline")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "declined", a.State)
	resp, a = e.send(visitor, "second message")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "forbidden", a.Error.Code)
	assert.Contains(t, a.Error.Message, "You declined the consent")
	resp, _ = e.answer(visitor, "accept")
	assert.Equal(t, http.StatusConflict, resp.StatusCode, "nothing is held any more")
	recs, err := e.DB.ListRecords(ctx, formbuilder.RecordFilter{ChannelID: e.ch.ID})
	require.NoError(t, err)
	assert.Empty(t, recs, "a refusal is not logged")
	msgs, err := e.DB.ListMessages(ctx, conv.ID, 0, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs)

	// A change of mind: asked again with the next message.
	resp, a = e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/consent/reopen", "198.51.100.7", map[string]any{"visitor_id": visitor})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "awaiting_consent", a.State)
	resp, _ = e.send(visitor, "third try")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	// The widget showed an older version: it must reload, nothing happens.
	resp, a = e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/consent", "198.51.100.7",
		map[string]any{"visitor_id": visitor, "decision": "accept", "version_id": e.consent.Current.ID + 99})
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.True(t, a.Reload)
	resp, a = e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/consent", "198.51.100.7",
		map[string]any{"visitor_id": visitor, "decision": "maybe", "version_id": e.consent.Current.ID})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, a.Error.Fields, "decision")

	resp, a = e.answer(visitor, "accept")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "open", a.State)
	require.NotNil(t, a.Message)
	assert.Equal(t, "third try", a.Message.Text)
	assert.True(t, strings.HasPrefix(a.WithdrawURL, testenv.BaseURL+"/w/"), a.WithdrawURL)

	recs, err = e.DB.ListRecords(ctx, formbuilder.RecordFilter{ChannelID: e.ch.ID})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	rec := recs[0]
	assert.Equal(t, formbuilder.ActionGiven, rec.Action)
	assert.Equal(t, "Shop chat", rec.Source)
	assert.Equal(t, "https://shop.example/help?step=2", rec.PageURL)
	assert.Equal(t, e.operator.ID, rec.UserID, "nobody took the conversation over: the channel's responsible operator")
	assert.Equal(t, "Otto Operator", rec.User)
	assert.Equal(t, "198.51.100.7", rec.IP)
	assert.Equal(t, e.consent.Current.ID, rec.VersionID)
	assert.Equal(t, e.consent.Current.Hash, rec.TextHash)
	assert.Zero(t, rec.FormID)
	assert.False(t, rec.InitialState)
	assert.True(t, rec.Interacted)
	v, err := e.DB.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, v.OK(), "%+v", v)

	// The log's own filter finds it by channel, in the UI and the API.
	_, body = e.Get("/admin/log?channel_id=" + strconv.FormatInt(e.ch.ID, 10))
	assert.Contains(t, body, "https://shop.example/help?step=2")
	_, body = e.Get("/admin/log?channel_id=" + strconv.FormatInt(e.ch.ID+1, 10))
	assert.NotContains(t, body, "https://shop.example/help?step=2")
	_, out = e.API(http.MethodGet, "/api/v1/consent-records?channel_id="+strconv.FormatInt(e.ch.ID, 10), tok, "")
	assert.Contains(t, out, `"channel_id":`+strconv.FormatInt(e.ch.ID, 10))

	// Now the conversation is the operators', with the message unread.
	_, body = e.Get("/admin/conversations")
	assert.Contains(t, body, `id="unread-`+strconv.FormatInt(conv.ID, 10)+`">1 new`)
	_, body = e.Get("/admin/channels")
	assert.Contains(t, body, "1 unread")
	r, body = e.Get("/admin/conversations/" + strconv.FormatInt(conv.ID, 10))
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, body, "third try")
	assert.NotContains(t, body, secret, "the declined message is gone for good")
	assert.Contains(t, body, `href="/admin/log/`+strconv.FormatInt(rec.ID, 10)+`"`)
	_, body = e.Get("/admin/conversations")
	assert.NotContains(t, body, `id="unread-`+strconv.FormatInt(conv.ID, 10)+`"`, "viewing marks it read")

	// The operator's reply (a plain form post) reaches the visitor, and
	// the operator took the conversation over.
	r, _ = e.Post("/admin/conversations/"+strconv.FormatInt(conv.ID, 10)+"/reply", url.Values{"text": {"Hi! <b>How</b> can I help?"}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	h = e.history(visitor)
	require.Len(t, h.Messages, 2)
	assert.Equal(t, "Hi! <b>How</b> can I help?", h.Messages[1].Text)
	assert.Equal(t, "operator", h.Messages[1].Sender)
	assert.Equal(t, e.Admin.ID, e.conversation(visitor).AssignedUserID)
	_, body = e.Get("/admin/conversations/" + strconv.FormatInt(conv.ID, 10))
	assert.Contains(t, body, "Hi! &lt;b&gt;How&lt;/b&gt; can I help?", "message text is escaped")

	// Messages flow; after= pages the history.
	resp, a = e.send(visitor, "thanks")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Len(t, a.Messages, 1)
	resp, h = e.visitorCall(http.MethodGet, "/c/"+e.ch.Key+"/messages?visitor_id="+visitor+"&after="+strconv.FormatInt(h.Messages[1].ID, 10), "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, h.Messages, 1)
	assert.Equal(t, "thanks", h.Messages[0].Text)
}

// TestChatRefusedWithoutTheWidget: the refusal holds for any client that
// knows the visitor id, not only for the widget.
func TestChatRefusedWithoutTheWidget(t *testing.T) {
	e := newChatEnv(t)
	visitor := newVisitor(t)
	resp, _ := e.send(visitor, "first")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp, _ = e.answer(visitor, "decline")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// No Origin, no Accept: a script posting straight to the API.
	req := httptest.NewRequest(http.MethodPost, "/c/"+e.ch.Key+"/messages",
		strings.NewReader(`{"visitor_id":"`+visitor+`","text":"let me in"}`))
	req.Header.Set("Content-Type", "application/json")
	r, err := e.Srv.App().Test(req, -1)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, r.StatusCode)
	assert.Contains(t, testenv.ReadBody(t, r), "declined")
	conv := e.conversation(visitor)
	msgs, err := e.DB.ListMessages(context.Background(), conv.ID, 0, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs)
}

func TestChatWithoutConsentStep(t *testing.T) {
	e := newChatEnv(t)
	e.ch.WarnPersonalData = false
	require.NoError(t, e.DB.UpdateChannel(context.Background(), e.ch))
	visitor := newVisitor(t)
	resp, a := e.send(visitor, "straight to you")
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "open", a.State)
	require.Len(t, a.Messages, 1)
	resp, a = e.answer(visitor, "accept")
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Equal(t, "This chat asks for no consent.", a.Error.Message)
	page := e.chatPage("/c/" + e.ch.Key)
	assert.NotContains(t, page, "cf-chat-consent")
}

func (e *chatEnv) chatPage(path string) string {
	e.T.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Host = testenv.Host
	resp, err := e.Srv.App().Test(req, -1)
	require.NoError(e.T, err)
	require.Equal(e.T, http.StatusOK, resp.StatusCode)
	return testenv.ReadBody(e.T, resp)
}

// TestChatVisitorInputLimits: size limits and the strict reading of the
// visitor's posts.
func TestChatVisitorInputLimits(t *testing.T) {
	e := newChatEnv(t, testenv.WithConfig(func(c *web.Config) { c.BodyLimit = 64 << 10 }))
	visitor := newVisitor(t)
	path := "/c/" + e.ch.Key + "/messages"

	resp, a := e.send(visitor, strings.Repeat("ü", formbuilder.MaxMessageLength+1))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, "too_large", a.Error.Code)
	assert.Equal(t, "The message is too long (at most 4000 characters).", a.Error.Message)
	resp, _ = e.send(visitor, strings.Repeat("ü", formbuilder.MaxMessageLength))
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "4000 characters fit")
	resp, _ = e.answer(visitor, "accept")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// A body over the chat's 32 KiB, below the app's limit, is 413 too
	// (the app's own limit is tested over a real connection in
	// TestChatEventStreams).
	resp, a = e.visitorCall(http.MethodPost, path, "", map[string]any{"visitor_id": visitor, "text": strings.Repeat("x", 40<<10)})
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, "too_large", a.Error.Code)

	for name, tc := range map[string]struct {
		body   string
		ctype  string
		origin string
		status int
	}{
		// Bodies that are not the JSON the route takes get 400 (one
		// strict reader for every JSON request); bad values get 422.
		"empty text":        {`{"visitor_id":"` + visitor + `","text":"  "}`, "application/json", "", 422},
		"bad visitor id":    {`{"visitor_id":"ABC","text":"hi"}`, "application/json", "", 422},
		"missing id":        {`{"text":"hi"}`, "application/json", "", 422},
		"unknown member":    {`{"visitor_id":"` + visitor + `","text":"hi","admin":true}`, "application/json", "", 400},
		"repeated member":   {`{"visitor_id":"` + visitor + `","text":"hi","text":"ho"}`, "application/json", "", 400},
		"trailing data":     {`{"visitor_id":"` + visitor + `","text":"hi"}{}`, "application/json", "", 400},
		"not json":          {`visitor_id=` + visitor + `&text=hi`, "application/x-www-form-urlencoded", "", 415},
		"bad page url":      {`{"visitor_id":"` + visitor + `","text":"hi","page_url":"javascript:alert(1)"}`, "application/json", "", 422},
		"foreign origin":    {`{"visitor_id":"` + visitor + `","text":"hi"}`, "application/json", "https://evil.example", 403},
		"allowed host page": {`{"visitor_id":"` + visitor + `","text":"hi"}`, "application/json", "https://shop.example", 403},
	} {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(tc.body))
		req.Host = testenv.Host
		req.Header.Set("Content-Type", tc.ctype)
		req.Header.Set("Accept", "application/json")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		r, err := e.Srv.App().Test(req, -1)
		require.NoError(t, err)
		assert.Equal(t, tc.status, r.StatusCode, name)
	}
	conv := e.conversation(visitor)
	msgs, err := e.DB.ListMessages(context.Background(), conv.ID, 0, 0)
	require.NoError(t, err)
	assert.Len(t, msgs, 1, "only the accepted message was stored")

	resp, _ = e.visitorCall(http.MethodGet, "/c/"+e.ch.Key+"/messages?visitor_id=nope", "", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	resp, _ = e.visitorCall(http.MethodGet, "/c/aaaaaaaaaaaaaaaa/messages?visitor_id="+visitor, "", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/consent", "", map[string]any{"visitor_id": newVisitor(t), "decision": "decline"})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no conversation for an unknown visitor")
}

// TestChatRateLimits: visitor posts are limited per IP and channel and per
// channel, with 429 and Retry-After, like form posts.
func TestChatRateLimits(t *testing.T) {
	e := newChatEnv(t, testenv.WithConfig(func(c *web.Config) { c.RateChatIP = 3; c.RateChatChannel = 5 }))
	e.ch.WarnPersonalData = false
	require.NoError(t, e.DB.UpdateChannel(context.Background(), e.ch))
	post := func(ip, visitor string) *http.Response {
		resp, _ := e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/messages", ip,
			map[string]any{"visitor_id": visitor, "text": "hello"})
		return resp
	}
	v1 := newVisitor(t)
	for i := range 3 {
		require.Equal(t, http.StatusCreated, post("203.0.113.1", v1).StatusCode, "post %d", i)
	}
	resp := post("203.0.113.1", v1)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Positive(t, secs)
	assert.LessOrEqual(t, secs, 120, "at most two windows")
	// After waiting as told, the client gets through.
	e.Clock.Add(time.Duration(secs) * time.Second)
	require.Equal(t, http.StatusCreated, post("203.0.113.1", v1).StatusCode)

	// Another client of the same channel, until the channel's limit.
	v2 := newVisitor(t)
	e.Clock.Add(2 * time.Minute)
	for i := range 5 {
		require.Equal(t, http.StatusCreated, post("203.0.113."+strconv.Itoa(10+i), v2).StatusCode, "client %d", i)
	}
	resp = post("203.0.113.99", v2)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))

	// Consent answers count too.
	resp, _ = e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/consent/reopen", "203.0.113.98", map[string]any{"visitor_id": v2})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
}

func TestChatPages(t *testing.T) {
	e := newChatEnv(t)
	e.ch.AllowedOrigins = []string{"https://shop.example"}
	require.NoError(t, e.DB.UpdateChannel(context.Background(), e.ch))
	req := httptest.NewRequest(http.MethodGet, "/c/"+e.ch.Key+"?embed=1&frame=cf1&origin="+url.QueryEscape("https://shop.example")+
		"&page="+url.QueryEscape("https://shop.example/a?b=1"), nil)
	req.Host = testenv.Host
	resp, err := e.Srv.App().Test(req, -1)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "frame-ancestors 'self' https://shop.example")
	assert.Contains(t, csp, "connect-src 'self'")
	assert.Contains(t, csp, "script-src 'self'")
	assert.Empty(t, resp.Header.Get("X-Frame-Options"))
	body := testenv.ReadBody(t, resp)
	assert.Contains(t, body, `data-origin="https://shop.example"`)
	assert.Contains(t, body, `data-page="https://shop.example/a?b=1"`)
	assert.Contains(t, body, `data-version="`+strconv.FormatInt(e.consent.Current.ID, 10)+`"`)
	assert.Contains(t, body, "processing of my chat messages")

	// An origin the channel does not allow is not reflected.
	body = e.chatPage("/c/" + e.ch.Key + "?embed=1&origin=" + url.QueryEscape("https://evil.example"))
	assert.NotContains(t, body, "evil.example")
	body = e.chatPage("/c/" + e.ch.Key + "/consent")
	assert.Contains(t, body, "We store what you write in the chat.")

	for path, status := range map[string]int{
		"/c/aaaaaaaaaaaaaaaa":         404,
		"/c/NOT-A-KEY":                404,
		"/c/aaaaaaaaaaaaaaaa/consent": 404,
	} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		r, err := e.Srv.App().Test(req, -1)
		require.NoError(t, err)
		assert.Equal(t, status, r.StatusCode, path)
	}
	e.ch.Archived = true
	require.NoError(t, e.DB.UpdateChannel(context.Background(), e.ch))
	req = httptest.NewRequest(http.MethodGet, "/c/"+e.ch.Key, nil)
	r, err := e.Srv.App().Test(req, -1)
	require.NoError(t, err)
	assert.Equal(t, http.StatusGone, r.StatusCode)
	resp, _ = e.send(newVisitor(t), "hi")
	assert.Equal(t, http.StatusGone, resp.StatusCode)

	// embed.js serves the chat mode to host pages.
	req = httptest.NewRequest(http.MethodGet, "/embed.js", nil)
	r, err = e.Srv.App().Test(req, -1)
	require.NoError(t, err)
	// The modes table maps "chat" to its handler (the minifier renames
	// the handler, not the key).
	assert.Regexp(t, `chat:[a-zA-Z_$][\w$]*}`, testenv.ReadBody(t, r))
}

// TestChatOffWithoutService: an app wired without the chat answers 404 on
// every chat route rather than crashing.
func TestChatOffWithoutService(t *testing.T) {
	e := testenv.New(t, testenv.WithServices(func(s *web.Services) { s.Chat = nil }))
	e.Login()
	for _, p := range []string{"/c/aaaaaaaaaaaaaaaa", "/admin/channels", "/admin/conversations"} {
		r, _ := e.Get(p)
		assert.Equal(t, http.StatusNotFound, r.StatusCode, p)
	}
	tok := e.APIToken("x")
	r, _ := e.API(http.MethodGet, "/api/v1/channels", tok, "")
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
}

func TestChatAdminChannels(t *testing.T) {
	e := newChatEnv(t)
	e.Login()
	r, body := e.Get("/admin/channels")
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, body, "Shop chat")
	assert.Contains(t, body, `id="nav-chat" aria-current="page"`)

	// The switch without a consent is refused, next to the select.
	vals := url.Values{"name": {"Support"}, "language": {"de"}, "warn_personal_data": {"1"}, "consent_id": {""},
		"responsible_id": {strconv.FormatInt(e.operator.ID, 10)}, "operator_ids": {strconv.FormatInt(e.Admin.ID, 10)}}
	r, body = e.Post("/admin/channels", vals)
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	assert.Equal(t, "is required when the personal-data warning is on", testenv.FieldError(body, "consent_id"))

	// A new consent made right there, checked like any consent.
	vals.Set("consent_id", "new")
	vals.Set("new_consent_name", "Chat-Einwilligung")
	vals.Set("new_consent_label", "")
	vals.Set("new_consent_text", "<p>Wir speichern Ihre Nachrichten.</p><script>alert(1)</script>")
	r, body = e.Post("/admin/channels", vals)
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	assert.Equal(t, "is required", testenv.FieldError(body, "new_consent-label"))
	consents, err := e.DB.ListConsents(context.Background())
	require.NoError(t, err)
	assert.Len(t, consents, 1, "nothing stored after an error")

	vals.Set("new_consent_label", "Ich stimme der %Speicherung meiner Nachrichten% zu.")
	r, _ = e.Post("/admin/channels", vals)
	loc := testenv.Location(t, r, http.StatusSeeOther)
	require.True(t, strings.HasPrefix(loc, "/admin/channels/"), loc)
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.Split(loc, "?")[0], "/admin/channels/"), 10, 64)
	require.NoError(t, err)
	ch, err := e.DB.FindChannelByID(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "Support", ch.Name)
	assert.Equal(t, []int64{e.operator.ID, e.Admin.ID}, ch.OperatorIDs, "the responsible operator first")
	require.NotNil(t, ch.Consent)
	assert.Equal(t, "Chat-Einwilligung", ch.Consent.Name)
	assert.Equal(t, "de", ch.Consent.Current.Language)
	assert.NotContains(t, ch.Consent.Current.Text, "script", "the new consent's text is sanitised")

	_, body = e.Get(loc)
	assert.Contains(t, body, "Channel created.")
	assert.Contains(t, body, `data-consentforms=&#34;chat/`+ch.Key+`&#34;`)
	assert.Contains(t, body, `href="/admin/log?channel_id=`+strconv.FormatInt(id, 10)+`"`)
	assert.Contains(t, body, `href="/admin/conversations?channel_id=`+strconv.FormatInt(id, 10)+`"`)

	// Edit: switch the warning off, restrict origins.
	vals = url.Values{"name": {"Support"}, "language": {"en"}, "consent_id": {strconv.FormatInt(ch.ConsentID, 10)},
		"allowed_origins": {"https://Shop.example:443\n"}, "responsible_id": {"0"}}
	r, _ = e.Post("/admin/channels/"+strconv.FormatInt(id, 10), vals)
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	ch, err = e.DB.FindChannelByID(context.Background(), id)
	require.NoError(t, err)
	assert.False(t, ch.WarnPersonalData)
	assert.Equal(t, []string{"https://shop.example"}, ch.AllowedOrigins)
	assert.Empty(t, ch.OperatorIDs)
	vals.Set("allowed_origins", "not an origin")
	r, body = e.Post("/admin/channels/"+strconv.FormatInt(id, 10), vals)
	require.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	assert.Contains(t, testenv.FieldError(body, "allowed_origins"), "line 1")

	r, _ = e.Get("/admin/channels/999")
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	// Without CSRF nothing is saved.
	r, _ = e.PostRaw("/admin/channels", url.Values{"name": {"x"}, "language": {"en"}}, testenv.SameOrigin...)
	assert.Equal(t, http.StatusForbidden, r.StatusCode)
}

func TestChatAdminReplyAndEscaping(t *testing.T) {
	e := newChatEnv(t)
	e.ch.WarnPersonalData = false
	require.NoError(t, e.DB.UpdateChannel(context.Background(), e.ch))
	e.Login()
	visitor := newVisitor(t)
	xss := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	resp, _ := e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/messages", "", map[string]any{
		"visitor_id": visitor, "text": xss, "page_url": "https://shop.example/?q=<script>"})
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	conv := e.conversation(visitor)
	cid := strconv.FormatInt(conv.ID, 10)
	for _, p := range []string{"/admin/conversations", "/admin/conversations/" + cid} {
		_, body := e.Get(p)
		assert.NotContains(t, body, "<script>alert", p)
		assert.NotContains(t, body, "<img", p)
	}
	_, body := e.Get("/admin/conversations/" + cid)
	assert.Contains(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	assert.Contains(t, body, `src="/admin/static/chat_admin.`)

	// A reply from chat_admin.js: JSON back, and the message is stored.
	csrf := e.CSRF()
	r, out := e.PostRaw("/admin/conversations/"+cid+"/reply", url.Values{"text": {"On it."}},
		"X-CSRF-Token", csrf, "Accept", "application/json", "Origin", testenv.BaseURL, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusCreated, r.StatusCode, out)
	var m formbuilder.Message
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, "On it.", m.Text)
	assert.Equal(t, e.Admin.ID, m.UserID)

	// Empty and too long replies are refused with a message.
	r, body = e.Post("/admin/conversations/"+cid+"/reply", url.Values{"text": {"  "}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	assert.Contains(t, testenv.PageError(body), "is required")
	r, _ = e.Post("/admin/conversations/"+cid+"/reply", url.Values{"text": {strings.Repeat("x", 4001)}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)

	// Assigning, marking read, polling.
	r, _ = e.Post("/admin/conversations/"+cid+"/assign", url.Values{"assigned_user_id": {strconv.FormatInt(e.operator.ID, 10)}})
	require.Equal(t, http.StatusSeeOther, r.StatusCode)
	assert.Equal(t, e.operator.ID, e.conversation(visitor).AssignedUserID)
	r, _ = e.Post("/admin/conversations/"+cid+"/read", nil)
	assert.Equal(t, http.StatusNoContent, r.StatusCode)
	r, out = e.Get("/admin/conversations/" + cid + "/messages?after=0")
	require.Equal(t, http.StatusOK, r.StatusCode)
	var polled struct{ Messages []formbuilder.Message }
	require.NoError(t, json.Unmarshal([]byte(out), &polled))
	require.Len(t, polled.Messages, 2)
	assert.Equal(t, xss, polled.Messages[0].Text)
}

func TestChatAPI(t *testing.T) {
	e := newChatEnv(t)
	tok := e.APIToken("chat")
	r, out := e.API(http.MethodGet, "/api/v1/channels", tok, "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, out, `"name":"Shop chat"`)

	r, out = e.API(http.MethodPost, "/api/v1/channels", tok, `{"name":"API chat","language":"en","warn_personal_data":true,
		"operator_ids":[`+strconv.FormatInt(e.operator.ID, 10)+`],"allowed_origins":["https://A.example"],
		"new_consent":{"name":"API chat consent","text":"<p>We keep your messages.</p>","label":"I agree to %this%."}}`)
	require.Equal(t, http.StatusCreated, r.StatusCode, out)
	var ch formbuilder.Channel
	require.NoError(t, json.Unmarshal([]byte(out), &ch))
	assert.True(t, formbuilder.ValidFormKey(ch.Key))
	assert.Equal(t, []string{"https://a.example"}, ch.AllowedOrigins)
	require.NotNil(t, ch.Consent)
	assert.Equal(t, "API chat consent", ch.Consent.Name)
	assert.Equal(t, "en", ch.Consent.Current.Language)
	assert.Equal(t, "/api/v1/channels/"+strconv.FormatInt(ch.ID, 10), r.Header.Get("Location"))

	for name, body := range map[string]string{
		"no consent":    `{"name":"x","language":"en","warn_personal_data":true}`,
		"both consents": `{"name":"x","language":"en","consent_id":1,"new_consent":{"name":"n","text":"<p>t</p>","label":"l"}}`,
		"unknown user":  `{"name":"x","language":"en","operator_ids":[999]}`,
		"unknown user, new consent": `{"name":"x","language":"en","operator_ids":[999],
			"new_consent":{"name":"stray","text":"<p>t</p>","label":"l"}}`,
		"bad new consent": `{"name":"x","language":"en","new_consent":{"name":"","text":"","label":""}}`,
	} {
		r, out := e.API(http.MethodPost, "/api/v1/channels", tok, body)
		assert.Equal(t, http.StatusUnprocessableEntity, r.StatusCode, "%s: %s", name, out)
	}
	consents, err := e.DB.ListConsents(context.Background())
	require.NoError(t, err)
	for _, co := range consents {
		assert.NotEqual(t, "stray", co.Name, "a refused channel leaves no consent behind")
	}
	r, _ = e.API(http.MethodPost, "/api/v1/channels", tok, `{"name":"x","language":"en","nope":1}`)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)

	// Fetch, change, send back.
	r, out = e.API(http.MethodGet, "/api/v1/channels/"+strconv.FormatInt(ch.ID, 10), tok, "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	got["name"] = "API chat 2"
	b, _ := json.Marshal(got)
	r, out = e.API(http.MethodPut, "/api/v1/channels/"+strconv.FormatInt(ch.ID, 10), tok, string(b))
	require.Equal(t, http.StatusOK, r.StatusCode, out)
	assert.Contains(t, out, `"name":"API chat 2"`)
	assert.Contains(t, out, `"key":"`+ch.Key+`"`)
	r, _ = e.API(http.MethodGet, "/api/v1/channels/999", tok, "")
	assert.Equal(t, http.StatusNotFound, r.StatusCode)

	// Conversations and replies.
	visitor := newVisitor(t)
	e.send(visitor, "hello api")
	e.answer(visitor, "accept")
	conv := e.conversation(visitor)
	r, out = e.API(http.MethodGet, "/api/v1/conversations?channel_id="+strconv.FormatInt(e.ch.ID, 10), tok, "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, out, `"id":`+strconv.FormatInt(conv.ID, 10))
	assert.NotContains(t, out, "visitor_hash")
	r, out = e.API(http.MethodGet, "/api/v1/conversations/"+strconv.FormatInt(conv.ID, 10), tok, "")
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Contains(t, out, `"text":"hello api"`)
	r, out = e.API(http.MethodPost, "/api/v1/conversations/"+strconv.FormatInt(conv.ID, 10)+"/messages", tok, `{"text":"from the API"}`)
	require.Equal(t, http.StatusCreated, r.StatusCode, out)
	h := e.history(visitor)
	assert.Equal(t, "from the API", h.Messages[len(h.Messages)-1].Text)
	r, _ = e.API(http.MethodPost, "/api/v1/conversations/"+strconv.FormatInt(conv.ID, 10)+"/messages", tok, `{"text":"`+strings.Repeat("x", 4001)+`"}`)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
	r, _ = e.API(http.MethodGet, "/api/v1/conversations?channel_id=abc", tok, "")
	assert.Equal(t, http.StatusUnprocessableEntity, r.StatusCode)
	r, _ = e.API(http.MethodGet, "/api/v1/conversations", "", "")
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
}
