package ctxsleep

import (
	"context"
	"testing"
	"time"
)

func TestSleepWaitsTheWholeDurationWhileTheContextLasts(t *testing.T) {
	const d = 20 * time.Millisecond
	start := time.Now()
	if !Sleep(context.Background(), d) {
		t.Fatal("Sleep with a live context reported it was cut short")
	}
	if took := time.Since(start); took < d {
		t.Fatalf("Sleep(%v) returned after %v", d, took)
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(cancelled, time.Hour) {
		t.Fatal("Sleep with an ended context reported a whole hour's wait")
	}
	// A context that ends during the pause ends it then, not an hour later.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep past its context's deadline reported a whole hour's wait")
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("Sleep returned %v after its context ended", took)
	}
}
