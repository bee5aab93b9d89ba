package sqlcore

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendValuesJSONIsJSONMarshal(t *testing.T) {
	pieces := []string{"", "a", "Erika", "\"", "\\", "<", ">", "&", "\b", "\f", "\n", "\r", "\t", "\x00", "\x1f",
		"\x7f", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", "\ufffd", "ä<b>&", "/"}
	str := func(r *rand.Rand) string {
		s := ""
		for n := r.IntN(5); n > 0; n-- {
			s += pieces[r.IntN(len(pieces))]
		}
		return s
	}
	r := rand.New(rand.NewPCG(1, 2))
	cases := []map[string][]string{nil, {}, {"a": nil}, {"a": {}}, {"": {""}}}
	for i := 0; i < 2000; i++ {
		m := map[string][]string{}
		for n := r.IntN(6); n > 0; n-- {
			var v []string
			if r.IntN(8) > 0 {
				v = []string{}
				for k := r.IntN(4); k > 0; k-- {
					v = append(v, str(r))
				}
			}
			m[str(r)] = v
		}
		cases = append(cases, m)
	}
	for _, m := range cases {
		want, err := json.Marshal(m)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendValuesJSON(nil, m)), "%q", m)
	}
}
