//go:build unix

package supervise

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
