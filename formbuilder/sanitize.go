package formbuilder

import (
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
)

// policy is the one bluemonday policy for admin-authored HTML (consent texts,
// form descriptions). It is built once: bluemonday policies are safe for
// concurrent use after construction.
var (
	policyOnce sync.Once
	policy     *bluemonday.Policy
	stripOnce  sync.Once
	stripper   *bluemonday.Policy
)

// Policy returns the sanitising policy: simple text formatting, lists,
// headings and links (https and mailto only, rel="nofollow noopener", new tab
// for absolute links). No style, script, iframe, form, image or event handler.
func Policy() *bluemonday.Policy {
	policyOnce.Do(func() {
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
		policy = p
	})
	return policy
}

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
	tagRE     = regexp.MustCompile(`(?i)<\s*([a-z][a-z0-9-]*)`)
	eventRE   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	jsURLRE   = regexp.MustCompile(`(?i)(java|vb)script\s*:|data\s*:`)
	styleAtRE = regexp.MustCompile(`(?i)\sstyle\s*=`)
)

// SanitizeReport sanitises s and lists, for the admin's notice, what the
// policy removed: element names, event handlers, style attributes and
// script URLs. The list is sorted and without duplicates.
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
	if jsURLRE.MatchString(s) && !jsURLRE.MatchString(clean) {
		removed["script or data URLs"] = true
	}
	if len(removed) == 0 {
		removed["disallowed markup"] = true
	}
	out := make([]string, 0, len(removed))
	for k := range removed {
		out = append(out, k)
	}
	sort.Strings(out)
	return clean, out
}

// StripTags returns the text content of s, without any markup, for search and
// plain-text exports. The result is still HTML-escaped text.
func StripTags(s string) string {
	stripOnce.Do(func() { stripper = bluemonday.StrictPolicy() })
	return stripper.Sanitize(s)
}
