// Package ctxsleep holds Sleep, the one wait the server, the agent and
// the benchmark driver share: a pause of a fixed length that a context
// cuts short (the agent's backoff between polls, the server's token-cache
// sweeps, the benchmark's pacing).
//
// Not here: waiting for a condition (testenv.Poll and WaitFor, which
// tests use instead of sleeping), backoff and jitter policies (each
// caller's own, e.g. the agent's nextBackoff), and fake clocks.
package ctxsleep

import (
	"context"
	"time"
)

// Sleep waits for d unless ctx ends first, and reports whether it waited
// the whole d (false: ctx ended). A timer, not time.Sleep, so a stopping
// daemon is not held up by its longest pause; it is stopped on return so
// an early return leaves nothing running.
func Sleep(ctx context.Context, d time.Duration) bool {
	return SleepOr(ctx, d, nil)
}

// SleepOr is Sleep that wake also cuts short (a nil wake never does): it
// reports false only when ctx ended. The agent's loops back off with it,
// woken when the server answers again after an outage.
func SleepOr(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}
