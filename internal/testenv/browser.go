package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The real-browser helpers of the web UI's tests: a headless Chromium
// (Debian's chromium package, which CI installs), conditions polled in
// the page with a deadline, and screenshots kept where a person can look
// at them.

// ChromiumPath is where Debian's chromium package puts the browser.
const ChromiumPath = "/usr/bin/chromium"

// BrowserTZ is the browser's time zone in tests.
const BrowserTZ = "Asia/Tokyo"

// Browser starts a headless Chromium with a throwaway profile and returns
// a chromedp context bounded to two minutes (a loaded two-CPU machine can
// take half a minute just to start the browser). Without the browser the
// test fails under CI=true and is skipped, saying how to install it,
// elsewhere.
func Browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must install the chromium package for the browser tests", ChromiumPath)
		}
		t.Skipf("%s is missing: install it (apt-get install -y chromium) to run the real-browser UI tests", ChromiumPath)
	}
	profile := t.TempDir()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
		// Not this machine's zone (UTC on CI): pages must show times in
		// the reader's zone, and the tests check they do.
		chromedp.Env("TZ="+BrowserTZ),
	)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	// Cleanups run last-in first-out: the browser exits before its
	// profile directory is removed.
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// JSTrue waits, up to 20 s, until the JavaScript expression expr is true
// in the page; what names the condition in the error. It re-evaluates
// rather than using one long poll, because a click that submits a form
// navigates, and a navigation ends an evaluation in flight. It judges
// only a page the browser has finished parsing: on a page still arriving,
// a list read by expr may be half of what the server sent.
func JSTrue(expr, what string) chromedp.Action[chromedp.Void] {
	whole := `document.readyState === "complete" && (` + expr + `)`
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		return Poll(ctx, 20*time.Second, func() error {
			ok, err := chromedp.Evaluate[bool](whole)(ctx, tg)
			if err != nil || !ok {
				return fmt.Errorf("%s: still false: %s (last error: %v)", what, expr, err)
			}
			return nil
		})
	})
}

// TextHas waits until the text of the element sel selects contains want.
func TextHas(sel, want string) chromedp.Action[chromedp.Void] {
	expr := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `);
		return !!e && e.textContent.includes(` + strconv.Quote(want) + `); })()`
	return JSTrue(expr, fmt.Sprintf("%s containing %q", sel, want))
}

// SaveShot keeps a full-page screenshot of the browser's page as name in
// $ARGUS_UI_SCREENSHOTS when set (.ci/run sets it to the folder CI keeps
// as an artifact), else in the test's temp dir, and returns its path.
func SaveShot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("ARGUS_UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// Unlabelled lists what on the browser's page a screen reader could not
// name: buttons and links without text or aria-label, form fields with
// neither a <label> nor aria-label. Empty: every control is labelled.
func Unlabelled(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const bad = [];
		const named = (e) => (e.getAttribute("aria-label") || e.textContent || "").trim() !== "";
		document.querySelectorAll("button, a[href]").forEach((e) => { if (!named(e)) bad.push(e.outerHTML); });
		document.querySelectorAll("input:not([type=hidden]), select, textarea").forEach((e) => {
			const labelled = e.getAttribute("aria-label") || e.closest("label") || (e.id && document.querySelector("label[for='" + e.id + "']"));
			if (!labelled) bad.push(e.outerHTML);
		});
		return bad;
	})()`))
}
