package sqlcore

import (
	"slices"

	"github.com/consentforms/consentforms/internal/jsonx"
)

// appendValuesJSON appends values encoded exactly as json.Marshal encodes
// a map[string][]string (keys sorted, HTML characters, U+2028/U+2029 and
// invalid UTF-8 escaped the same way, a nil slice as null), without its
// reflection: on the submission path json.Marshal cost about as much as
// parsing the request. TestAppendValuesJSONIsJSONMarshal holds it to that.
func appendValuesJSON(dst []byte, values map[string][]string) []byte {
	if values == nil {
		return append(dst, "null"...)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, k)
		dst = append(dst, ':')
		v := values[k]
		if v == nil {
			dst = append(dst, "null"...)
			continue
		}
		dst = append(dst, '[')
		for j, s := range v {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, s)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
