package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// agentConn is an agent's HTTP client with one connection at most, that
// says whether each request went out on a connection used before.
type agentConn struct {
	h     *harness
	c     *http.Client
	agent string
	tok   string
}

type parkedAnswer struct {
	code   int
	jobs   api.JobList
	header http.Header
	reused bool
	err    error
}

func (a agentConn) poll(ctx context.Context, wait string) parkedAnswer {
	var got parkedAnswer
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { got.reused = i.Reused }})
	req, err := http.NewRequestWithContext(ctx, "GET", a.h.url+"/api/agents/"+a.agent+"/jobs?wait="+wait, nil)
	if err != nil {
		return parkedAnswer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+a.tok)
	resp, err := a.c.Do(req)
	if err != nil {
		return parkedAnswer{err: err}
	}
	defer resp.Body.Close()
	got.code, got.header = resp.StatusCode, resp.Header
	got.err = json.NewDecoder(resp.Body).Decode(&got.jobs)
	return got
}

func (a agentConn) pollAsync(ctx context.Context, wait string) <-chan parkedAnswer {
	out := make(chan parkedAnswer, 1)
	go func() { out <- a.poll(ctx, wait) }()
	return out
}

var heldGauge = regexp.MustCompile(`(?m)^argus_jobs_polls_held (\d+)$`)

func (h *harness) pollsHeld() int {
	h.t.Helper()
	m := heldGauge.FindStringSubmatch(string(h.expect(200, "GET", "/metrics", "", nil).body))
	if m == nil {
		h.t.Fatal("no argus_jobs_polls_held in /metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// A held poll leaves net/http (park.go): woken by a rerun it answers on
// the agent's connection, which then serves the agent's next request; an
// agent that hangs up frees its parked poll at once.
func TestAParkedPollAnswersOnItsConnectionWhichServesTheNextRequest(t *testing.T) {
	t.Parallel()
	h, w := newWatchedHarness(t, server.Config{})
	alice, batchID, agentID, agentTok := h.aliceOnline()
	a := agentConn{h: h, c: &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}, agent: agentID, tok: agentTok}

	held := a.pollAsync(context.Background(), "30s")
	awaitParked(t, w)
	h.awaitPollsHeld(1)
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+batchID+"/rerun", alice, nil).json(t, &q)
	var got parkedAnswer
	select {
	case got = <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("the parked poll was not woken by the rerun")
	}
	if got.err != nil || got.code != 200 || len(got.jobs.Commands) != 1 || got.jobs.Commands[0].ID != q.CmdID {
		t.Fatalf("woken parked poll answered %d %+v (%v), want the rerun's command %s", got.code, got.jobs, got.err, q.CmdID)
	}
	if v := got.header.Get(api.HeaderHeartbeat); v != api.HeartbeatHeldPoll {
		t.Fatalf("parked poll's answer has %s %q", api.HeaderHeartbeat, v)
	}
	next := a.poll(context.Background(), "1ms")
	if next.err != nil || next.code != 200 || !next.reused {
		t.Fatalf("the poll after a parked answer: %d, reused connection %v, %v; want 200 on the same connection", next.code, next.reused, next.err)
	}

	for len(w.parked) > 0 { // the parked poll before, woken already
		<-w.parked
	}
	ctx, hangUp := context.WithCancel(context.Background())
	gone := a.pollAsync(ctx, "30s")
	awaitParked(t, w)
	h.awaitPollsHeld(1)
	hangUp()
	<-gone
	h.awaitPollsHeld(0)
}

// awaitPollsHeld polls /metrics until argus_jobs_polls_held is n, for at
// most 5 s.
func (h *harness) awaitPollsHeld(n int) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for got := h.pollsHeld(); got != n; got = h.pollsHeld() {
		if time.Now().After(deadline) {
			h.t.Fatalf("argus_jobs_polls_held = %d after 5s, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
