// Package widget renders everything a site visitor sees: the form page (on
// its own at /f/KEY or inside an iframe with ?embed=1), the thank-you,
// message and withdrawal pages, and the static files form.js, form.css and
// embed.js. The web package serves the bytes; this package knows no HTTP.
//
// Pages never contain inline script, inline style or event-handler
// attributes, so they run under "script-src 'self'; style-src 'self'".
// Admin HTML (consent texts, form descriptions) is sanitised again at render
// with formbuilder.Sanitize, although it was sanitised on write: a row that
// reached the database another way must not become script on a visitor's
// screen.
//
// # Form post (no JavaScript and fetch alike, application/x-www-form-urlencoded)
//
//	<field key>               value; a checkbox group repeats the key; a single box sends "yes"
//	consent_<id>              "1" when ticked, absent otherwise
//	consent_<id>_initial      "1"/"0": the box's state when first shown; not read (the render token says it)
//	consent_<id>_interacted   "1" once the visitor changed the box (set by form.js; kept on re-render)
//	consent_<id>_version      the ConsentVersion ID whose text the page showed
//	_page_url                 host page URL (from the loader's page parameter)
//	_token                    PageState.Token
//	_embed                    "1" inside the iframe, else "0"
//	website                   honeypot; people leave it empty
//
// form.js sends with Accept: application/json and expects
//
//	2xx  {"message"?: string, "redirect_url"?: string, "withdraw_links"?: [{"label", "url"}],
//	      "receipts"?: [{"record_id", "label", "jws"}]}
//	422  {"error": {"code": "invalid", "message": string, "fields": {key: message}}, "token": string,
//	      "consents"?: [{"consent_id", "version_id", "version", "label", "text", "html"}]}
//	else {"error": {"code": string, "message": string}}
//
// redirect_url is the form's redirect URL with the withdrawal links added
// as cf_withdraw query parameters (the visitor leaves the success message,
// which lists them, behind).
//
// receipts are the signed consent receipts (compact JWS, see Receipt):
// form.js offers each as a file to download, as the success page does.
//
// consents lists each consent whose text changed since the page was
// rendered (the post named another version): the current version, and in
// html its box as ConsentBox renders it, unticked. form.js puts that box in
// place of the old one and leaves every other field as the visitor filled
// it; the next send names the new version.
//
// The token of a 422 is the one to send next: the page's own while it is
// still good, a fresh one when it expired or was broken. form.js puts it
// into _token, so sending again works without reloading the page.
//
// Field messages are shown as given when they start with a capital letter,
// else after the field's label; LocalizeErrors produces exactly the page's
// wording, in the form's language.
//
// # postMessage protocol (iframe ⇄ loader)
//
// The iframe URL is /f/KEY?embed=1&frame=ID&origin=HOST_ORIGIN&page=HOST_URL.
// form.js posts only to HOST_ORIGIN (data-origin on <html>, else the origin
// parameter), never to "*":
//
//	{type: "consentforms:height", id, height}   on load, on resize, after each toggle
//	{type: "consentforms:redirect", id, url}    after a success with redirect_url
//	{type: "consentforms:close", id}            Esc inside a popup
//
// and answers {type: "consentforms:hello"} from its parent (and that origin
// only) with a height. embed.js accepts a message only when its origin is
// the form server's and its source is the very iframe it made. A frame that
// has loaded and sent nothing within 5 seconds was refused (frame-ancestors:
// the host is not among the allowed origins): embed.js says so in one
// console warning.
//
// # Embedding under a strict host CSP
//
// embed.js needs "script-src https://FORMS.EXAMPLE" and "frame-src
// https://FORMS.EXAMPLE" and no style-src: it styles its elements through
// element.style, which style-src does not govern, and injects no style sheet.
package widget
