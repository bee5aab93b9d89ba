package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// chatEnv is admEnv with the chat wired in, one consent, a second user (the
// channel's responsible operator) and a channel that asks for the consent.
type chatEnv struct {
	*admEnv
	consent  *formbuilder.Consent
	operator *formbuilder.User
	ch       *formbuilder.Channel
}

func newChatEnv(t *testing.T, mod ...func(*web.Config)) *chatEnv {
	t.Helper()
	clock := &hardClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"), sqlite.WithClock(clock.Now))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	hash, err := password.Hash(admPassword)
	require.NoError(t, err)
	u := &formbuilder.User{Email: admEmail, Name: "Ada Admin", PasswordHash: hash}
	require.NoError(t, db.CreateUser(ctx, u))
	cfg := web.Config{
		BaseURL: admBase,
		Secret:  admSecret,
		Now:     clock.Now,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		// app.Test connections come from 0.0.0.0: trusting it as a proxy
		// lets a test choose the client IP with X-Forwarded-For.
		TrustedProxies: []string{"0.0.0.0/32"},
		RateIP:         -1, RateForm: -1, RateIPForm: -1, RateChatIP: -1, RateChatChannel: -1,
	}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := web.New(cfg, web.Services{
		Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db, Chat: db,
	})
	require.NoError(t, err)
	e := &chatEnv{admEnv: &admEnv{t: t, db: db, srv: srv, clock: clock, user: u, jar: map[string]string{}}}
	e.consent = e.seedConsent("Chat privacy", "<p>We store what you write in the chat.</p>", "I agree to the %processing of my chat messages%.")
	e.operator = &formbuilder.User{Email: "otto@example.com", Name: "Otto Operator"}
	require.NoError(t, db.CreateUser(ctx, e.operator))
	e.ch = &formbuilder.Channel{Name: "Shop chat", Language: "en", OperatorIDs: []int64{e.operator.ID, u.ID},
		WarnPersonalData: true, ConsentID: e.consent.ID}
	require.NoError(t, db.CreateChannel(ctx, e.ch))
	return e
}

func newVisitor(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// chatAnswer is what the visitor API answers.
type chatAnswer struct {
	State       string                 `json:"state"`
	Held        string                 `json:"held"`
	Messages    []*formbuilder.Message `json:"messages"`
	Message     *formbuilder.Message   `json:"message"`
	WithdrawURL string                 `json:"withdraw_url"`
	Reload      bool                   `json:"reload"`
	Error       struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// visitorCall sends a visitor API request as chat.js does, from ip, with
// the chat iframe's (this server's) origin.
func (e *chatEnv) visitorCall(method, path, ip string, body any) (*http.Response, chatAnswer) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		r = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, path, r)
	req.Host = admHost
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", admBase)
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := e.srv.App().Test(req, -1)
	require.NoError(e.t, err)
	raw := readBody(e.t, resp)
	var a chatAnswer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(e.t, json.Unmarshal([]byte(raw), &a), raw)
	}
	return resp, a
}

func (e *chatEnv) send(visitor, text string) (*http.Response, chatAnswer) {
	e.t.Helper()
	return e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/messages", "198.51.100.7",
		map[string]any{"visitor_id": visitor, "text": text, "page_url": "https://shop.example/help"})
}

func (e *chatEnv) answer(visitor, decision string) (*http.Response, chatAnswer) {
	e.t.Helper()
	return e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/consent", "198.51.100.7",
		map[string]any{"visitor_id": visitor, "decision": decision, "version_id": e.consent.Current.ID,
			"page_url": "https://shop.example/help?step=2"})
}

func (e *chatEnv) history(visitor string) chatAnswer {
	e.t.Helper()
	resp, a := e.visitorCall(http.MethodGet, "/c/"+e.ch.Key+"/messages?visitor_id="+visitor, "198.51.100.7", nil)
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	return a
}

func (e *chatEnv) conversation(visitor string) *formbuilder.Conversation {
	e.t.Helper()
	conv, err := e.db.FindVisitorConversation(context.Background(), e.ch.ID, visitor)
	require.NoError(e.t, err)
	return conv
}
