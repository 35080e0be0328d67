package client

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

// TestResourcesRideOnPollsAndHeartbeatsOnly: an agent's report goes with
// its jobs polls and heartbeats, as it is when each is sent, and with no
// other call; an empty report sends no header.
func TestResourcesRideOnPollsAndHeartbeatsOnly(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string // "path header", one per request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		v, sent := r.Header[api.HeaderResources]
		seen = append(seen, fmt.Sprintf("%s %v %q", r.URL.Path, sent, v))
		mu.Unlock()
		switch r.URL.Path {
		case "/api/agents/ag1/jobs":
			writeJSON(w, http.StatusOK, api.JobList{})
		case "/api/agents/ag1/heartbeat":
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusOK, api.Ack{CmdID: "cmd1", State: "running"})
		}
	}))
	defer srv.Close()

	var report atomic.Pointer[string]
	set := func(s string) { report.Store(&s) }
	opts := fastOpts()
	opts.Resources = func() string { return *report.Load() }
	c := newTestClient(t, srv.URL, userToken(t), opts)
	ctx := t.Context()
	steps := []struct {
		report string
		call   func() error
	}{
		{`{"cpus":8}`, func() error { _, err := c.Jobs(ctx, "ag1", 0); return err }},
		{`{"cpus":9}`, func() error { _, err := c.JobsUpTo(ctx, "ag1", 0, 2); return err }},
		{`{"cpus":10}`, func() error { _, err := c.HeartbeatPolls(ctx, "ag1"); return err }},
		{`{"cpus":11}`, func() error { return c.WithToken(userToken(t)).Heartbeat(ctx, "ag1") }},
		{`{"cpus":12}`, func() error { _, err := c.Ack(ctx, "ag1", "cmd1", api.AckRequest{PID: 1}); return err }},
		{`{"cpus":13}`, func() error { _, err := c.StartCommand(ctx, "ag1", "cmd1"); return err }},
		{"", func() error { _, err := c.Jobs(ctx, "ag1", 0); return err }},
		{"", func() error { _, err := c.HeartbeatPolls(ctx, "ag1"); return err }},
	}
	for i, s := range steps {
		set(s.report)
		if err := s.call(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{
		`/api/agents/ag1/jobs true ["{\"cpus\":8}"]`,
		`/api/agents/ag1/jobs true ["{\"cpus\":9}"]`,
		`/api/agents/ag1/heartbeat true ["{\"cpus\":10}"]`,
		`/api/agents/ag1/heartbeat true ["{\"cpus\":11}"]`,
		`/api/agents/ag1/jobs/cmd1/ack false []`,
		`/api/agents/ag1/jobs/cmd1/start false []`,
		`/api/agents/ag1/jobs false []`,
		`/api/agents/ag1/heartbeat false []`,
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("requests and their %s headers:\n got  %q\n want %q", api.HeaderResources, seen, want)
	}
}

// TestNoResourcesWithoutTheOption: a client that is not an agent's, or an
// agent's with reporting off, sends none.
func TestNoResourcesWithoutTheOption(t *testing.T) {
	t.Parallel()
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[api.HeaderResources]; ok {
			sent.Add(1)
		}
		writeJSON(w, http.StatusOK, api.JobList{})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	if _, err := c.Jobs(t.Context(), "ag1", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Heartbeat(t.Context(), "ag1"); err != nil {
		t.Fatal(err)
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("%d requests carried %s", n, api.HeaderResources)
	}
}
