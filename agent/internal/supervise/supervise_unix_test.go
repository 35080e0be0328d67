//go:build unix

package supervise

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"golang.org/x/sys/unix"
)

// This test binary is its own supervisor: Start runs os.Executable() with
// EnvSupervise=1, and this package's init turns that process into the
// supervisor before the test framework starts.

// runs numbers the runs of this test binary: each its own run id, as
// the agent's are (what a run leaves behind is found by that id).
var runs atomic.Int64

// command is a run of argv in a fresh directory, logging to run.log there.
func command(t *testing.T, argv ...string) (proc.Command, string) {
	t.Helper()
	dir := t.TempDir()
	// The test process's PID in the id: a run's leftovers are found by
	// their tag machine-wide, and two test processes running these tests
	// at once (two suites side by side) must not end each other's runs.
	runID := "r-" + strconv.Itoa(os.Getpid()) + "-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + strconv.FormatInt(runs.Add(1), 10)
	return proc.Command{
		RunID: runID, Argv: argv, Dir: dir,
		Env:     []string{"PATH=/usr/bin:/bin", proc.EnvRunID + "=" + runID},
		LogPath: filepath.Join(dir, "run.log"),
	}, filepath.Join(dir, "run.exit")
}

func TestExitCodeAndOutputOfARun(t *testing.T) {
	c, statusPath := command(t, "/bin/sh", "-c", "echo hi; exit 3")
	run, err := Start(c, statusPath, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	exit, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if exit.Code == nil || *exit.Code != 3 || exit.Signal != "" || exit.Leader != run.Leader.PID {
		t.Fatalf("exit = %+v (leader %d), want code 3", exit, run.Leader.PID)
	}
	if exit.EndedAt.Before(exit.StartedAt) || exit.StartedAt.IsZero() {
		t.Fatalf("started %v, ended %v", exit.StartedAt, exit.EndedAt)
	}
	if out, _ := os.ReadFile(c.LogPath); string(out) != "hi\n" {
		t.Fatalf("log = %q, want hi", out)
	}
	st, err := os.Stat(statusPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("status file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
}

func TestARunKilledBySIGTERM(t *testing.T) {
	c, statusPath := command(t, "sleep", "30")
	run, err := Start(c, statusPath, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-run.Leader.Group, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exit, err := run.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if exit.Code != nil || exit.Signal != "SIGTERM" {
		t.Fatalf("exit = %+v, want SIGTERM", exit)
	}
}

func TestAFailedStartIsAnError(t *testing.T) {
	c, statusPath := command(t, "no-such-command-argus")
	run, err := Start(c, statusPath, time.Second)
	if err == nil || !strings.Contains(err.Error(), "command not found") {
		t.Fatalf("Start = %v, %v; want command not found", run, err)
	}
	if _, found, _ := ReadExit(statusPath); found {
		t.Fatal("a run that never started has a status file")
	}
}

// The supervisor is in a session and group of its own (no signal to the
// agent's group or terminal reaches it), is the run's parent, and leaves
// the exit for whoever reads it after it is gone.
func TestTheSupervisorIsDetachedAndItsExitOutlivesIt(t *testing.T) {
	c, statusPath := command(t, "/bin/sh", "-c", "while [ ! -f done ]; do sleep 0.02; done; exit 7")
	run, err := Start(c, statusPath, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sup := run.Supervisor
	if !sup.Running() || sup.StartTime == 0 {
		t.Fatalf("supervisor %+v is not identified as running", sup)
	}
	sid, _ := unix.Getsid(sup.PID)
	if mine, _ := unix.Getsid(0); sid != sup.PID || sid == mine {
		t.Fatalf("supervisor %d is in session %d (this test's: %d), want its own", sup.PID, sid, mine)
	}
	if pg, _ := syscall.Getpgid(sup.PID); pg != sup.PID || pg == syscall.Getpgrp() {
		t.Fatalf("supervisor %d is in process group %d, want its own", sup.PID, pg)
	}
	if run.Leader.Group == sup.PID || run.Leader.PID == sup.PID {
		t.Fatalf("run %+v shares the supervisor's group", run.Leader)
	}
	if _, found, _ := ReadExit(statusPath); found {
		t.Fatal("status file before the run ended")
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "done"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(); err != nil {
		t.Fatal(err)
	}
	Drop() // as the agent's end would: the supervisor has no run left
	waitGone(t, sup)
	exit, found, err := ReadExit(statusPath)
	if !found || err != nil || exit.Code == nil || *exit.Code != 7 {
		t.Fatalf("ReadExit after the supervisor ended = %+v, %v, %v; want code 7", exit, found, err)
	}
}

func TestReadExitOfACorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.exit")
	if err := os.WriteFile(path, []byte(`{"pid": 1`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, found, err := ReadExit(path); !found || err == nil {
		t.Fatalf("corrupt file: found %v, err %v; want found with an error", found, err)
	}
	if err := os.WriteFile(path, []byte(`{"pid": 1, "ended_at": "2026-01-01T00:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, found, err := ReadExit(path); !found || err == nil {
		t.Fatalf("file with no code or signal: found %v, err %v; want an error", found, err)
	}
}

// One supervisor serves every run, side by side; a supervisor the agent
// lets go (it stopped, or died) starts nothing more but outlives its last
// run and records its end.
func TestOneSupervisorForAllRunsOutlivesTheAgent(t *testing.T) {
	a, aStatus := command(t, "/bin/sh", "-c", "while [ ! -f done ]; do sleep 0.02; done; exit 4")
	b, bStatus := command(t, "/bin/sh", "-c", "exit 6")
	runA, err := Start(a, aStatus, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	runB, err := Start(b, bStatus, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if runA.Supervisor != runB.Supervisor {
		t.Fatalf("two supervisors %+v and %+v, want one", runA.Supervisor, runB.Supervisor)
	}
	if exit, err := runB.Wait(); err != nil || exit.Code == nil || *exit.Code != 6 {
		t.Fatalf("second run: %+v, %v", exit, err)
	}
	Drop()
	if !runA.Supervisor.Running() {
		t.Fatal("the supervisor ended with a run still going")
	}
	if err := os.WriteFile(filepath.Join(a.Dir, "done"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitGone(t, runA.Supervisor)
	if exit, found, err := ReadExit(aStatus); !found || err != nil || exit.Code == nil || *exit.Code != 4 {
		t.Fatalf("the run that outlived its agent: %+v, %v, %v; want code 4", exit, found, err)
	}
	// The next run gets a new supervisor.
	c, cStatus := command(t, "/bin/sh", "-c", "exit 0")
	runC, err := Start(c, cStatus, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if runC.Supervisor == runA.Supervisor {
		t.Fatal("a run went to a supervisor that was let go")
	}
	if _, err := runC.Wait(); err != nil {
		t.Fatal(err)
	}
}

// A supervisor that died (killed by someone) costs nothing but a new one:
// the next run still starts, once; a run of the dead one that was going
// has no recorded end, and Wait says so.
func TestADeadSupervisorIsReplaced(t *testing.T) {
	a, aStatus := command(t, "sleep", "30")
	runA, err := Start(a, aStatus, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(runA.Supervisor.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := runA.Wait(); err == nil {
		t.Fatal("Wait of a run whose supervisor was killed gave an exit")
	}
	_ = syscall.Kill(-runA.Leader.Group, syscall.SIGKILL)
	c, statusPath := command(t, "/bin/sh", "-c", "echo once >> starts; exit 5")
	run, err := Start(c, statusPath, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	exit, err := run.Wait()
	if err != nil || exit.Code == nil || *exit.Code != 5 {
		t.Fatalf("run after a dead supervisor: %+v, %v", exit, err)
	}
	if data, _ := os.ReadFile(filepath.Join(c.Dir, "starts")); string(data) != "once\n" {
		t.Fatalf("starts = %q, want one", data)
	}
}

// waitGone waits for a supervisor to exit.
func waitGone(t *testing.T, p proc.Process) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Running() {
		if time.Now().After(deadline) {
			t.Fatalf("supervisor %d still running", p.PID)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// BenchmarkStart is a rerun's cost here: from Start to the run's leader
// known, through the running supervisor.
func BenchmarkStart(b *testing.B) {
	dir := b.TempDir()
	Warm()
	for i := 0; b.Loop(); i++ {
		id := "bench-" + strconv.Itoa(i)
		run, err := Start(proc.Command{RunID: id, Argv: []string{"/bin/true"}, Dir: dir,
			Env: []string{proc.EnvRunID + "=" + id}, LogPath: filepath.Join(dir, id+".log")}, filepath.Join(dir, id+".exit"), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := run.Wait(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// TestWhatARunLeavesBehindIsEnded: a run whose main process exits while
// a background job of its own goes on is recorded with what it left, and
// that job is ended: politely (SIGTERM) when it obeys, with SIGKILL after
// the grace period when it does not.
func TestWhatARunLeavesBehindIsEnded(t *testing.T) {
	for _, c := range []struct{ name, script string }{
		{"obeys SIGTERM", "sleep 120 & sleep 0.2; exit 0"},
		{"ignores SIGTERM", "(trap '' TERM; sleep 120) & sleep 0.2; exit 0"},
		{"left the group", "setsid sleep 120 & sleep 0.2; exit 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd, statusPath := command(t, "/bin/sh", "-c", c.script)
			run, err := Start(cmd, statusPath, 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			exit, err := run.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if exit.Code == nil || *exit.Code != 0 || exit.Left < 1 {
				t.Fatalf("exit = %+v; want code 0 and what was left counted", exit)
			}
			if p, ok := proc.FindLeader(cmd.RunID); ok {
				t.Fatalf("process %d of the run outlived its recorded end", p.PID)
			}
		})
	}
}
