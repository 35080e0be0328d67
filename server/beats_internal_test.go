package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server/store"
)

// groupStore holds the first single heartbeat write until released and
// records the sizes of the grouped ones.
type groupStore struct {
	store.Store
	entered, release chan struct{}
	mu               sync.Mutex
	singles          int
	groups           []int
}

func (g *groupStore) Heartbeat(context.Context, string, time.Time) error {
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	g.singles++
	g.mu.Unlock()
	return nil
}

func (g *groupStore) Heartbeats(_ context.Context, beats map[string]time.Time) error {
	g.mu.Lock()
	g.groups = append(g.groups, len(beats))
	g.mu.Unlock()
	return nil
}

// Heartbeats that must be written at once while another such write is
// under way go together in the next one: a fleet reconnecting after a
// restart is a few commits, not one per agent.
func TestWriteThroughsDuringAWriteGoTogether(t *testing.T) {
	t.Parallel()
	gs := &groupStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := newHeartbeats(gs, zerolog.Nop(), time.Now, 15*time.Second, time.Second)
	ctx := context.Background()
	now := time.Now()
	first := make(chan error, 1)
	go func() { first <- h.record(ctx, "agt-0", now) }()
	<-gs.entered
	var wg sync.WaitGroup
	errs := make(chan error, 9)
	for i := 1; i <= 9; i++ {
		wg.Go(func() { errs <- h.record(ctx, fmt.Sprintf("agt-%d", i), now) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for waiting := 0; waiting < 9; {
		h.mu.Lock()
		if h.next != nil {
			waiting = len(h.next.beats)
		}
		h.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("%d of 9 heartbeats joined the group behind the write under way", waiting)
		}
		time.Sleep(time.Millisecond)
	}
	close(gs.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if gs.singles != 1 || len(gs.groups) != 1 || gs.groups[0] != 9 {
		t.Fatalf("writes: %d single, groups %v; want 1 single then one group of 9", gs.singles, gs.groups)
	}
	if len(h.stored) != 10 {
		t.Fatalf("%d heartbeats remembered as stored, want 10", len(h.stored))
	}
}
