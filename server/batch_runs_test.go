package server_test

import (
	"context"
	"html"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// manyRuns is a harness whose alice owns one batch rerun n times (stored
// directly: the paging is under test); runs are newest first.
func manyRuns(t *testing.T, n int) (h *harness, alice, batchID string, runs []string) {
	h = newHarness(t, server.Config{})
	alice = h.user("alice")
	agentID, _ := h.agent(alice, "gpu1", "", false)
	batchID = h.batch(alice, "vision", "gpu1")
	base := time.Now().Add(-time.Hour).UTC()
	for i := range n {
		at := base.Add(time.Duration(i) * time.Millisecond)
		r := store.Run{ID: testID("run", i), BatchID: batchID, AgentID: agentID, CreatedAt: at}
		c := store.Command{ID: testID("cmd", i), Kind: api.KindRerun, CreatedAt: at,
			Payload: api.Command{ID: testID("cmd", i), Kind: api.KindRerun, RunID: r.ID, BatchID: batchID, CreatedAt: at}}
		must(t, h.store.QueueRerun(context.Background(), r, c))
		runs = append(runs, r.ID)
	}
	slices.Reverse(runs)
	return h, alice, batchID, runs
}

// TestBatchRunsPaged: one batch's runs are never read whole. GET
// /api/batches/{id} holds the newest 100 and a runs_next_cursor that
// GET /api/runs?batch= continues from, so every run is reachable once.
func TestBatchRunsPaged(t *testing.T) {
	t.Parallel()
	h, alice, batchID, runs := manyRuns(t, 105)
	var b api.Batch
	h.expect(200, "GET", "/api/batches/"+batchID, alice, nil).json(t, &b)
	var got []string
	for _, r := range b.Runs {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, runs[:100]) || b.RunsNextCursor == "" {
		t.Fatalf("batch detail: %d runs (newest first: %v), runs_next_cursor %q; want the newest 100 and a cursor",
			len(got), slices.Equal(got, runs[:len(got)]), b.RunsNextCursor)
	}
	rest := h.list("/api/runs?batch="+batchID+"&cursor="+b.RunsNextCursor, alice)
	if !slices.Equal(rest.ids, runs[100:]) || rest.next != "" {
		t.Errorf("GET /api/runs from runs_next_cursor: %v next %q, want the oldest 5 and no cursor", rest.ids, rest.next)
	}

	// 100 exactly: all of them and no cursor.
	h, alice, batchID, runs = manyRuns(t, 100)
	b = api.Batch{}
	h.expect(200, "GET", "/api/batches/"+batchID, alice, nil).json(t, &b)
	if len(b.Runs) != len(runs) || b.RunsNextCursor != "" {
		t.Errorf("batch of 100 runs: %d runs, runs_next_cursor %q; want 100 and none", len(b.Runs), b.RunsNextCursor)
	}
}

var (
	runRowID  = regexp.MustCompile(`<tr id="run-(run_[a-z2-7]{20})"`)
	olderRuns = regexp.MustCompile(`id="older-runs" href="([^"]+)"`)
)

// TestBatchPageRunsPaged: the batch page shows a page of runs with an
// "Older runs" link carrying the cursor and page size; walking it reaches
// every run once; a later page links back to the newest and reloads
// itself where it is; bad paging is 400.
func TestBatchPageRunsPaged(t *testing.T) {
	t.Parallel()
	h, alice, batchID, runs := manyRuns(t, 7)
	c := h.login(alice)
	start := "/ui/batches/" + batchID + "?limit=3"
	if got := h.walkHome(c, start, olderRuns, runRowID); !slices.Equal(got, runs) {
		t.Errorf("runs over the batch pages: %q, want %q", got, runs)
	}
	first := h.page(c, start)
	m := olderRuns.FindStringSubmatch(first)
	if m == nil {
		t.Fatal("no Older runs link on a page of 3 of 7")
	}
	next := html.UnescapeString(m[1])
	second := h.page(c, next)
	mustContain(t, second, `id="newest-runs"`)
	if r := refreshMeta.FindStringSubmatch(second); r == nil || html.UnescapeString(r[1]) != next {
		t.Errorf("second page reloads to %v, want itself (%s)", r, next)
	}
	for _, bad := range []string{"?limit=0", "?limit=1001", "?cursor=nope"} {
		if r := h.ui(uiReq{method: "GET", path: "/ui/batches/" + batchID + bad, cookie: c}); r.code != 400 {
			t.Errorf("GET batch page %s: %d, want 400", bad, r.code)
		}
	}
}
