package formbuilder

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// xssCorpusPath is the shared XSS corpus, relative to this package's directory
// (go test runs in it).
const xssCorpusPath = "../testdata/xss/payloads.txt"

// loadXSSPayloads returns the payloads of the shared XSS corpus, one per line.
func loadXSSPayloads(tb testing.TB) []string {
	tb.Helper()
	data, err := os.ReadFile(xssCorpusPath)
	require.NoError(tb, err)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	require.GreaterOrEqual(tb, len(lines), 80, "the corpus should hold about 80 payloads or more")
	for i, l := range lines {
		require.NotEmpty(tb, strings.TrimSpace(l), "line %d of %s is empty", i+1, xssCorpusPath)
	}
	return lines
}

// versionOf returns a consent version with the given id and content, its
// Hash computed as storage would.
func versionOf(id, consentID int64, number int, c ConsentContent) *ConsentVersion {
	return &ConsentVersion{
		ID: id, ConsentID: consentID, Number: number,
		Text: c.Text, Label: c.Label, LinkURL: c.LinkURL, Language: c.Language,
		Hash: c.Hash(), Author: "admin@example.com",
	}
}

// fixtureForm returns a valid form with one field of every kind (and both a
// single checkbox and a checkbox group) and two consents: 11 is required and
// pre-ticked, 12 is optional. Each call returns a fresh copy.
func fixtureForm() *Form {
	privacy := versionOf(101, 11, 3, ConsentContent{
		Text: "<p>We process your data.</p>", Label: "I accept the %privacy notice%.", Language: "en",
	})
	news := versionOf(202, 12, 1, ConsentContent{
		Text: "<p>Monthly news.</p>", Label: "Send me %news%.", Language: "en",
	})
	return &Form{
		ID:                7,
		Key:               "abcdefghijklmnop",
		Name:              "Contact",
		Language:          "en",
		ResponsibleUserID: 3,
		ResponsibleUser:   "Ada Admin",
		Fields: []Field{
			{Key: "name", Label: "Name", Kind: KindName, Required: true},
			{Key: "company", Label: "Company", Kind: KindText, MaxLength: 10},
			{Key: "email", Label: "E-mail", Kind: KindEmail},
			{Key: "phone", Label: "Phone", Kind: KindPhone},
			{Key: "message", Label: "Message", Kind: KindTextarea, MaxLength: 20},
			{Key: "topic", Label: "Topic", Kind: KindSelect, Options: []string{"Sales", "Support"}},
			{Key: "channel", Label: "Channel", Kind: KindRadio, Options: []string{"mail", "phone"}},
			{Key: "newsletter", Label: "Newsletter", Kind: KindCheckbox},
			{Key: "interests", Label: "Interests", Kind: KindCheckbox, Options: []string{"a", "b", "c"}},
			{Key: "birthday", Label: "Birthday", Kind: KindDate},
			{Key: "amount", Label: "Amount", Kind: KindNumber},
			{Key: "campaign", Kind: KindHidden, Default: "spring"},
		},
		Consents: []FormConsent{
			{ConsentID: 11, CheckedByDefault: true, Required: true,
				Consent: &Consent{ID: 11, Name: "Privacy", Type: ConsentCustom, Current: privacy}},
			{ConsentID: 12, CheckedByDefault: false, Required: false,
				Consent: &Consent{ID: 12, Name: "Newsletter", Type: ConsentCustom, Current: news}},
		},
	}
}

// allowedElements are the elements the policy may emit; allowedAttrs the
// attributes per element.
var (
	allowedElements = map[string]bool{
		"p": true, "br": true, "strong": true, "b": true, "em": true, "i": true, "u": true,
		"s": true, "small": true, "ul": true, "ol": true, "li": true, "h3": true, "h4": true,
		"h5": true, "blockquote": true, "hr": true, "span": true, "div": true, "a": true,
	}
	allowedAttrs = map[string]map[string]bool{
		"a":    {"href": true, "title": true, "rel": true, "target": true},
		"span": {"title": true},
	}
	// urlAttrs hold URLs in some element of HTML or SVG.
	urlAttrs = map[string]bool{"href": true, "src": true, "action": true, "formaction": true,
		"background": true, "lowsrc": true, "dynsrc": true, "poster": true, "data": true,
		"xlink:href": true, "cite": true, "srcset": true}
	// forbiddenElements must never appear, whatever else the policy allows.
	forbiddenElements = []string{"script", "style", "iframe", "frame", "frameset", "form",
		"input", "button", "textarea", "select", "object", "embed", "applet", "svg", "math",
		"img", "image", "video", "audio", "source", "meta", "base", "link", "noscript",
		"template", "xmp", "plaintext", "title"}
)

// checkSafeHTML parses s the way a browser tokenizer and tree builder do and
// returns an error naming the first thing that the sanitising policy must
// never let through: an element outside the allowed list (script, style,
// iframe, form, object, embed, svg, img, meta, base, link, …), an event
// handler or style attribute, any other attribute not allowed on its
// element, a link whose URL is not https or mailto (javascript:, vbscript:,
// data:, relative), an https link without rel nofollow and noopener, or a
// comment.
func checkSafeHTML(s string) error {
	if err := checkTokens(s); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if err := checkTree(s); err != nil {
		return fmt.Errorf("tree builder: %w", err)
	}
	return nil
}

func checkTokens(s string) error {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if errors.Is(z.Err(), io.EOF) {
				return nil
			}
			return z.Err()
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if err := checkElement(tok.Data, tok.Attr); err != nil {
				return err
			}
		case html.CommentToken:
			return fmt.Errorf("comment %q survived", z.Token().Data)
		case html.DoctypeToken:
			return errors.New("doctype survived")
		}
	}
}

func checkTree(s string) error {
	body := &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body}
	nodes, err := html.ParseFragment(strings.NewReader(s), body)
	if err != nil {
		return err
	}
	var walk func(n *html.Node) error
	walk = func(n *html.Node) error {
		switch n.Type {
		case html.ElementNode:
			if n.Namespace != "" {
				return fmt.Errorf("foreign element %s:%s", n.Namespace, n.Data)
			}
			if err := checkElement(n.Data, n.Attr); err != nil {
				return err
			}
		case html.CommentNode:
			return fmt.Errorf("comment %q survived", n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range nodes {
		if err := walk(n); err != nil {
			return err
		}
	}
	return nil
}

func checkElement(name string, attrs []html.Attribute) error {
	name = strings.ToLower(name)
	for _, f := range forbiddenElements {
		if name == f {
			return fmt.Errorf("forbidden element <%s> survived", name)
		}
	}
	if !allowedElements[name] {
		return fmt.Errorf("element <%s> is not in the policy", name)
	}
	var href, rel, target string
	for _, a := range attrs {
		key := strings.ToLower(a.Key)
		switch {
		case strings.HasPrefix(key, "on"):
			return fmt.Errorf("event handler %s=%q survived on <%s>", key, a.Val, name)
		case key == "style":
			return fmt.Errorf("style attribute survived on <%s>", name)
		case !allowedAttrs[name][key]:
			return fmt.Errorf("attribute %s is not allowed on <%s>", key, name)
		}
		// Tokens have character references decoded already; browsers also
		// ignore whitespace and control characters inside a scheme.
		if scheme := urlScheme(a.Val); urlAttrs[key] &&
			(scheme == "javascript" || scheme == "vbscript" || scheme == "data") {
			return fmt.Errorf("%s: URL in %s on <%s>", scheme, key, name)
		}
		switch key {
		case "href":
			href = a.Val
		case "rel":
			rel = a.Val
		case "target":
			target = a.Val
		}
	}
	if name == "a" && href != "" {
		u, err := url.Parse(href)
		if err != nil || (u.Scheme != "https" && u.Scheme != "mailto") {
			return fmt.Errorf("link to %q survived", href)
		}
		if !strings.Contains(rel, "nofollow") {
			return fmt.Errorf("link to %q without rel=nofollow", href)
		}
	}
	if name == "a" && target != "" {
		if target != "_blank" || !strings.Contains(rel, "noopener") {
			return fmt.Errorf("target=%q with rel=%q", target, rel)
		}
	}
	return nil
}

// urlScheme returns the lower-case scheme a browser would see in v, ignoring
// the whitespace and control characters it strips, or "".
func urlScheme(v string) string {
	v = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, v)
	i := strings.IndexByte(v, ':')
	if i <= 0 {
		return ""
	}
	return strings.ToLower(v[:i])
}
