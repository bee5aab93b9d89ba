package e2e

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// testTimeout bounds the browser work of one test; the whole package should
// take well under a minute.
const testTimeout = 90 * time.Second

var (
	// browserCtx is the context of the one browser the tests share; each
	// test opens its own tab in it. It is nil when no browser could start.
	browserCtx context.Context
	browserErr error
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	if _, err := os.Stat(chromiumPath); err != nil {
		browserErr = fmt.Errorf("Chromium not found (apt-get install chromium): %w", err)
		return m.Run()
	}
	profile, err := os.MkdirTemp("", "consentforms-e2e-profile-")
	if err != nil {
		browserErr = err
		return m.Run()
	}
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // root in containers and CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1024, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(browserErrorf))
	defer cancel()
	// The first Do starts the browser and binds it to ctx, which has no
	// deadline; tests derive their timeouts from their own tabs.
	if err := chromedp.Do(ctx); err != nil {
		browserErr = fmt.Errorf("start %s: %w", chromiumPath, err)
		return m.Run()
	}
	browserCtx = ctx
	return m.Run()
}

// browserErrorf logs chromedp's errors except one it reports, harmlessly,
// when it attaches to an iframe target whose document it saw no frame for.
func browserErrorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, "DOM.documentUpdated when there's no top-level frame") {
		return
	}
	log.Print("chromedp: " + msg)
}

// needBrowser returns the context of a new tab of the shared browser, closed
// when the test ends, with a deadline for the test's browser work. Without a
// browser it skips the test, or fails it when CI=true.
func needBrowser(t *testing.T) context.Context {
	t.Helper()
	if browserCtx == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium on CI: %v", browserErr)
		}
		t.Skipf("skipping browser test: %v", browserErr)
	}
	tabCtx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	// Open the tab without a deadline: the tab lives as long as the context
	// of its first action.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tabCtx, testTimeout)
	t.Cleanup(cancelTimeout)
	return ctx
}
