package server

import (
	"context"
	"sync"
	"time"
)

// Waker tells held long-polls that an agent has new commands. Handlers
// Subscribe before they look in the store and Notify after they queue, so
// a command queued between the look and the wait is never missed.
//
// LocalWaker serves one replica. A PostgreSQL engine provides a Waker on
// LISTEN/NOTIFY so a command queued on one replica wakes a poll held by
// another; handlers do not change.
type Waker interface {
	// Subscribe returns a channel that receives after a Notify for the
	// agent, and a func that must be called to stop listening. An error
	// (a lost database listener, say) fails the poll rather than leaving
	// it deaf until its hold ends.
	Subscribe(ctx context.Context, agentID string) (<-chan struct{}, func(), error)
	// Notify wakes every subscriber of the agent.
	Notify(ctx context.Context, agentID string) error
}

// FuncWaker is a Waker that can also call a func instead of signalling a
// channel, so a parked long-poll (park.go) needs no goroutine waiting on
// a channel. wake runs on the notifier's goroutine and must not block.
type FuncWaker interface {
	Waker
	SubscribeFunc(ctx context.Context, agentID string, wake func()) (cancel func(), err error)
}

// LocalWaker is the in-process Waker.
type LocalWaker struct {
	mu   sync.Mutex
	subs map[string]map[*func()]struct{}
}

// NewLocalWaker returns an empty LocalWaker.
func NewLocalWaker() *LocalWaker {
	return &LocalWaker{subs: make(map[string]map[*func()]struct{})}
}

// Subscribe implements Waker.
func (w *LocalWaker) Subscribe(ctx context.Context, agentID string) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1) // buffered: a Notify never blocks
	cancel, err := w.SubscribeFunc(ctx, agentID, func() {
		select {
		case ch <- struct{}{}:
		default: // already signalled
		}
	})
	return ch, cancel, err
}

// SubscribeFunc implements FuncWaker.
func (w *LocalWaker) SubscribeFunc(_ context.Context, agentID string, wake func()) (func(), error) {
	key := &wake
	w.mu.Lock()
	set := w.subs[agentID]
	if set == nil {
		set = make(map[*func()]struct{})
		w.subs[agentID] = set
	}
	set[key] = struct{}{}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(set, key)
		if len(set) == 0 && w.subs[agentID] != nil && len(w.subs[agentID]) == 0 {
			delete(w.subs, agentID)
		}
		w.mu.Unlock()
	}, nil
}

// Notify implements Waker.
func (w *LocalWaker) Notify(_ context.Context, agentID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wake := range w.subs[agentID] {
		(*wake)()
	}
	return nil
}

// holdCheck looks for what a held request waits for: answered when the
// request should be answered now; also, when not nil, one more event to
// wake the hold for (a lease running out).
type holdCheck func() (answered bool, also <-chan time.Time, err error)

// hold runs check, and while it finds nothing, waits (at most wait in
// all) for a Notify under key, check's own event, or the server closing,
// then checks again. It subscribes before each check, so a Notify between
// the check and the wait is never missed. It returns after the first
// check when wait is 0; the caller then answers with what check found
// last. A lost subscription (a database listener down) falls back to
// checking every second rather than failing the request.
func (s *Server) hold(ctx context.Context, key string, wait time.Duration, check holdCheck) error {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		woken, cancel, err := s.waker.Subscribe(ctx, key)
		if err != nil {
			s.log.Debug().Err(err).Msg("held request without wake-ups; re-checking every second")
			woken, cancel = recheckAfter(time.Second)
		}
		answered, also, err := check()
		if err != nil || answered || wait == 0 {
			cancel()
			return err
		}
		select {
		case <-woken:
		case <-also:
		case <-deadline.C:
			cancel()
			return nil
		case <-s.closing:
			cancel()
			return nil
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		}
		cancel()
	}
}
