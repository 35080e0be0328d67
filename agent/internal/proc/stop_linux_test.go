//go:build linux

package proc

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A recorded PID that now belongs to another process (other start time)
// is never signalled: the stop answers already_gone and the process lives.
// Linux only: start times are read from /proc.
func TestStopNeverSignalsAReusedPID(t *testing.T) {
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	ticks, err := startTime(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	pid := other.Process.Pid
	ref := Ref{RunID: "run_old", Leader: Process{PID: pid, Group: pid, StartTime: ticks - 1}}
	outcome, err := Stop(context.Background(), ref, time.Second, nil)
	if err != nil || outcome != Gone {
		t.Fatalf("stop of a reused PID = %v, %v", outcome, err)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process that reused the PID was signalled: %v", err)
	}
}
