package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// EnvDir names the variable every process an Env starts carries, set to
// the Env's Dir. Processes that descend from those and keep their
// environment carry it too, and that is how an Env's cleanup tells, among
// the processes of all the tests running at once, which ones outlived
// this test: the agent's supervisor above all, which gets the agent's
// environment minus its ARGUS_ variables (so this name must not begin
// with ARGUS_) and deliberately outlives the agent while runs go on.
const EnvDir = "TESTENV_DIR"

// leftoverWithin bounds the wait for this test's supervisors to exit once
// its runs are killed. A supervisor whose stdin is closed exits within
// milliseconds of its last run's end (reap, write the status file, exit);
// one still there after this is a bug, and is reported.
const leftoverWithin = 15 * time.Second

// marked is env plus this Env's EnvDir.
func (e *Env) marked(env []string) []string {
	return append(append([]string(nil), env...), EnvDir+"="+e.Dir)
}

// endLeftovers is the last of an Env's cleanups, registered right after
// its TempDir so that it runs after every other (Cleanup is last in,
// first out: the processes the Env started are killed by then) and just
// before the dir is removed. What it ends is what would otherwise write
// into the dir while t.TempDir's RemoveAll empties it, which then fails
// with "directory not empty" (a file created in a directory between
// RemoveAll's listing of it and its rmdir):
//   - the processes of this test's runs, which run in sessions of their
//     own and outlive the agent by design (they hold their output file
//     open), are killed;
//   - this test's supervisors are waited for: with their stdin closed (the
//     agent is gone) they exit by themselves once their runs have ended,
//     after writing each run's status file (logs/<run>.exit). Waiting, not
//     killing, keeps that write whole and ends the last writer into the
//     dir before the removal starts.
//
// Anything else still carrying EnvDir (an agent the test started in some
// other way, a child a CLI left) is killed at once, so a supervisor it
// feeds sees its stdin close. What is still there after leftoverWithin is
// killed and fails the test.
func (e *Env) endLeftovers() {
	var last leftovers
	err := Poll(context.Background(), leftoverWithin, func() error {
		last = findLeftovers(e.Dir)
		last.killAllBut(supervisorRole)
		if last.empty() {
			return nil
		}
		return errors.New(last.String())
	})
	if err == nil {
		return
	}
	e.T.Errorf("testenv: processes of this test still running %v after its end (killing them): %v", leftoverWithin, err)
	// Killed, they still have to be gone before the dir is removed: a
	// SIGKILLed process finishes the system call it is in.
	_ = Poll(context.Background(), leftoverWithin, func() error {
		last = findLeftovers(e.Dir)
		last.killAllBut("")
		if last.empty() {
			return nil
		}
		return errors.New(last.String())
	})
}

// The roles of leftover processes.
const (
	runRole        = "run"        // carries the ARGUS_RUN_ID of one of this test's runs
	supervisorRole = "supervisor" // an agent's supervisor started by this test's agent
	otherRole      = "other"      // anything else carrying this test's EnvDir
)

// leftover is a live process of a test that has ended.
type leftover struct {
	PID  int
	Role string
	Run  string // the run's id, for runRole
}

type leftovers []leftover

func (l leftovers) empty() bool { return len(l) == 0 }

func (l leftovers) String() string {
	var b strings.Builder
	for i, p := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s pid %d", p.Role, p.PID)
		if p.Run != "" {
			fmt.Fprintf(&b, " (%s)", p.Run)
		}
	}
	return b.String()
}

// killAllBut SIGKILLs every process in l but those of role except ("" for
// none). A process gone meanwhile is no error.
func (l leftovers) killAllBut(except string) {
	for _, p := range l {
		if p.Role == except {
			continue
		}
		if proc, err := os.FindProcess(p.PID); err == nil {
			_ = proc.Kill()
			_ = proc.Release()
		}
	}
}
