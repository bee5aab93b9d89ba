// Package e2e holds the real-browser tests of consentforms. Headless Chromium
// (Debian's chromium package), driven with chromedp, loads host pages served
// from another origin that embed a form with embed.js in each mode (inline,
// click, auto) under a strict Content-Security-Policy, the hosted page with
// JavaScript turned off, and runs axe-core on the hosted form and the open
// popup. The app runs in-process on a fresh SQLite file, so every test checks
// what was stored, not only what the page shows.
//
// The package has no code besides its tests. They skip when Chromium is
// missing, and fail instead when the environment variable CI is "true".
// UPDATE_SCREENSHOTS=1 writes testdata/e2e/inline-expanded.png.
package e2e
