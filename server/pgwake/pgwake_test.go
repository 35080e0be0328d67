package pgwake

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store/postgres/pgtest"
)

// open starts a Waker on its own channel, so parallel tests (and other
// packages' replicas) do not wake each other.
func openWaker(t *testing.T, channel string) *Waker {
	t.Helper()
	pgtest.Schema(t) // fails under CI, or skips, when PostgreSQL is missing
	w, err := Open(t.Context(), pgtest.BaseDSN(), Config{Channel: channel, MinBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return w
}

func channel(t *testing.T) string {
	return "argus_test_" + strings.ToLower(strings.NewReplacer("/", "_").Replace(t.Name()))
}

// within fails unless ch receives before d has passed since start.
func within(t *testing.T, ch <-chan struct{}, start time.Time, d time.Duration, what string) time.Duration {
	t.Helper()
	select {
	case <-ch:
		took := time.Since(start)
		if took > d {
			t.Fatalf("%s: woken after %v, want within %v", what, took, d)
		}
		return took
	case <-time.After(time.Until(start.Add(d))):
		t.Fatalf("%s: not woken within %v", what, d)
	}
	return 0
}

// wakeWithin bounds a cross-replica wake-up only so that a lost one fails
// rather than hangs: nothing but the notification wakes these
// subscribers, so how soon is not what is tested. It was 250 ms, and a
// loaded machine (two test suites beside each other, load average 10)
// missed it. The milliseconds themselves are logged here and measured by
// argus-bench fleet --replicas.
const wakeWithin = 5 * time.Second

func TestNotifyWakesOtherReplica(t *testing.T) {
	t.Parallel()
	ch := channel(t)
	a, b := openWaker(t, ch), openWaker(t, ch)
	woken, cancel, err := a.Subscribe(t.Context(), "ag-1")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	other, cancelOther, err := a.Subscribe(t.Context(), "ag-2")
	if err != nil {
		t.Fatal(err)
	}
	defer cancelOther()

	start := time.Now()
	if err := b.Notify(t.Context(), "ag-1"); err != nil {
		t.Fatal(err)
	}
	took := within(t, woken, start, wakeWithin, "subscriber on A after Notify on B")
	t.Logf("cross-replica wake latency: %v", took)
	select {
	case <-other:
		t.Error("a subscriber of another agent was woken")
	default:
	}
}

// TestNotifyWakesThisReplicaWithoutTheRoundTrip: this replica's own
// subscriber is woken by Notify itself, not by the notification coming
// back through the listener: with a cancelled context pg_notify cannot
// run, and the subscriber is woken all the same.
func TestNotifyWakesThisReplicaWithoutTheRoundTrip(t *testing.T) {
	t.Parallel()
	a := openWaker(t, channel(t))
	woken, cancel, err := a.Subscribe(t.Context(), "ag-1")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	gone, stop := context.WithCancel(t.Context())
	stop()
	if err := a.Notify(gone, "ag-1"); err == nil {
		t.Fatal("Notify with a cancelled context reached PostgreSQL")
	}
	select {
	case <-woken:
	default:
		t.Fatal("this replica's subscriber was not woken by Notify itself")
	}
}

// TestListenerLoss kills the listener's backend: Subscribe must fail until
// the listener is back, a poll held across the loss must be woken once on
// reconnect, and notifications must work again afterwards.
func TestListenerLoss(t *testing.T) {
	t.Parallel()
	ch := channel(t)
	a, b := openWaker(t, ch), openWaker(t, ch)
	held, cancelHeld, err := a.Subscribe(t.Context(), "ag-held")
	if err != nil {
		t.Fatal(err)
	}
	defer cancelHeld()

	pgtest.Exec(t, `SELECT pg_terminate_backend($1)`, int64(a.ListenerPID()))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, cancel, err := a.Subscribe(t.Context(), "ag-1")
		if errors.Is(err, ErrListenerDown) {
			break
		}
		if err == nil {
			cancel()
		}
		if time.Now().After(deadline) {
			t.Fatal("Subscribe kept succeeding after the listener was killed")
		}
		time.Sleep(time.Millisecond) // poll interval, bounded by the deadline
	}
	select {
	case <-held:
		t.Fatal("held subscriber woken before the listener came back")
	default:
	}

	deadline = time.Now().Add(10 * time.Second)
	var woken <-chan struct{}
	for {
		var cancel func()
		woken, cancel, err = a.Subscribe(t.Context(), "ag-1")
		if err == nil {
			defer cancel()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener never came back: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
	select {
	case <-held: // woken by the reconnect, before Subscribe worked again
	default:
		t.Fatal("held subscriber not woken on reconnect")
	}

	start := time.Now()
	if err := b.Notify(t.Context(), "ag-1"); err != nil {
		t.Fatal(err)
	}
	within(t, woken, start, wakeWithin, "subscriber on A after reconnect")
}

func TestOpenErrorHidesPassword(t *testing.T) {
	_, err := Open(t.Context(), "postgres://u:s3cretpw@127.0.0.1:1/test", Config{})
	if err == nil || strings.Contains(err.Error(), "s3cretpw") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Open error %v: want one line without the password", err)
	}
}
