package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/server/api"
)

// The agent's side of the PID-reuse guard: a journaled run whose PID now
// belongs to another process (another start time) is stopped as
// already_gone, and that process is never signalled. (proc's own test
// covers proc.Stop; this one the journal → Ref → ack outcome path.)
func TestStopNeverSignalsAReusedPID(t *testing.T) {
	other := exec.Command("sleep", "60")
	other.Env = append(os.Environ(), proc.EnvRunID+"=run_other")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	var leader proc.Process
	deadline := time.Now().Add(5 * time.Second)
	for leader.PID != other.Process.Pid { // until exec has replaced the forked child's environment
		if time.Now().After(deadline) {
			t.Fatal("the other process is not found by its run ID")
		}
		leader, _ = proc.FindLeader("run_other")
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
	j, err := openJournal(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.create(Record{CmdID: "cmd_r", Kind: api.KindRerun, RunID: "run_old", State: stateRunning,
		PID: leader.PID, PGID: leader.Group, StartTicks: leader.StartTime - 1}); err != nil {
		t.Fatal(err)
	}
	d := &daemon{journal: j, log: zerolog.Nop()}
	outcome, err := d.stopRun(context.Background(), "run_old", time.Second)
	if err != nil || outcome != api.StopAlreadyGone {
		t.Fatalf("stop of a reused PID = %q, %v", outcome, err)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process that reused the PID was signalled: %v", err)
	}
}
