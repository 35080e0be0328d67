package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// fakeClock is a settable clock safe for the server's goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestHeartbeatsAreWrittenBehindButComingOnlineIsImmediate(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	// A flush interval far beyond the test, so only explicit flushes write.
	h := newHarness(t, server.Config{Now: clock.Now, OnlineWindow: 30 * time.Second, HeartbeatFlush: time.Hour})
	alice := h.user("alice")
	agentID, tok := h.agent(alice, "gpu-01", "", true)
	stored := func() time.Time {
		a, err := h.store.Agent(context.Background(), agentID)
		if err != nil {
			t.Fatal(err)
		}
		return a.LastHeartbeat
	}
	// The first heartbeat on this replica was written through: the agent is
	// online at once, and a rerun finds it.
	if got := stored(); !got.Equal(clock.Now()) {
		t.Fatalf("first heartbeat stored as %v, want %v", got, clock.Now())
	}
	first := clock.Now()
	clock.Add(10 * time.Second)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	if got := stored(); !got.Equal(first) {
		t.Fatalf("a heartbeat 10s after a stored one was written through: %v", got)
	}
	if err := h.srv.FlushHeartbeats(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(); !got.Equal(clock.Now()) {
		t.Fatalf("after a flush the stored heartbeat is %v, want %v", got, clock.Now())
	}
	// Once the stored time is older than half the online window, the next
	// heartbeat is written through again, so an online agent never looks
	// stale however rarely flushes run.
	clock.Add(16 * time.Second)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	if got := stored(); !got.Equal(clock.Now()) {
		t.Fatalf("a heartbeat 16s after the stored one was not written through: %v, want %v", got, clock.Now())
	}
}

func TestShutdownFlushesBufferedHeartbeats(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHarness(t, server.Config{Now: clock.Now, HeartbeatFlush: time.Hour})
	alice := h.user("alice")
	agentID, tok := h.agent(alice, "gpu-01", "", true)
	clock.Add(5 * time.Second)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	h.stop()
	a, err := h.store.Agent(context.Background(), agentID)
	if err != nil {
		t.Fatal(err)
	}
	if !a.LastHeartbeat.Equal(clock.Now()) {
		t.Fatalf("after shutdown the stored heartbeat is %v, want the buffered %v", a.LastHeartbeat, clock.Now())
	}
}

// A held poll is the agent's heartbeat for as long as it is held, so an
// agent needs no second connection to stay online; a goodbye ends that
// even while the poll is still held.
func TestAHeldPollKeepsItsAgentOnlineWithoutHeartbeats(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h, w := newWatchedHarness(t, server.Config{Now: clock.Now, OnlineWindow: 30 * time.Second, HeartbeatFlush: time.Hour})
	alice := h.user("alice")
	polling, tok := h.agent(alice, "gpu-01", "", true)
	idle, _ := h.agent(alice, "gpu-02", "", true) // beat once, never polls
	online := func() map[string]bool {
		var list struct{ Agents []api.Agent }
		h.expect(200, "GET", "/api/agents", alice, nil).json(t, &list)
		got := map[string]bool{}
		for _, a := range list.Agents {
			got[a.ID] = a.Online
		}
		return got
	}

	held := h.pollAsync(polling, tok, "1m")
	awaitParked(t, w)
	for range 4 { // 40 s: past the 30 s window, with only the poll held
		clock.Add(10 * time.Second)
		if err := h.srv.FlushHeartbeats(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := online(); !got[polling] || got[idle] {
		t.Fatalf("40s on, online = %v: want the agent holding a poll online (%s) and the idle one not (%s)", got, polling, idle)
	}
	h.expect(204, "POST", "/api/agents/"+polling+"/offline", tok, nil)
	clock.Add(10 * time.Second)
	if err := h.srv.FlushHeartbeats(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := online(); got[polling] {
		t.Fatalf("after its goodbye the agent whose old poll is still held shows online: %v", got)
	}
	if r := h.doNoFatal("GET", "/api/agents/"+polling+"/jobs?wait=1ms", tok); r.header.Get(api.HeaderHeartbeat) != api.HeartbeatHeldPoll {
		t.Fatalf("a poll with wait answered %s: %q, want %q (%+v)", api.HeaderHeartbeat, r.header.Get(api.HeaderHeartbeat), api.HeartbeatHeldPoll, r)
	}
	if got := h.expect(204, "POST", "/api/agents/"+polling+"/heartbeat", tok, nil).header.Get(api.HeaderHeartbeat); got != api.HeartbeatHeldPoll {
		t.Fatalf("a heartbeat answered %s: %q, want %q", api.HeaderHeartbeat, got, api.HeartbeatHeldPoll)
	}
	h.stop()
	if r := <-held; r.code != 200 {
		t.Fatalf("the held poll ended %d %s at shutdown, want 200", r.code, r.err)
	}
}
