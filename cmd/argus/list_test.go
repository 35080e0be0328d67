package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

// pagedRuns serves n runs (r1 newest) over GET /api/runs in pages, with
// the page's start index as its cursor, and records each query.
func pagedRuns(t *testing.T, n int) (*fakeServer, func() []url.Values) {
	var mu sync.Mutex
	var queries []url.Values
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /api/runs": func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			mu.Lock()
			queries = append(queries, q)
			mu.Unlock()
			limit, start := 100, 0
			if v := q.Get("limit"); v != "" {
				limit, _ = strconv.Atoi(v)
			}
			if v := q.Get("cursor"); v != "" {
				start, _ = strconv.Atoi(v)
			}
			var out api.RunList
			for i := start; i < n && i < start+limit; i++ {
				out.Runs = append(out.Runs, api.Run{ID: "r" + strconv.Itoa(i+1), Status: api.RunQueued})
			}
			if start+limit < n {
				out.NextCursor = strconv.Itoa(start + limit)
			}
			reply(w, http.StatusOK, out)
		},
	})
	return srv, func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(queries)
	}
}

// shownRuns are the run ids in the table's first column.
func shownRuns(out string) []string {
	var ids []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "r") && f[0] != "RUN" {
			ids = append(ids, f[0])
		}
	}
	return ids
}

func TestRunsFirstPageSaysThereIsMore(t *testing.T) {
	srv, queries := pagedRuns(t, 5)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "runs", "--limit", "2")
	if r.Code != 0 || !slices.Equal(shownRuns(r.Stdout), []string{"r1", "r2"}) {
		t.Fatalf("runs --limit 2: %+v", r)
	}
	if !strings.Contains(r.Stderr, "more: repeat with --cursor 2 ") || !strings.Contains(r.Stderr, "--all") {
		t.Errorf("stderr %q does not say how to get the next page", r.Stderr)
	}
	if q := queries(); len(q) != 1 || q[0].Get("limit") != "2" || q[0].Has("cursor") {
		t.Errorf("queries %v, want one with limit=2 and no cursor", q)
	}

	r = runCLI(t, "--url", srv.URL, "runs", "--limit", "2", "--cursor", "4")
	if r.Code != 0 || !slices.Equal(shownRuns(r.Stdout), []string{"r5"}) || r.Stderr != "" {
		t.Errorf("runs --cursor 4 (the last page): %+v", r)
	}
}

func TestRunsAllFollowsEveryPage(t *testing.T) {
	srv, queries := pagedRuns(t, 5)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "runs", "--limit", "2", "--all")
	if r.Code != 0 || !slices.Equal(shownRuns(r.Stdout), []string{"r1", "r2", "r3", "r4", "r5"}) || r.Stderr != "" {
		t.Fatalf("runs --all: %+v", r)
	}
	var cursors []string
	for _, q := range queries() {
		cursors = append(cursors, q.Get("cursor"))
	}
	if !slices.Equal(cursors, []string{"", "2", "4"}) {
		t.Errorf("cursors sent %q, want each next_cursor once", cursors)
	}
}

func TestRunsFiltersAndJSON(t *testing.T) {
	srv, queries := pagedRuns(t, 3)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "runs", "--status", "running", "--batch", "bat_1", "--project", "vision",
		"--agent", "agt_1", "--limit", "2", "--json")
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("runs --json: %+v", r)
	}
	var l api.RunList
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil || len(l.Runs) != 2 || l.NextCursor != "2" {
		t.Errorf("--json output %q (%v): want 2 runs and next_cursor 2", r.Stdout, err)
	}
	q := queries()[0]
	for k, v := range map[string]string{"status": "running", "batch": "bat_1", "project": "vision", "agent": "agt_1", "limit": "2"} {
		if q.Get(k) != v {
			t.Errorf("query %v: %s = %q, want %q", q, k, q.Get(k), v)
		}
	}

	// --all --json is one list with no next_cursor.
	r = runCLI(t, "--url", srv.URL, "runs", "--limit", "1", "--all", "--json")
	l = api.RunList{}
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil || len(l.Runs) != 3 || l.NextCursor != "" ||
		strings.Contains(r.Stdout, "next_cursor") {
		t.Errorf("--all --json output %q (%v): want 3 runs, no next_cursor", r.Stdout, err)
	}
}

func TestBatchesAndAgentsPage(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"GET /api/batches": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("cursor") == "" {
				reply(w, http.StatusOK, api.BatchList{Batches: []api.Batch{{ID: "b2"}}, NextCursor: "c1"})
				return
			}
			reply(w, http.StatusOK, api.BatchList{Batches: []api.Batch{{ID: "b1"}}})
		},
		"GET /api/agents": replyWith(http.StatusOK, api.AgentList{Agents: []api.Agent{{ID: "a2", Hostname: "gpu-02"}}, NextCursor: "c9"}),
	})
	envTok(t)
	if r := runCLI(t, "--url", srv.URL, "batches", "--all"); r.Code != 0 || !strings.Contains(r.Stdout, "b2") ||
		!strings.Contains(r.Stdout, "b1") || r.Stderr != "" {
		t.Errorf("batches --all: %+v", r)
	}
	if r := runCLI(t, "--url", srv.URL, "batches"); r.Code != 0 || strings.Contains(r.Stdout, "b1") ||
		!strings.Contains(r.Stderr, "--cursor c1") {
		t.Errorf("batches: %+v", r)
	}
	if r := runCLI(t, "--url", srv.URL, "agents", "--limit", "1"); r.Code != 0 || !strings.Contains(r.Stdout, "gpu-02") ||
		!strings.Contains(r.Stderr, "--cursor c9") {
		t.Errorf("agents --limit 1: %+v", r)
	}
}
