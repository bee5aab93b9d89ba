package web

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSubmitResultJSON(t *testing.T) {
	for _, r := range []submitResult{
		{},
		{ID: 1, WithdrawLinks: []withdrawLinkJSON{}},
		{ID: -7, Message: "Danke <b>&</b>\u2028", RedirectURL: "https://x.example/?a=1&b=<2>",
			WithdrawLinks: []withdrawLinkJSON{{ConsentName: "Newsletter \"ä\"\xff", URL: "http://127.0.0.1/w/3.abc"},
				{ConsentName: "", URL: ""}}},
	} {
		want, err := json.Marshal(r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(r.appendJSON(nil)))
	}
}
