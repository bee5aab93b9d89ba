package httpx

import (
	"errors"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeTarget stands for a route's request type.
type decodeTarget struct {
	Name   string   `json:"name"`
	Count  int64    `json:"count"`
	On     *bool    `json:"on"`
	Tags   []string `json:"tags"`
	Fields []struct {
		Key  string `json:"key"`
		Size int    `json:"size"`
	} `json:"fields"`
}

// TestDecodeJSON: the one reader of JSON requests takes exactly the shape
// of its target and refuses, with 400 and the member named, whatever a
// careful reader could take two ways.
func TestDecodeJSON(t *testing.T) {
	var v decodeTarget
	require.NoError(t, DecodeJSON([]byte(` {"name":"a\u00e4","count":3,"on":null,"tags":["x"],"fields":[{"key":"k","size":2}]} `), &v))
	assert.Equal(t, "aä", v.Name)
	assert.Equal(t, int64(3), v.Count)
	assert.Nil(t, v.On)
	assert.Equal(t, 2, v.Fields[0].Size)

	for _, c := range []struct {
		name, body, field string
	}{
		{"empty", ``, ""},
		{"blank", " \n ", ""},
		{"not JSON", `{"name":`, ""},
		{"truncated", `{"name":"a"`, ""},
		{"array", `[1,2]`, ""},
		{"null", `null`, ""},
		{"string", `"x"`, ""},
		{"two values", `{"name":"x"} {}`, ""},
		{"trailing garbage", `{"name":"x"}x`, ""},
		{"invalid UTF-8", "{\"name\":\"a\xff\"}", ""},
		{"unknown member", `{"name":"x","colour":"red"}`, "colour"},
		{"unknown nested member", `{"fields":[{"key":"a","size":1,"evil":1}]}`, "fields.0.evil"},
		{"name in another case", `{"Name":"x"}`, "Name"},
		{"repeated member", `{"name":"a","name":"b"}`, "name"},
		{"repeated once unescaped", `{"name":"a","n\u0061me":"b"}`, "name"},
		{"wrong type", `{"count":"3"}`, "count"},
		{"fraction for an integer", `{"count":1.5}`, "count"},
		{"huge integer", `{"count":1e30}`, "count"},
		{"wrong nested type", `{"fields":[{"key":"a","size":"9"}]}`, "fields.0.size"},
		{"object for a list", `{"tags":{"a":1}}`, "tags"},
		{"deep nesting", `{"tags":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, ""},
	} {
		var v decodeTarget
		err := DecodeJSON([]byte(c.body), &v)
		require.Error(t, err, c.name)
		assert.True(t, errors.Is(err, ErrBadJSON), c.name)
		assert.Equal(t, formbuilder.EINVALID, formbuilder.ErrorCode(err), c.name)
		p := ProblemOf(err)
		assert.Equal(t, 400, p.Status, c.name)
		assert.NotEmpty(t, p.Message, c.name)
		assert.Less(t, len(p.Message), 300, c.name)
		if c.field != "" {
			assert.Contains(t, p.Fields, c.field, "%s: %v", c.name, err)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"x","count":1,"fields":[{"key":"a"}]}`, `{"name":"a","name":"b"}`, `[`, `{"tags":["\ud800"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v decodeTarget
		err := DecodeJSON(body, &v)
		if err == nil {
			return
		}
		// Every refusal is a client error with a message, never a panic
		// or an internal error.
		if !errors.Is(err, ErrBadJSON) {
			t.Fatalf("%q: %v is not a bad-JSON error", body, err)
		}
		if p := ProblemOf(err); p.Status != 400 || p.Message == "" {
			t.Fatalf("%q: %+v", body, p)
		}
	})
}
