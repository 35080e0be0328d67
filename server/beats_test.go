package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
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

func TestHeartbeatsWithinASecondAreCoalesced(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h := newHarness(t, server.Config{Now: clock.Now})
	alice := h.user("alice")
	agentID, tok := h.agent(alice, "gpu-01", "", true)
	first := clock.Now()
	stored := func() time.Time {
		a, err := h.store.Agent(context.Background(), agentID)
		if err != nil {
			t.Fatal(err)
		}
		return a.LastHeartbeat
	}
	clock.Add(900 * time.Millisecond)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	if got := stored(); !got.Equal(first) {
		t.Fatalf("a heartbeat 900ms after the last was written: %v, want %v", got, first)
	}
	clock.Add(200 * time.Millisecond)
	h.expect(204, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	if got := stored(); !got.Equal(clock.Now()) {
		t.Fatalf("a heartbeat 1.1s after the last stored one was not written: %v, want %v", got, clock.Now())
	}
}
