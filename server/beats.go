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
type heartbeats struct {
	store store.Store
	log   zerolog.Logger
	fresh time.Duration // buffer only while the stored time is younger than this
	every time.Duration // flush interval; <= 0 writes every heartbeat through

	mu      sync.Mutex
	stored  map[string]time.Time // agent id → last time this replica wrote
	pending map[string]time.Time // agent id → newest heartbeat not yet written
}

func newHeartbeats(st store.Store, log zerolog.Logger, fresh, every time.Duration) *heartbeats {
	return &heartbeats{
		store: st, log: log, fresh: fresh, every: every,
		stored: make(map[string]time.Time), pending: make(map[string]time.Time),
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
	if err := h.store.Heartbeat(ctx, agentID, at); err != nil {
		return err
	}
	h.mu.Lock()
	h.stored[agentID] = at
	h.mu.Unlock()
	return nil
}

// forget drops what this replica remembers of an agent that said goodbye:
// a heartbeat still buffered for it was sent before the goodbye, and the
// next one (the agent restarted) must be written through at once, or the
// agent would look offline until the next flush.
func (h *heartbeats) forget(agentID string) {
	h.mu.Lock()
	delete(h.stored, agentID)
	delete(h.pending, agentID)
	h.mu.Unlock()
}

// flush writes every remembered heartbeat in one transaction. On failure
// the batch is kept for the next flush, unless a newer heartbeat came.
func (h *heartbeats) flush(ctx context.Context) error {
	h.mu.Lock()
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
// shutdown loses nothing.
func (h *heartbeats) run(ctx context.Context) {
	if h.every <= 0 {
		return
	}
	tick := time.NewTicker(h.every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := h.flush(ctx); err != nil {
				h.log.Warn().Err(err).Msg("heartbeat flush failed; retrying next interval")
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := h.flush(fctx); err != nil {
				h.log.Warn().Err(err).Msg("final heartbeat flush failed")
			}
			return
		}
	}
}
