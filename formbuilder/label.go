package formbuilder

import (
	"html"
	"regexp"
	"strings"
)

// A consent's label is plain text: it is escaped wherever it is shown, and
// its link is the part written %like this% plus the version's LinkURL. HTML
// typed into it would reach visitors as visible tags, so Validate refuses
// it and says how to write the link instead.

// labelMarkup reports whether s holds HTML: a tag, end tag, comment or
// declaration ("<a", "</", "<!", "<?"), or a character reference that a
// browser would decode ("&nbsp;", "&#38;", "&#x26;"). A "<" or "&" that
// starts neither ("a < b", "R&D") is text.
func labelMarkup(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			if i+1 < len(s) {
				c := s[i+1]
				if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '/' || c == '!' || c == '?' {
					return true
				}
			}
		case '&':
			if charRef(s[i:]) {
				return true
			}
		}
	}
	return false
}

// charRef reports whether s starts with a character reference: a numeric
// one ("&#38", "&#x26", which browsers decode with or without the
// semicolon) or a named one ended by a semicolon that html.UnescapeString
// decodes. For names the semicolon is required: legacy references without
// one ("&not") are also the start of words.
func charRef(s string) bool {
	if len(s) > 2 && s[1] == '#' {
		c := s[2]
		if '0' <= c && c <= '9' {
			return true
		}
		if (c == 'x' || c == 'X') && len(s) > 3 && isHexDigit(s[3]) {
			return true
		}
	}
	end := strings.IndexByte(s, ';')
	if end < 2 || end > 40 {
		return false
	}
	for _, c := range []byte(s[1:end]) {
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '#') {
			return false
		}
	}
	ref := s[:end+1]
	return html.UnescapeString(ref) != ref
}

// anchorRE finds a link in HTML typed into a label: its address and text.
var anchorRE = regexp.MustCompile(`(?is)<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))[^>]*>(.*?)</a\s*>`)

// labelMarkupProblem is the message for a label with markup. For a label
// with exactly one link it spells out the label and Link URL that say the
// same, so the admin can copy them.
func labelMarkupProblem(label string) Msg {
	m := anchorRE.FindAllStringSubmatchIndex(label, 2)
	if len(m) != 1 {
		return M(MsgLabelMarkup)
	}
	g := m[0]
	part := func(i int) string {
		if g[2*i] < 0 {
			return ""
		}
		return label[g[2*i]:g[2*i+1]]
	}
	href := strings.TrimSpace(html.UnescapeString(part(1) + part(2) + part(3)))
	text := plainLabelText(part(4))
	if href == "" || strings.TrimSpace(text) == "" {
		return M(MsgLabelMarkup)
	}
	suggested := plainLabelText(label[:g[0]]) + "%" + strings.TrimSpace(text) + "%" + plainLabelText(label[g[1]:])
	return M(MsgLabelMarkupHere, "label", strings.TrimSpace(suggested), "url", href)
}

// plainLabelText is the text of an HTML fragment as a label would hold it:
// tags removed, references decoded, percent signs doubled.
func plainLabelText(s string) string {
	return strings.ReplaceAll(html.UnescapeString(StripTags(s)), "%", "%%")
}

func isHexDigit(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
