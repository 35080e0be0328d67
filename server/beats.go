package server

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server/store"
)

// heartbeats writes agents' heartbeats behind, in batches. A heartbeat of
// an agent whose stored heartbeat this replica wrote recently is only
// remembered, and every flush interval all remembered ones go to the store
// in one transaction; any other heartbeat (an agent's first on this
// replica, or one whose stored time is getting old) is written through at
// once. So an agent coming online is visible immediately, an online
// agent's stored time is never more than fresh+flush old, and a fleet's
// heartbeats cost one write transaction per interval, not one each.
//
// A held long-poll is a heartbeat too, for as long as it is held: an agent
// whose polls this replica holds needs no heartbeat requests of its own
// (the agent learns so from the Argus-Heartbeat answer header), which
// leaves it one connection to the server instead of two.
type heartbeats struct {
	store store.Store
	log   zerolog.Logger
	fresh time.Duration // buffer only while the stored time is younger than this
	every time.Duration // flush interval; <= 0 writes every heartbeat through
	// quiet, when set, takes a flush's error and says it was logged
	// already (an unwritable database: storehealth.go).
	quiet func(error) bool

	mu      sync.Mutex
	stored  map[string]time.Time  // agent id → last time this replica wrote
	pending map[string]time.Time  // agent id → newest heartbeat not yet written
	held    map[string]*heldPolls // agent id → its long-polls held here now
	writing bool                  // a write-through is under way
	next    *beatGroup            // write-throughs waiting for it
	now     func() time.Time
}

// heldPolls counts one agent's polls held here. A goodbye drops the
// count: a poll of the restarted agent starts a new one, which the old
// polls' releases must not touch.
type heldPolls struct{ n int }

func newHeartbeats(st store.Store, log zerolog.Logger, now func() time.Time, fresh, every time.Duration) *heartbeats {
	return &heartbeats{
		store: st, log: log, now: now, fresh: fresh, every: every,
		stored: make(map[string]time.Time), pending: make(map[string]time.Time),
		held: make(map[string]*heldPolls),
	}
}

// record takes one heartbeat of an agent already authenticated.
func (h *heartbeats) record(ctx context.Context, agentID string, at time.Time) error {
	if h.every > 0 {
		h.mu.Lock()
		last, ok := h.stored[agentID]
		if ok && at.Sub(last) < h.fresh {
			h.pending[agentID] = at
			h.mu.Unlock()
			return nil
		}
		h.mu.Unlock()
	}
	return h.writeThrough(ctx, agentID, at)
}

// writeThrough writes one heartbeat now. While another write-through is
// under way, those that arrive wait and go together in the next one (one
// transaction, one commit): a fleet reconnecting at once after a server
// restart costs tens of commits a second instead of one per agent. A
// heartbeat written alone reports an unknown agent (404); one written in a
// group is skipped, like a flushed one.
func (h *heartbeats) writeThrough(ctx context.Context, agentID string, at time.Time) error {
	h.mu.Lock()
	if h.writing {
		if h.next == nil {
			h.next = &beatGroup{beats: map[string]time.Time{}, done: make(chan struct{})}
		}
		g := h.next
		g.beats[agentID] = at
		h.mu.Unlock()
		select {
		case <-g.done:
			return g.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.writing = true
	h.mu.Unlock()
	err := h.store.Heartbeat(ctx, agentID, at)
	h.mu.Lock()
	if err == nil {
		h.stored[agentID] = at
	}
	h.writeNextGroup()
	h.mu.Unlock()
	return err
}

// beatGroup is heartbeats waiting to be written through together.
type beatGroup struct {
	beats map[string]time.Time
	done  chan struct{} // closed once written, err set
	err   error
}

// writeNextGroup, under h.mu, ends a write-through: the group that
// gathered meanwhile is written next (on a goroutine of its own, since
// its heartbeats' requests are waiting), or nothing is being written.
func (h *heartbeats) writeNextGroup() {
	g := h.next
	if g == nil {
		h.writing = false
		return
	}
	h.next = nil
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), groupWriteTimeout)
		g.err = h.store.Heartbeats(ctx, g.beats)
		cancel()
		h.mu.Lock()
		if g.err == nil {
			for id, at := range g.beats {
				h.stored[id] = at
			}
		}
		h.writeNextGroup()
		h.mu.Unlock()
		close(g.done)
	}()
}

// groupWriteTimeout bounds a group's write, which no one request owns.
const groupWriteTimeout = 10 * time.Second

// holding records a long-poll of the agent held from now until the
// returned func is called: every flush stamps it alive (heldStamps).
func (h *heartbeats) holding(agentID string) (release func()) {
	h.mu.Lock()
	polls := h.held[agentID]
	if polls == nil {
		polls = &heldPolls{}
		h.held[agentID] = polls
	}
	polls.n++
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if polls.n--; polls.n == 0 && h.held[agentID] == polls {
			delete(h.held, agentID)
		}
	}
}

// isHeld says whether a poll of the agent is held here now.
func (h *heartbeats) isHeld(agentID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[agentID] != nil
}

// stampHeld, under h.mu, adds a heartbeat at now for every agent with a
// poll held here whose stored time is half of fresh old: early enough that
// it never ages out of the online window while its poll is held, rarely
// enough that a held fleet costs a write per agent every fresh/2.
func (h *heartbeats) stampHeld(now time.Time) {
	for id := range h.held {
		if now.Sub(h.stored[id]) >= h.fresh/2 {
			h.pending[id] = now
		}
	}
}

// forget drops what this replica remembers of an agent that said goodbye:
// a heartbeat still buffered for it was sent before the goodbye, and the
// next one (the agent restarted) must be written through at once, or the
// agent would look offline until the next flush.
func (h *heartbeats) forget(agentID string) {
	h.mu.Lock()
	delete(h.stored, agentID)
	delete(h.pending, agentID)
	delete(h.held, agentID) // its poll, if still held, is from before the goodbye
	h.mu.Unlock()
}

// flush writes every remembered heartbeat in one transaction. On failure
// the batch is kept for the next flush, unless a newer heartbeat came.
func (h *heartbeats) flush(ctx context.Context) error {
	h.mu.Lock()
	h.stampHeld(h.now().UTC())
	batch := h.pending
	h.pending = make(map[string]time.Time, len(batch))
	h.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := h.store.Heartbeats(ctx, batch)
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, at := range batch {
		if err == nil {
			h.stored[id] = at
		} else if _, newer := h.pending[id]; !newer {
			h.pending[id] = at
		}
	}
	return err
}

// run flushes every interval until ctx ends, then once more so a clean
// shutdown loses nothing. Writing every heartbeat through still flushes,
// every fresh/4, for the held polls' stamps.
func (h *heartbeats) run(ctx context.Context) {
	every := h.every
	if every <= 0 {
		every = h.fresh / 4
	}
	writeBehind{what: "heartbeat", flush: h.flush, quiet: h.quiet, log: h.log}.run(ctx, every)
}
