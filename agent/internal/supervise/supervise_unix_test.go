//go:build unix

package supervise

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"golang.org/x/sys/unix"
)

// This test binary is its own supervisor: Start runs os.Executable() with
// EnvSupervise=1, and this package's init turns that process into the
// supervisor before the test framework starts.

// command is a run of argv in a fresh directory, logging to run.log there.
func command(t *testing.T, argv ...string) (proc.Command, string) {
	t.Helper()
	dir := t.TempDir()
	runID := "r-" + strings.ReplaceAll(t.Name(), "/", "-")
	return proc.Command{
		RunID: runID, Argv: argv, Dir: dir,
		Env:     []string{"PATH=/usr/bin:/bin", proc.EnvRunID + "=" + runID},
		LogPath: filepath.Join(dir, "run.log"),
	}, filepath.Join(dir, "run.exit")
}

func TestExitCodeAndOutputOfARun(t *testing.T) {
	c, statusPath := command(t, "/bin/sh", "-c", "echo hi; exit 3")
	run, err := Start(c, statusPath)
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
	run, err := Start(c, statusPath)
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
	run, err := Start(c, statusPath)
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
	run, err := Start(c, statusPath)
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
	if sup.Running() {
		t.Fatal("supervisor still running after Wait")
	}
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

// A spare that died while it waited (killed by someone) costs nothing but
// a new supervisor: the run still starts, once.
func TestADeadSpareIsReplaced(t *testing.T) {
	Warm()
	s := waitSpare(t)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = s.cmd.Process.Wait() // dead and reaped, still the spare
	c, statusPath := command(t, "/bin/sh", "-c", "echo once >> starts; exit 5")
	run, err := Start(c, statusPath)
	if err != nil {
		t.Fatal(err)
	}
	exit, err := run.Wait()
	if err != nil || exit.Code == nil || *exit.Code != 5 {
		t.Fatalf("run after a dead spare: %+v, %v", exit, err)
	}
	if data, _ := os.ReadFile(filepath.Join(c.Dir, "starts")); string(data) != "once\n" {
		t.Fatalf("starts = %q, want one", data)
	}
}

// waitSpare waits for the spare Warm started and returns it, left in place.
func waitSpare(t testing.TB) *supervisor {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spare.Lock()
		s := spare.s
		spare.Unlock()
		if s != nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare supervisor within 10s")
		}
		time.Sleep(5 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// BenchmarkStart is a rerun's cost here, a warm spare's hand-over
// included: from Start to the run's leader known.
func BenchmarkStart(b *testing.B) {
	dir := b.TempDir()
	Warm()
	for i := 0; b.Loop(); i++ {
		id := "bench-" + strconv.Itoa(i)
		run, err := Start(proc.Command{RunID: id, Argv: []string{"/bin/true"}, Dir: dir,
			Env: []string{proc.EnvRunID + "=" + id}, LogPath: filepath.Join(dir, id+".log")}, filepath.Join(dir, id+".exit"))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := run.Wait(); err != nil {
			b.Fatal(err)
		}
		waitSpare(b) // a rerun's PID, not the next spare's start, is measured
		b.StartTimer()
	}
}
