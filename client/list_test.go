package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

// TestListOptionsReachTheServer: paging and filters go out as the query the
// API documents, nothing when unset, and next_cursor comes back.
func TestListOptionsReachTheServer(t *testing.T) {
	t.Parallel()
	got := make(chan url.Values, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query()
		switch r.URL.Path {
		case "/api/runs":
			writeJSON(w, http.StatusOK, api.RunList{Runs: []api.Run{}, NextCursor: "next-runs"})
		case "/api/batches":
			writeJSON(w, http.StatusOK, api.BatchList{Batches: []api.Batch{}, NextCursor: "next-batches"})
		default:
			writeJSON(w, http.StatusOK, api.AgentList{Agents: []api.Agent{}})
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	ctx := context.Background()

	runs, err := c.Runs(ctx, RunsOptions{ListOptions: ListOptions{Limit: 5, Cursor: "abc"},
		Status: api.RunRunning, Batch: "bat_1", Project: "vision", Agent: "agt_1"})
	if err != nil || runs.NextCursor != "next-runs" {
		t.Fatalf("Runs: %+v %v", runs, err)
	}
	want := url.Values{"limit": {"5"}, "cursor": {"abc"}, "status": {"running"}, "batch": {"bat_1"}, "project": {"vision"}, "agent": {"agt_1"}}
	if q := <-got; q.Encode() != want.Encode() {
		t.Errorf("Runs query %v, want %v", q, want)
	}

	batches, err := c.Batches(ctx, ListOptions{})
	if err != nil || batches.NextCursor != "next-batches" {
		t.Fatalf("Batches: %+v %v", batches, err)
	}
	if q := <-got; len(q) != 0 {
		t.Errorf("Batches with zero options sent %v, want no query", q)
	}
	agents, err := c.Agents(ctx, ListOptions{Limit: 1000})
	if err != nil || agents.NextCursor != "" {
		t.Fatalf("Agents: %+v %v", agents, err)
	}
	if q := <-got; q.Encode() != "limit=1000" {
		t.Errorf("Agents query %v, want limit=1000", q)
	}
}
