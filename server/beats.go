package server

import (
	"sync"
	"time"
)

// beatCoalescer remembers when this replica last stored each agent's
// heartbeat, so heartbeats closer together than grain skip the store.
// Every replica keeps its own: the worst case with several replicas is one
// write per replica per grain, still bounded.
type beatCoalescer struct {
	grain time.Duration
	mu    sync.Mutex
	last  map[string]time.Time // agent id → time of the last stored heartbeat
}

func newBeatCoalescer(grain time.Duration) *beatCoalescer {
	return &beatCoalescer{grain: grain, last: make(map[string]time.Time)}
}

// due reports whether a heartbeat at now must be stored, and if so claims
// the slot so concurrent heartbeats of the same agent do not all write.
func (b *beatCoalescer) due(agentID string, now time.Time) bool {
	if b.grain <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if last, ok := b.last[agentID]; ok && now.Sub(last) < b.grain && !now.Before(last) {
		return false
	}
	b.last[agentID] = now
	return true
}

// forget drops the agent's slot after a failed write, so the next
// heartbeat is stored.
func (b *beatCoalescer) forget(agentID string) {
	b.mu.Lock()
	delete(b.last, agentID)
	b.mu.Unlock()
}
