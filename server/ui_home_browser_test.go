package server_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server"
)

// TestHomeInARealBrowser: the home page of a user with 500 batches, seen
// in Chromium: paged a hundred at a time, narrowed by the filter form, a
// failure marked as one, times in the reader's zone, and a running run
// that ends shown as ended without the page reloading or losing its
// scroll position.
func TestHomeInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	const total = 500
	var first string
	for i := range total {
		project, host := "vision", "gpu-01"
		if i%2 == 1 {
			project = "nlp"
		}
		if i%5 == 4 {
			host = "gpu-02"
		}
		id := h.batch(alice, project, host)
		if first == "" {
			first = id
		}
	}
	running := h.started(alice, first, agentID, agentTok, 4242)
	failed := h.started(alice, first, agentID, agentTok, 4243)
	h.ended(agentID, agentTok, failed, 1, "")

	// Every batch once, a hundred a page.
	seen := map[string]bool{}
	err := chromedp.Do(ctx, signIn(h, alice), testenv.JSTrue(`document.getElementById("batches") !== null`, "the batches"))
	for page := 0; err == nil; page++ {
		var links []string
		links, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("#batches a.batch-link")).map(a => a.getAttribute("href"))`))
		if err != nil {
			break
		}
		if len(links) > 100 {
			t.Fatalf("page %d lists %d batches, want at most 100", page, len(links))
		}
		for _, l := range links {
			if seen[l] {
				t.Fatalf("batch %s listed twice", l)
			}
			seen[l] = true
		}
		if len(seen) == total || page > 10 {
			break
		}
		if len(links) < 100 {
			t.Fatalf("page %d lists %d batches and is not the last (%d of %d seen)", page, len(links), len(seen), total)
		}
		err = chromedp.Do(ctx, chromedp.Click(chromedp.ID("older-batches")), testenv.JSTrue(
			fmt.Sprintf(`document.querySelectorAll("#batches a.batch-link").length > 0 && !%s.includes(document.querySelector("#batches a.batch-link").getAttribute("href"))`,
				jsArray(links)), "the next page of batches"))
	}
	if err != nil || len(seen) != total {
		t.Fatalf("paging through the batches saw %d of %d (%v)", len(seen), total, err)
	}

	// The filter: nlp batches on gpu-02 only, and exited runs only.
	err = chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/"),
		chromedp.SendKeys(`#filter input[name="project"]`, "nlp"),
		chromedp.SendKeys(`#filter input[name="host"]`, "gpu-02"),
		chromedp.SetValue(`#filter select[name="status"]`, "exited"),
		chromedp.Click(chromedp.ID("apply-filter")),
		testenv.JSTrue(`document.getElementById("clear-filter") !== null`, "the filtered page"),
	)
	if err != nil {
		t.Fatalf("filter: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#batches tbody tr")).map(r => r.textContent)`))
	if err != nil || len(rows) != 50 { // 500 / 2 projects / 5 hosts
		t.Fatalf("nlp batches on gpu-02: %d rows (%v), want 50", len(rows), err)
	}
	for _, r := range rows {
		if !strings.Contains(r, "nlp") || !strings.Contains(r, "gpu-02") {
			t.Fatalf("a filtered row is not an nlp batch on gpu-02: %q", r)
		}
	}
	if err := chromedp.Do(ctx, testenv.TextHas("#home-runs", "No runs match this filter")); err != nil {
		t.Fatalf("runs under a filter that matches none: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/?status=exited"),
		testenv.TextHas("#run-"+failed.RunID+" .status.verdict-failed", "failed: exit 1"),
	)
	if err != nil {
		t.Fatalf("the failed run under status=exited: %v", err)
	}
	if text, err := chromedp.Run(ctx, chromedp.Text("#home-runs")); err != nil || strings.Contains(text, running.RunID) {
		t.Fatalf("status=exited lists the running run (%v):\n%s", err, text)
	}

	// A running run that ends: the page shows it without a reload, where
	// the reader had scrolled to, in the reader's zone.
	err = chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/"),
		testenv.TextHas("#run-"+running.RunID+" .status", "running"),
		testenv.JSTrue(`document.querySelector("#home-runs time").textContent.endsWith("GMT+9")`, "a time in the browser's zone (Asia/Tokyo)"),
		chromedp.Evaluate[chromedp.Void](`window.argusMark = "no reload"; window.scrollTo(0, 700)`),
	)
	if err != nil {
		t.Fatalf("home with a running run: %v", err)
	}
	h.ended(agentID, agentTok, running, 0, "")
	err = chromedp.Do(ctx,
		testenv.TextHas("#run-"+running.RunID+" .status", "exited 0"),
		// Where it was, give or take a row: the browser's scroll anchoring
		// moves scrollY when a part above the reader's place changes
		// height (the harness's agent, never heartbeating, shows offline
		// with a note once the test has run 30 s, as under load it does).
		testenv.JSTrue(`window.argusMark === "no reload" && Math.abs(window.scrollY - 700) < 150`, "the same page, scrolled where it was"),
	)
	if err != nil {
		t.Fatalf("the run's end without a reload: %v", err)
	}
	testenv.SaveShot(t, ctx, "home-500.png")
	assertLabelled(t, ctx, "home")
}

// assertLabelled fails unless every control of the browser's page has a
// name a screen reader can say.
func assertLabelled(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	if bad, err := testenv.Unlabelled(ctx); err != nil || len(bad) > 0 {
		t.Fatalf("controls without a label on the %s page (%v): %q", page, err, bad)
	}
}

// TestABatchPageKeepsAHalfTypedStopReason: while the reader types a
// reason into a Stop form, refreshes leave that part of the page alone;
// the rest of the page goes on refreshing.
func TestABatchPageKeepsAHalfTypedStopReason(t *testing.T) {
	t.Parallel()
	ctx, h, alice, agentID, agentTok, batchID := browserOnABatch(t)
	run := h.started(alice, batchID, agentID, agentTok, 77)
	refreshes := func(n int) string {
		return `Number(document.body.dataset.refreshes || 0) >= ` + strconv.Itoa(n)
	}
	err := chromedp.Do(ctx,
		signIn(h, alice),
		chromedp.Navigate(h.url+"/ui/batches/"+batchID),
		chromedp.SendKeys(`#run-`+run.RunID+` input[name="reason"]`, "GPU needed for"),
		// Away from the field: what keeps it now is the text typed, not
		// the focus.
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`),
		testenv.JSTrue(refreshes(2), "two refreshes of the page"),
	)
	if err != nil {
		t.Fatalf("type a reason and wait: %v", err)
	}
	typed, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#run-`+run.RunID+` input[name=reason]").value`))
	if err != nil || typed != "GPU needed for" {
		t.Fatalf("the half-typed reason after two refreshes = %q (%v)", typed, err)
	}
	testenv.SaveShot(t, ctx, "batch-typing.png")
	assertLabelled(t, ctx, "batch")

	// The keyboard alone reruns: focus Rerun and press Enter.
	err = chromedp.Do(ctx,
		chromedp.Focus("#rerun"),
		chromedp.KeyEvent("\r"),
		testenv.TextHas("#flash", "rerun queued as run_"),
	)
	if err != nil {
		t.Fatalf("Rerun from the keyboard: %v", err)
	}
}

// jsArray is a JavaScript array literal of strings.
func jsArray(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}
