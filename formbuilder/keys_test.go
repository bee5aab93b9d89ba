package formbuilder

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var keyTime = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func newTestKeys(t testing.TB) *KeySet {
	t.Helper()
	ks, err := NewKeySet(keyTime)
	require.NoError(t, err)
	return ks
}

func TestKeyFileRoundTrip(t *testing.T) {
	ks := newTestKeys(t)
	_, err := ks.Rotate(keyTime.Add(time.Hour), RotateDelay)
	require.NoError(t, err)
	file, err := ks.MarshalFile()
	require.NoError(t, err)
	back, err := ParseKeySet(file)
	require.NoError(t, err)
	require.Len(t, back.Keys, 2)
	for i := range ks.Keys {
		assert.Equal(t, ks.Keys[i].ID, back.Keys[i].ID)
		assert.Equal(t, ks.Keys[i].Public, back.Keys[i].Public)
		assert.Equal(t, ks.Keys[i].Private, back.Keys[i].Private)
		assert.True(t, ks.Keys[i].NotBefore.Equal(back.Keys[i].NotBefore))
		assert.True(t, ks.Keys[i].NotAfter.Equal(back.Keys[i].NotAfter))
	}

	// The JWKS has the public halves and the validity periods only.
	pub, err := ks.MarshalJWKS()
	require.NoError(t, err)
	assert.NotContains(t, string(pub), `"d"`)
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(pub, &doc))
	require.Len(t, doc.Keys, 2)
	assert.Equal(t, map[string]string{"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
		"kid": ks.Keys[0].ID, "x": b64(ks.Keys[0].Public), "valid_from": "2026-05-04T10:00:00Z",
		"valid_until": "2026-05-04T11:01:00Z"}, doc.Keys[0])
	assert.Equal(t, "2026-05-04T11:01:00Z", doc.Keys[1]["valid_from"])
	assert.NotContains(t, doc.Keys[1], "valid_until")
	pubSet, err := ParseKeySet(pub)
	require.NoError(t, err)
	assert.Nil(t, pubSet.Keys[0].Private)
	_, err = pubSet.Signer(keyTime)
	assert.Equal(t, ENOTFOUND, ErrorCode(err), "a public set signs nothing")
}

// RFC 8037 appendix A: the thumbprint of the example key.
func TestThumbprintRFC8037(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)
	assert.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", Thumbprint(x))
}

func TestParseKeySetRefuses(t *testing.T) {
	ks := newTestKeys(t)
	good, err := ks.MarshalFile()
	require.NoError(t, err)
	other := newTestKeys(t)
	edit := func(f func(m map[string]any)) string {
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		require.NoError(t, json.Unmarshal(good, &doc))
		f(doc.Keys[0])
		b, _ := json.Marshal(doc)
		return string(b)
	}
	tests := map[string]string{
		"not JSON":           "{",
		"no keys":            `{"keys":[]}`,
		"unknown member":     edit(func(m map[string]any) { m["extra"] = 1 }),
		"RSA":                edit(func(m map[string]any) { m["kty"] = "RSA" }),
		"wrong alg":          edit(func(m map[string]any) { m["alg"] = "none" }),
		"short x":            edit(func(m map[string]any) { m["x"] = "AAAA" }),
		"kid not thumbprint": edit(func(m map[string]any) { m["kid"] = "mine" }),
		"foreign d":          edit(func(m map[string]any) { m["d"] = b64(other.Keys[0].Private.Seed()) }),
		"bad valid_from":     edit(func(m map[string]any) { m["valid_from"] = "yesterday" }),
		"ends before start":  edit(func(m map[string]any) { m["valid_until"] = "2020-01-01T00:00:00Z" }),
		"twice": func() string {
			var doc struct {
				Keys []json.RawMessage `json:"keys"`
			}
			require.NoError(t, json.Unmarshal(good, &doc))
			doc.Keys = append(doc.Keys, doc.Keys[0])
			b, _ := json.Marshal(doc)
			return string(b)
		}(),
	}
	for name, in := range tests {
		_, err := ParseKeySet([]byte(in))
		assert.Equal(t, EINVALID, ErrorCode(err), "%s: %v", name, err)
	}
}

func TestRotate(t *testing.T) {
	ks := newTestKeys(t)
	first := ks.Keys[0]
	at := keyTime.Add(24 * time.Hour)
	second, err := ks.Rotate(at, RotateDelay)
	require.NoError(t, err)
	switchAt := at.Add(RotateDelay)
	assert.Equal(t, switchAt, second.NotBefore)
	assert.Equal(t, switchAt, ks.Keys[0].NotAfter)
	assert.NotNil(t, ks.Keys[0].Private, "the old key signs until the switch")

	s, err := ks.Signer(at)
	require.NoError(t, err)
	assert.Equal(t, first.ID, s.ID, "before the switch")
	s, err = ks.Signer(switchAt)
	require.NoError(t, err)
	assert.Equal(t, second.ID, s.ID, "from the switch on")

	// The next rotation drops the private half of the key that ended.
	_, err = ks.Rotate(switchAt.Add(time.Hour), RotateDelay)
	require.NoError(t, err)
	require.Len(t, ks.Keys, 3)
	assert.Nil(t, ks.Keys[0].Private)
	assert.NotNil(t, ks.Keys[1].Private)
	assert.Equal(t, switchAt, ks.Keys[0].NotAfter, "an ended key keeps its end")
	_, err = ks.Signer(keyTime.Add(time.Hour))
	assert.Equal(t, ENOTFOUND, ErrorCode(err), "nothing signs in the past once its key is gone")
}

func TestJWS(t *testing.T) {
	ks := newTestKeys(t)
	k := ks.Keys[0]
	tok, err := SignJWS(k, TypeCheckpoint, map[string]int{"seq": 1})
	require.NoError(t, err)
	payload, key, err := VerifyJWS(tok, ks, TypeCheckpoint)
	require.NoError(t, err)
	assert.JSONEq(t, `{"seq":1}`, string(payload))
	assert.Equal(t, k.ID, key.ID)

	parts := strings.Split(tok, ".")
	header := func(h string) string { return b64([]byte(h)) + "." + parts[1] + "." + parts[2] }
	other := newTestKeys(t)
	foreign, err := SignJWS(other.Keys[0], TypeCheckpoint, map[string]int{"seq": 1})
	require.NoError(t, err)
	bad := map[string]string{
		"payload changed": parts[0] + "." + b64([]byte(`{"seq":2}`)) + "." + parts[2],
		"signature cut":   parts[0] + "." + parts[1] + "." + parts[2][:20],
		"alg none":        b64([]byte(`{"alg":"none","kid":"`+k.ID+`","typ":"`+TypeCheckpoint+`"}`)) + "." + parts[1] + ".",
		"other type":      tok, // verified as a receipt below
		"unknown key":     foreign,
		"two parts":       parts[0] + "." + parts[1],
		"not base64":      parts[0] + ".!!." + parts[2],
		"extra header":    header(`{"alg":"EdDSA","kid":"` + k.ID + `","typ":"` + TypeCheckpoint + `","crit":["x"]}`),
		"empty":           "",
	}
	for name, tok := range bad {
		typ := TypeCheckpoint
		if name == "other type" {
			typ = TypeReceipt
		}
		_, _, err := VerifyJWS(tok, ks, typ)
		require.Error(t, err, name)
		assert.Equal(t, EINVALID, ErrorCode(err), name)
		assert.ErrorIs(t, err, ErrSignature, name)
		assert.Contains(t, ErrorMessage(err), "signature invalid", name)
	}
}

// FuzzVerifyJWS: whatever comes in, the verifier answers without a panic,
// and what it accepts was signed by the set's key with the content it
// returns.
func FuzzVerifyJWS(f *testing.F) {
	ks, err := NewKeySet(keyTime)
	if err != nil {
		f.Fatal(err)
	}
	tok, err := SignJWS(ks.Keys[0], TypeReceipt, map[string]string{"a": "b"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(tok + ".")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, in string) {
		payload, k, err := VerifyJWS(in, ks, TypeReceipt)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if k.ID != ks.Keys[0].ID {
			t.Fatalf("accepted with key %s", k.ID)
		}
		if strings.TrimSpace(in) != tok && string(payload) != `{"a":"b"}` {
			t.Fatalf("accepted %q with payload %q", in, payload)
		}
	})
}

// FuzzParseKeySet: the key file parser never panics, and a set it accepts
// writes back to a file it accepts again with the same keys.
func FuzzParseKeySet(f *testing.F) {
	ks, err := NewKeySet(keyTime)
	if err != nil {
		f.Fatal(err)
	}
	file, _ := ks.MarshalFile()
	pub, _ := ks.MarshalJWKS()
	f.Add(string(file))
	f.Add(string(pub))
	f.Add(`{"keys":[{}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		set, err := ParseKeySet([]byte(in))
		if err != nil {
			return
		}
		out, err := set.MarshalFile()
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseKeySet(out)
		if err != nil {
			t.Fatalf("%s does not parse again: %v", out, err)
		}
		if len(again.Keys) != len(set.Keys) {
			t.Fatalf("%d keys became %d", len(set.Keys), len(again.Keys))
		}
	})
}
