package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
)

// chatEnv is the shared env with one consent, a second user (the channel's
// responsible operator) and a channel that asks for the consent.
type chatEnv struct {
	*testenv.Env
	consent  *formbuilder.Consent
	operator *formbuilder.User
	ch       *formbuilder.Channel
}

func newChatEnv(t *testing.T, opts ...testenv.Option) *chatEnv {
	t.Helper()
	e := &chatEnv{Env: testenv.New(t, opts...)}
	e.consent = e.SeedConsent("Chat privacy", "<p>We store what you write in the chat.</p>", "I agree to the %processing of my chat messages%.")
	ctx := context.Background()
	e.operator = &formbuilder.User{Email: "otto@example.com", Name: "Otto Operator"}
	require.NoError(t, e.DB.CreateUser(ctx, e.operator))
	e.ch = &formbuilder.Channel{Name: "Shop chat", Language: "en", OperatorIDs: []int64{e.operator.ID, e.Admin.ID},
		WarnPersonalData: true, ConsentID: e.consent.ID}
	require.NoError(t, e.DB.CreateChannel(ctx, e.ch))
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
	Receipt     string                 `json:"receipt"`
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
	e.T.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.T, err)
		r = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, path, r)
	req.Host = testenv.Host
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", testenv.BaseURL)
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := e.Srv.App().Test(req, -1)
	require.NoError(e.T, err)
	raw := testenv.ReadBody(e.T, resp)
	var a chatAnswer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(e.T, json.Unmarshal([]byte(raw), &a), raw)
	}
	return resp, a
}

func (e *chatEnv) send(visitor, text string) (*http.Response, chatAnswer) {
	e.T.Helper()
	return e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/messages", "198.51.100.7",
		map[string]any{"visitor_id": visitor, "text": text, "page_url": "https://shop.example/help"})
}

func (e *chatEnv) answer(visitor, decision string) (*http.Response, chatAnswer) {
	e.T.Helper()
	return e.visitorCall(http.MethodPost, "/c/"+e.ch.Key+"/consent", "198.51.100.7",
		map[string]any{"visitor_id": visitor, "decision": decision, "version_id": e.consent.Current.ID,
			"page_url": "https://shop.example/help?step=2"})
}

func (e *chatEnv) history(visitor string) chatAnswer {
	e.T.Helper()
	resp, a := e.visitorCall(http.MethodGet, "/c/"+e.ch.Key+"/messages?visitor_id="+visitor, "198.51.100.7", nil)
	require.Equal(e.T, http.StatusOK, resp.StatusCode)
	return a
}

func (e *chatEnv) conversation(visitor string) *formbuilder.Conversation {
	e.T.Helper()
	conv, err := e.DB.FindVisitorConversation(context.Background(), e.ch.ID, visitor)
	require.NoError(e.T, err)
	return conv
}
