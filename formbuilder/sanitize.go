package formbuilder

import (
	"html"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
)

// Policy returns the sanitising policy for admin-authored HTML (consent
// texts, form descriptions): simple text formatting, lists, headings and
// links (https and mailto only, rel="nofollow noopener", new tab for
// absolute links). No style, script, iframe, form, image or event handler.
// It is built once: bluemonday policies are safe for concurrent use after
// construction.
func Policy() *bluemonday.Policy { return policy() }

var policy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "strong", "b", "em", "i", "u", "s", "small",
		"ul", "ol", "li", "h3", "h4", "h5", "blockquote", "hr", "span", "div")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(false)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowAttrs("title").OnElements("a", "span")
	return p
})

// Sanitize returns s cleaned by the one policy. It is idempotent: sanitising
// the result again changes nothing (a fuzz test holds it to that).
func Sanitize(s string) string {
	out := Policy().Sanitize(s)
	// bluemonday is not always a fixed point in one pass (for example when
	// removing a tag joins text into a new entity-like sequence); a second
	// pass reaches it, and a third is a cheap guard.
	for i := 0; i < 3; i++ {
		again := Policy().Sanitize(out)
		if again == out {
			break
		}
		out = again
	}
	return out
}

var (
	// tagRE finds start tags: '<' directly followed by a letter (a '<'
	// followed by a space is text in HTML, not a tag).
	tagRE = regexp.MustCompile(`(?i)<([a-z][a-z0-9-]*)`)
	// startTagRE matches a whole start tag; group 1 is the name, group 2 the
	// attributes.
	startTagRE = regexp.MustCompile(`(?i)<([a-z][a-z0-9-]*)((?:[\s/]+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*))?)*)[\s/]*>`)
	attrRE     = regexp.MustCompile(`([^\s"'>/=]+)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*))?`)
	eventRE    = regexp.MustCompile(`(?i)[\s/"']on[a-z]+\s*=`)
	jsURLRE    = regexp.MustCompile(`(?i)(java|vb)script\s*:|data\s*:`)
	styleAtRE  = regexp.MustCompile(`(?i)[\s/"']style\s*=`)
)

// SanitizeReport sanitises s and lists, for the admin's notice, what the
// policy removed: element names ("<script>"), event handlers, style
// attributes, script URLs and other attributes ("class attributes"). The list
// is sorted and without duplicates; it is empty when the policy only
// normalised the markup (quoting, entities, the rel and target it adds to
// links) without removing anything.
func SanitizeReport(s string) (string, []string) {
	clean := Sanitize(s)
	if clean == s {
		return clean, nil
	}
	removed := map[string]bool{}
	kept := map[string]int{}
	for _, m := range tagRE.FindAllStringSubmatch(clean, -1) {
		kept[strings.ToLower(m[1])]++
	}
	for _, m := range tagRE.FindAllStringSubmatch(s, -1) {
		name := strings.ToLower(m[1])
		if kept[name] > 0 {
			kept[name]--
			continue
		}
		removed["<"+name+">"] = true
	}
	if eventRE.MatchString(s) && !eventRE.MatchString(clean) {
		removed["event handler attributes"] = true
	}
	if styleAtRE.MatchString(s) && !styleAtRE.MatchString(clean) {
		removed["style attributes"] = true
	}
	if jsURLRE.MatchString(urlScanText(s)) && !jsURLRE.MatchString(urlScanText(clean)) {
		removed["script or data URLs"] = true
	}
	// Other attributes: those on elements the policy keeps that are fewer
	// in the output than in the input.
	keptAttrs := attrNames(clean, nil)
	for name, n := range attrNames(s, keptElements(clean)) {
		if n > keptAttrs[name] && name != "style" && !strings.HasPrefix(name, "on") {
			removed[name+" attributes"] = true
		}
	}
	if len(removed) == 0 && StripTags(s) != StripTags(clean) {
		removed["disallowed markup"] = true
	}
	if len(removed) == 0 {
		return clean, nil
	}
	out := make([]string, 0, len(removed))
	for k := range removed {
		out = append(out, k)
	}
	sort.Strings(out)
	return clean, out
}

// urlScanText decodes character references and drops the whitespace and
// control characters that browsers ignore inside URL schemes, so that
// "jav&#x09;ascript:" is recognised as the script URL it is.
func urlScanText(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, html.UnescapeString(s))
}

// keptElements returns the lower-case names of the elements in s.
func keptElements(s string) map[string]bool {
	els := map[string]bool{}
	for _, m := range tagRE.FindAllStringSubmatch(s, -1) {
		els[strings.ToLower(m[1])] = true
	}
	return els
}

// attrNames counts the attribute names of the start tags in s, only on the
// elements in only when it is not nil.
func attrNames(s string, only map[string]bool) map[string]int {
	names := map[string]int{}
	for _, m := range startTagRE.FindAllStringSubmatch(s, -1) {
		if only != nil && !only[strings.ToLower(m[1])] {
			continue
		}
		for _, a := range attrRE.FindAllStringSubmatch(m[2], -1) {
			names[strings.ToLower(a[1])]++
		}
	}
	return names
}

// StripTags returns the text content of s, without any markup, for search and
// plain-text exports. The result is still HTML-escaped text.
func StripTags(s string) string {
	return stripper().Sanitize(s)
}

var stripper = sync.OnceValue(bluemonday.StrictPolicy)
