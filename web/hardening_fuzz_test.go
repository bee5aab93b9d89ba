package web_test

import (
	"bytes"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/internal/testenv"
)

// FuzzParseSubmission posts random bodies with random content types to a
// real form through the whole app (routing, parsing, token check,
// validation, storage). Whatever comes in, the answer is never a 5xx (the
// recover middleware turns a panic into one). "TOKEN" and "CID" in a body
// are replaced with a valid render token and the form's consent id, so the
// fuzzer reaches past the token check.
//
// Seeds live in testdata/fuzz/FuzzParseSubmission and run in every
// `go test`; `go test -fuzz FuzzParseSubmission ./web` explores further.
func FuzzParseSubmission(f *testing.F) {
	e := newHardEnv(f, nil)
	tok := e.RenderToken(e.formA.Key)
	cid := strconv.FormatInt(e.consent.ID, 10)
	f.Add("application/x-www-form-urlencoded", []byte("_token=TOKEN&email=a%40example.com&consent_CID=1"))
	f.Add("application/json", []byte(`{"token":"TOKEN","values":{"email":"a@example.com"},"consents":{"CID":true}}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		ct = strings.Map(func(r rune) rune {
			// Go's client refuses to send these in a header at all.
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, ct)
		body = bytes.ReplaceAll(body, []byte("TOKEN"), []byte(tok))
		body = bytes.ReplaceAll(body, []byte("CID"), []byte(cid))
		req := httptest.NewRequest("POST", "/f/"+e.formA.Key, bytes.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := e.Srv.App().Test(req, -1)
		if err != nil {
			// Fasthttp refused to read the request (a broken multipart
			// body, say) and answered from its error path: not a handler
			// outcome, and not a crash.
			return
		}
		got := testenv.ReadBody(t, resp)
		if resp.StatusCode >= 500 || resp.StatusCode < 200 {
			t.Fatalf("status %d for Content-Type %q body %q: %s", resp.StatusCode, ct, body, got)
		}
		if resp.StatusCode >= 400 && !strings.Contains(got, `"message"`) {
			t.Fatalf("status %d without a message: %s", resp.StatusCode, got)
		}
	})
}
