package server_test

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/argus-exec/argus/internal/testenv"
)

// TestUILivePagesAnswerAnUnchangedPageWith304: the pages live.js re-reads
// carry an ETag of their content; a re-read that finds the page as it was
// is a 304 with no body (and the UI's headers), a change is a 200 with a
// new tag, and one reader's tag never matches another reader's page.
func TestUILivePagesAnswerAnUnchangedPageWith304(t *testing.T) {
	t.Parallel()
	h, _, alice, bob, batchID, agentID, agentTok := sharedWithBob(t)
	first := h.started(alice, batchID, agentID, agentTok, 101)
	h.ended(agentID, agentTok, first, 0, "")
	ca, cb := h.login(alice), h.login(bob)

	// The batch page of ended runs: nothing on it changes with the clock.
	// (The home and host pages say "3s ago"; the run page is run.js's.)
	path := "/ui/batches/" + batchID
	r := h.ui(uiReq{method: "GET", path: path, cookie: ca})
	tag := r.header.Get("ETag")
	if r.code != http.StatusOK || len(tag) < 10 || tag[0] != '"' {
		t.Fatalf("GET %s: %d, ETag %q; want 200 with a strong ETag", path, r.code, tag)
	}
	again := h.ui(uiReq{method: "GET", path: path, cookie: ca, headers: map[string]string{"If-None-Match": tag}})
	if again.code != http.StatusNotModified || again.body != "" || again.header.Get("ETag") != tag {
		t.Fatalf("GET %s again with its tag: %d, %d bytes, ETag %q; want 304, none, the same tag", path, again.code, len(again.body), again.header.Get("ETag"))
	}
	if again.header.Get("Cache-Control") != "no-store" || again.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET %s, 304: the UI's headers are missing: %v", path, again.header)
	}
	other := h.ui(uiReq{method: "GET", path: path, cookie: cb, headers: map[string]string{"If-None-Match": tag}})
	if other.code != http.StatusOK || other.header.Get("ETag") == tag {
		t.Fatalf("GET %s as bob with alice's tag: %d, ETag %q; want bob's own page", path, other.code, other.header.Get("ETag"))
	}
	stale := h.ui(uiReq{method: "GET", path: path, cookie: ca, headers: map[string]string{"If-None-Match": `"not-this-page"`}})
	if stale.code != http.StatusOK || stale.body != r.body {
		t.Fatalf("GET %s with another tag: %d; want 200 and the page", path, stale.code)
	}

	// A new run changes the batch page: the old tag no longer matches.
	second := h.started(bob, batchID, agentID, agentTok, 102)
	r = h.ui(uiReq{method: "GET", path: path, cookie: ca, headers: map[string]string{"If-None-Match": tag}})
	if r.code != http.StatusOK || r.header.Get("ETag") == tag {
		t.Fatalf("GET %s after a new run with the old tag: %d, ETag %q; want 200 with a new tag", path, r.code, r.header.Get("ETag"))
	}
	mustContain(t, r.body, second.RunID)
}

// TestAnIdlePageIsReReadAs304sAndStillShowsAChange: in Chromium, live.js
// re-reads an unchanged batch page as 304s (no page sent), and a run
// queued meanwhile still appears in place, without a reload.
func TestAnIdlePageIsReReadAs304sAndStillShowsAChange(t *testing.T) {
	t.Parallel()
	ctx, h, alice, agentID, agentTok, batchID := browserOnABatch(t)
	done := h.started(alice, batchID, agentID, agentTok, 77)
	h.ended(agentID, agentTok, done, 0, "")
	// The page's own re-reads the server answered 304.
	notModified := `performance.getEntriesByType("resource").filter(e => e.initiatorType === "fetch" && e.responseStatus === 304).length`
	err := chromedp.Do(ctx,
		signIn(h, alice),
		chromedp.Navigate(h.url+"/ui/batches/"+batchID),
		testenv.JSTrue(`(window.argusMark = "no reload") === "no reload"`, "mark the page"),
		testenv.JSTrue(notModified+" >= 2", "two re-reads answered 304"),
	)
	if err != nil {
		t.Fatalf("an idle batch page: %v", err)
	}
	next := h.started(alice, batchID, agentID, agentTok, 78)
	err = chromedp.Do(ctx,
		testenv.TextHas("#run-"+next.RunID+" .status", "running"),
		testenv.JSTrue(`window.argusMark === "no reload"`, "the same page, not reloaded"),
	)
	if err != nil {
		t.Fatalf("a run queued while the page idles: %v", err)
	}
}
