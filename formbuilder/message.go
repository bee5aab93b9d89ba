package formbuilder

import (
	"sort"
	"strconv"
	"strings"
)

// Texts for people: every sentence the product shows (domain errors, the
// admin's pages, notification mails, the widget's chrome) lives in the
// message catalogs, one per language (catalog_en.go, catalog_de.go), in
// this package because widget, web and delivery all translate and this is
// the one package all of them may import. A text is looked up by its key,
// never by its English wording.
//
// Keys of domain messages are message codes (MsgCode): lower case words
// joined by "_", no dots, each a named constant so a test can walk them.
// Keys of interface texts have a dot ("nav.forms", "widget.submit"). A
// "{name}" in a text is a parameter. Keys ending in "_html" hold trusted
// markup (the catalogs are compiled in); their parameters are escaped by
// whoever renders them.

// MsgCode names a message of the catalogs that an error or result carries,
// so that each reader gets it in their language.
type MsgCode string

// Msg is a message by code, with the values of its {name} parameters.
type Msg struct {
	Code   MsgCode           `json:"code"`
	Params map[string]string `json:"params,omitempty"`
	// Parts are messages inside this one, filled in as {name} in the same
	// language as the message around them (a list of problems, say).
	Parts map[string]Msg `json:"parts,omitempty"`
}

// M returns the message code with its parameters as name, value pairs.
func M(code MsgCode, kv ...string) Msg {
	m := Msg{Code: code}
	if len(kv) > 1 {
		m.Params = make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m.Params[kv[i]] = kv[i+1]
		}
	}
	return m
}

// With returns m with msg filled in for its parameter name.
func (m Msg) With(name string, msg Msg) Msg {
	parts := make(map[string]Msg, len(m.Parts)+1)
	for k, v := range m.Parts {
		parts[k] = v
	}
	parts[name] = msg
	m.Parts = parts
	return m
}

// IsZero reports whether m is no message.
func (m Msg) IsZero() bool { return m.Code == "" }

// String returns the message in English, for logs and the API.
func (m Msg) String() string { return m.Text(LangEN) }

// Text returns the message in lang (see Lang).
func (m Msg) Text(lang string) string {
	if m.Code == "" {
		return ""
	}
	s := fill(lookup(lang, string(m.Code)), m.Params)
	if len(m.Parts) > 0 {
		parts := make(map[string]string, len(m.Parts))
		for k, p := range m.Parts {
			parts[k] = p.Text(lang)
		}
		s = fill(s, parts)
	}
	return s
}

// The languages the product speaks.
const (
	LangEN = "en"
	LangDE = "de"
)

// T returns the text of key in lang with its parameters as name, value
// pairs. A key missing in lang falls back to English, and a key missing
// there comes back as itself, so a gap shows in tests rather than as an
// empty button.
func T(lang, key string, kv ...string) string { return subst(lookup(lang, key), kv) }

// subst replaces each {name} of s that kv (name, value pairs) names.
func subst(s string, kv []string) string {
	if len(kv) < 2 || !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			b.WriteByte(s[i])
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		name := s[i+1 : i+end]
		v, ok := param(kv, name)
		if !ok {
			b.WriteString(s[i : i+end+1])
		} else {
			b.WriteString(v)
		}
		i += end
	}
	return b.String()
}

// param returns the value of name among kv's name, value pairs.
func param(kv []string, name string) (string, bool) {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == name {
			return kv[i+1], true
		}
	}
	return "", false
}

// fill replaces each {name} of s that params has.
func fill(s string, params map[string]string) string {
	if len(params) == 0 || !strings.Contains(s, "{") {
		return s
	}
	kv := make([]string, 0, 2*len(params))
	for k, v := range params {
		kv = append(kv, k, v)
	}
	return subst(s, kv)
}

// lookup returns the text of key in lang, else in English, else key.
func lookup(lang, key string) string {
	if s, ok := catalogs[Lang(lang)][key]; ok {
		return s
	}
	if s, ok := catalogEN[key]; ok {
		return s
	}
	return key
}

// catalogs are the message catalogs by language.
var catalogs = map[string]map[string]string{LangEN: catalogEN, LangDE: catalogDE}

// HasText reports whether the catalog of lang has key (tests hold the
// catalogs to one another with it).
func HasText(lang, key string) bool {
	_, ok := catalogs[lang][key]
	return ok
}

// CatalogKeys returns the keys of lang's catalog, sorted.
func CatalogKeys(lang string) []string { return sortedKeys(catalogs[lang]) }

// Lang maps a language tag to one the product speaks: "de-AT" and "DE"
// speak German, anything else English.
func Lang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	if tag == LangDE {
		return LangDE
	}
	return LangEN
}

// NegotiateLang picks the language of an Accept-Language header: the one
// of the product's languages the browser weighs highest, English when it
// names neither.
func NegotiateLang(accept string) string {
	type choice struct {
		lang string
		q    float64
		pos  int
	}
	var best []choice
	for i, part := range strings.Split(accept, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		base, _, _ := strings.Cut(tag, "-")
		if base != LangDE && base != LangEN {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
		}
		if q > 0 {
			best = append(best, choice{base, q, i})
		}
	}
	if len(best) == 0 {
		return LangEN
	}
	sort.SliceStable(best, func(i, j int) bool { return best[i].q > best[j].q })
	return best[0].lang
}
