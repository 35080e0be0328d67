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

func TestSleepOrEndsAtTheWakeUp(t *testing.T) {
	wake := make(chan struct{})
	close(wake)
	start := time.Now()
	if !SleepOr(context.Background(), time.Hour, wake) {
		t.Fatal("SleepOr woken reported its context ended")
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("SleepOr returned %v after its wake-up", took)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if SleepOr(cancelled, time.Hour, make(chan struct{})) {
		t.Fatal("SleepOr with an ended context reported it was not cut short by it")
	}
}
