package formbuilder

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// httpsLink is how the policy writes an absolute https link: new tab, and
// rel keeps search engines and the opened page away from the form.
const httpsRel = ` rel="nofollow noopener" target="_blank"`

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// What admins write stays.
		{"formatting", `<p>Hello <strong>world</strong>, <em>hi</em> <b>b</b> <i>i</i> <u>u</u> <s>s</s> <small>sm</small></p>`,
			`<p>Hello <strong>world</strong>, <em>hi</em> <b>b</b> <i>i</i> <u>u</u> <s>s</s> <small>sm</small></p>`},
		{"blocks", `<div><ul><li>one</li></ul><ol><li>two</li></ol><h3>h</h3><h4>h</h4><h5>h</h5><blockquote>q</blockquote><hr><br></div>`,
			`<div><ul><li>one</li></ul><ol><li>two</li></ol><h3>h</h3><h4>h</h4><h5>h</h5><blockquote>q</blockquote><hr><br></div>`},
		{"span title", `<span title="Hint">x</span>`, `<span title="Hint">x</span>`},
		{"escaped text stays escaped", `<p>a &amp; b &lt;script&gt;</p>`, `<p>a &amp; b &lt;script&gt;</p>`},
		{"quotes are escaped", `<p>O'Brien "q"</p>`, `<p>O&#39;Brien &#34;q&#34;</p>`},
		{"plain text", `just text`, `just text`},
		{"empty", ``, ``},

		// Scripts and event handlers.
		{"script", `<script>alert(1)</script>`, ``},
		{"script inside text", `<p>a<script>alert(1)</script>b</p>`, `<p>ab</p>`},
		{"script upper case", `<SCRIPT SRC=https://xss.example/x.js></SCRIPT>ok`, `ok`},
		{"nested script trick", `<scr<script>ipt>alert(1)</scr</script>ipt>`, `ipt&gt;alert(1)ipt&gt;`},
		{"img onerror", `<img src=x onerror=alert(1)>`, ``},
		{"https img (no images in the policy)", `<img src="https://evil.example/pixel.png">`, ``},
		{"svg onload", `<svg onload=alert(1)><circle r=1 /></svg>`, ``},
		{"svg slash onload", `<svg/onload=alert(1)>text`, `text`},
		{"event handler on allowed element", `<p onclick="alert(1)">x</p>`, `<p>x</p>`},
		{"event handler on span keeps title", `<span title="t" onmouseover="alert(1)">s</span>`, `<span title="t">s</span>`},
		{"details ontoggle", `<details open ontoggle=alert(1)>x</details>`, `x`},

		// Script URLs in every disguise.
		{"javascript link", `<a href="javascript:alert(1)">x</a>`, `x`},
		{"javascript mixed case", `<a href="JaVaScRiPt:alert(1)">x</a>`, `x`},
		{"javascript leading space", `<a href="  javascript:alert(1)">x</a>`, `x`},
		{"javascript decimal entities", `<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>`, `x`},
		{"javascript hex entity", `<a href="&#x6A;avascript:alert(1)">x</a>`, `x`},
		{"javascript padded entities", `<a href="&#0000106&#0000097vascript:alert(1)">x</a>`, `x`},
		{"javascript named colon", `<a href="javascript&colon;alert(1)">x</a>`, `x`},
		{"javascript raw tab", "<a href=\"java\tscript:alert(1)\">x</a>", `x`},
		{"javascript raw newline", "<a href=\"java\nscript:alert(1)\">x</a>", `x`},
		{"javascript raw CR", "<a href=\"java\rscript:alert(1)\">x</a>", `x`},
		{"javascript entity tab", `<a href="java&#x09;script:alert(1)">x</a>`, `x`},
		{"javascript entity newline", `<a href="java&#10;script:alert(1)">x</a>`, `x`},
		{"javascript control char", `<a href="&#1;javascript:alert(1)">x</a>`, `x`},
		{"javascript unquoted", `<a href=javascript:alert(1)>x</a>`, `x`},
		{"data URL", `<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>`, `x`},
		{"data URL upper case", `<a href="DATA:text/html,<script>alert(1)</script>">x</a>`, `x`},
		{"vbscript", `<a href="vbscript:msgbox(1)">x</a>`, `x`},

		// Styles.
		{"style attribute", `<p style="color:red">x</p>`, `<p>x</p>`},
		{"style attribute with url", `<p style="background:url(javascript:alert(1))">x</p>`, `<p>x</p>`},
		{"style element", `<style>body{display:none}</style><p>x</p>`, `<p>x</p>`},
		{"select style", `<select><style>a{}</style></select>`, ``},
		{"select style mxss", `<select><style></select><img src=x onerror=alert(1)></style>`, ``},
		{"select option style mxss", `<select><option><style></option></select><img src=x onerror=alert(1)></style>`, ``},

		// Elements that embed, submit or redirect.
		{"iframe", `<iframe src="https://evil.example"></iframe>after`, `after`},
		{"form", `<form action="https://evil.example"><input name=x><button>go</button></form>`, `go`},
		{"object and its content", `<object data="x.swf">fallback</object>`, ``},
		{"embed", `<embed src="x.swf">`, ``},
		{"base", `<base href="https://evil.example/">`, ``},
		{"meta refresh", `<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`, ``},
		{"link stylesheet", `<link rel=stylesheet href="https://evil.example/x.css">`, ``},
		{"table", `<table><tr><td>x</td></tr></table>`, `x`},
		{"comment", `<!-- secret --><p>x</p>`, `<p>x</p>`},
		{"math xlink", `<math><mi xlink:href="javascript:alert(1)">x</mi></math>`, `x`},

		// Links.
		{"https target blank gets noopener", `<a href="https://example.com/privacy" target="_blank">privacy</a>`,
			`<a href="https://example.com/privacy"` + httpsRel + `>privacy</a>`},
		{"https without target gets target and noopener", `<a href="https://example.com/">x</a>`,
			`<a href="https://example.com/"` + httpsRel + `>x</a>`},
		{"admin rel replaced", `<a href="https://example.com/" rel="opener" target="_self">x</a>`,
			`<a href="https://example.com/"` + httpsRel + `>x</a>`},
		{"link title kept, class and id dropped", `<a href="https://example.com" title="T" class="c" id="i">x</a>`,
			`<a href="https://example.com" title="T"` + httpsRel + `>x</a>`},
		{"link onclick dropped", `<a href="https://example.com" onclick="alert(1)">x</a>`,
			`<a href="https://example.com"` + httpsRel + `>x</a>`},
		{"mailto allowed", `<a href="mailto:dpo@example.com">dpo</a>`, `<a href="mailto:dpo@example.com" rel="nofollow">dpo</a>`},
		{"http stripped to text", `<a href="http://example.com">insecure</a>`, `insecure`},
		{"root relative stripped", `<a href="/privacy">rel</a>`, `rel`},
		{"relative stripped", `<a href="privacy.html">rel</a>`, `rel`},
		{"protocol relative stripped", `<a href="//evil.example/x">x</a>`, `x`},
		{"fragment stripped", `<a href="#top">top</a>`, `top`},
		{"anchor without href dropped", `<a name="x">x</a>`, `x`},
		{"unparseable URL stripped", `<a href="https://exa mple.com/%zz">x</a>`, `x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			assert.Equal(t, tt.want, got)
			assert.NoError(t, checkSafeHTML(got))
			assert.Equal(t, got, Sanitize(got), "sanitising twice must equal once")
		})
	}
}

func TestSanitizeXSSCorpus(t *testing.T) {
	for i, payload := range loadXSSPayloads(t) {
		out := Sanitize(payload)
		if err := checkSafeHTML(out); err != nil {
			t.Errorf("payload %d %q\n  -> %q\n  %v", i+1, payload, out, err)
		}
		lower := strings.ToLower(out)
		for _, bad := range []string{"<script", "<style", "<iframe", "<form", "<object", "<embed",
			"<svg", "<img", "<meta", "<base", "<link"} {
			assert.NotContains(t, lower, bad, "payload %d %q", i+1, payload)
		}
		assert.NotRegexp(t, `(?i)<[^>]*\son\w+\s*=`, out, "payload %d %q", i+1, payload)
		assert.Equal(t, out, Sanitize(out), "payload %d %q is not idempotent", i+1, payload)
	}
}

func TestSanitizeIdempotentOnTrickyInput(t *testing.T) {
	// Inputs where removing markup joins text into something that looks like
	// markup or an entity.
	for _, in := range []string{
		`&<b>amp;</b>lt;script&<i>gt;</i>`,
		`<<b>script>alert(1)<</b>/script>`,
		`&l<script>x</script>t;img src=x onerror=alert(1)&gt;`,
		`<a href="https://x.example/?a=1&amp;b=2">q</a>`,
		`<p>&#0;&#xD800;&#x110000;</p>`,
		"<p>\x00</p>",
		"\xff\xfe<p>bad utf-8 \xc3</p>",
		`<p title="x">y</p>`,
		`<![CDATA[<script>alert(1)</script>]]>`,
	} {
		out := Sanitize(in)
		assert.Equal(t, out, Sanitize(out), "input %q", in)
		assert.NoError(t, checkSafeHTML(out), "input %q -> %q", in, out)
	}
}

func TestSanitizeConcurrent(t *testing.T) {
	// The policy is built once and shared; run with -race.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				assert.Equal(t, "<p>x</p>", Sanitize(`<p onclick="x">x</p><script>y</script>`))
			}
		}()
	}
	wg.Wait()
}

func TestSanitizeReport(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		removed []string
	}{
		{"clean input", `<p>fine</p>`, nil},
		{"only normalised quotes", `<p>O'Brien</p>`, nil},
		{"only rel and target added", `<a href="https://example.com/">x</a>`, nil},
		{"mailto gets rel", `<a href="mailto:a@example.com">x</a>`, nil},
		{"comment", `<!-- note --><p>x</p>`, nil},
		{"script", `<p>a</p><script>alert(1)</script>`, []string{"<script>"}},
		{"two elements sorted", `<iframe src="https://x.example"></iframe><script>1</script>`, []string{"<iframe>", "<script>"}},
		{"repeated element once", `<img src=a><img src=b>`, []string{"<img>"}},
		{"kept and removed of the same name", `<p>a</p><p>b</p>`, nil},
		{"img onerror", `<img src=x onerror=alert(1)>`, []string{"<img>", "event handler attributes"}},
		{"handler on kept element", `<p onclick="x()">a</p>`, []string{"event handler attributes"}},
		{"style attribute", `<p style="color:red">a</p>`, []string{"style attributes"}},
		{"style element", `<style>p{}</style><p>a</p>`, []string{"<style>"}},
		{"javascript link", `<a href="javascript:alert(1)">x</a>`, []string{"<a>", "script or data URLs"}},
		{"entity-encoded javascript link", `<a href="&#x6A;avascript:alert(1)">x</a>`, []string{"<a>", "script or data URLs"}},
		{"tab in javascript link", "<a href=\"java\tscript:alert(1)\">x</a>", []string{"<a>", "script or data URLs"}},
		{"data link", `<a href="data:text/html,x">x</a>`, []string{"<a>", "script or data URLs"}},
		{"http link", `<a href="http://example.com">x</a>`, []string{"<a>"}},
		{"other attributes", `<a href="https://example.com" class="c" id="i">x</a>`, []string{"class attributes", "id attributes"}},
		{"href dropped but title kept", `<a href="http://example.com" title="t">x</a>`, []string{"href attributes"}},
		{"select style", `<select><style>a{}</style></select>`, []string{"<select>", "<style>"}},
		{"text that only looks like a tag", `1 < 2 and 3 > 2`, nil},
		{"text mentioning javascript stays", `<p>We do not use javascript: links</p><b onclick=x>y</b>`, []string{"event handler attributes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean, removed := SanitizeReport(tt.in)
			assert.Equal(t, Sanitize(tt.in), clean)
			assert.Equal(t, tt.removed, removed)
		})
	}
}

func TestSanitizeReportCorpus(t *testing.T) {
	// Every corpus payload that the policy changes in substance is reported.
	for _, p := range loadXSSPayloads(t) {
		clean, removed := SanitizeReport(p)
		if StripTags(p) != StripTags(clean) || tagRE.FindString(p) != "" && clean == "" {
			assert.NotEmpty(t, removed, "payload %q -> %q", p, clean)
		}
		assert.IsIncreasing(t, removed, "sorted and unique: %q", p)
	}
}

func TestStripTags(t *testing.T) {
	tests := []struct{ in, want string }{
		{`<p>Hello <b>world</b></p>`, `Hello world`},
		{`<script>alert(1)</script>x`, `x`},
		{`a &lt; b`, `a &lt; b`},
		{`<a href="https://x.example">link</a>`, `link`},
		{``, ``},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, StripTags(tt.in), "input %q", tt.in)
	}
}

func TestPolicyIsShared(t *testing.T) {
	require.NotNil(t, Policy())
	assert.Same(t, Policy(), Policy())
}
