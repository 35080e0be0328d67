// Package proc is the agent's control of a run's processes on each
// platform: starting a run so that it can later be stopped as a whole,
// telling a run's leader from a later process that got the same PID, and
// stopping a run. It knows runs by their run ID, their leader's PID and
// process group, and the leader's start time; it knows nothing of the
// server, commands, acks or the journal, which are package agent's.
//
// Starting a run (Start) guarantees:
//
//   - Unix: the run leads a new session, and so a new process group whose
//     id is its PID: it outlives the agent, no terminal signal reaches
//     it, and its whole tree can be signalled at once.
//   - Windows: the run leads a new process group on a windowless console
//     of its own, and is put in a job object of its own named after the
//     run (Local\argus-run-<id>), which holds exactly the run's processes.
//     A run that cannot be put in its job is killed and Start fails. If
//     the agent itself is in a job that allows it, the run breaks away.
//   - Everywhere: every process of the run carries EnvRunID=<run id> in
//     its environment (the caller puts it in Command.Env), so processes
//     that left the group can still be found.
//
// Identity. A PID alone may name another process by the time a stop or a
// restarted agent looks at it. Process.StartTime is the leader's start
// time (Linux: clock ticks since boot from /proc; macOS: microseconds
// since the epoch from sysctl; Windows: the creation FILETIME), and a
// recorded PID is only signalled while the process holding it has the
// recorded start time, or while it is still the caller's unreaped child
// (Ref.Child), whose PID the kernel cannot hand out again. (The agent's
// runs are children of their supervisors, package supervise, never of the
// agent: it relies on start times.) On Windows the run's job, found by
// its name, needs no PID at all.
//
// Stopping (Stop): SIGTERM to the run's process group, up to the grace
// period for it to end, then SIGKILL to the group, then a sweep that
// SIGKILLs processes outside the group still tagged with the run's ID. On
// Windows: CTRL_BREAK to the run's process group (sent by a helper
// process, the agent's own executable, attached to the run's console),
// the grace period, then the run's job object is terminated; the job is
// the sweep. A leader whose identity cannot be verified is never
// signalled: then only tagged processes are.
//
// What each OS cannot do:
//
//   - Linux needs /proc for start times, group scans and tags; zombies
//     are skipped, so a dead grandchild that PID 1 never reaps (some
//     containers) does not hold up a stop.
//   - macOS shows a process's environment only to its own user (or
//     root): a tagged process of another user is not swept.
//   - Other Unixes (the BSDs) have no start time or tag lookup here: only
//     a caller's own unreaped children are signalled, and a run's
//     leader is its supervisor's child, so the agent cannot stop runs
//     there; a re-attached run is watched by PID alone.
//   - Windows has no signals: CTRL_BREAK is the polite request, and a
//     process that ignores it is terminated with its job. A process the
//     run spawned in the microseconds between starting and joining its job
//     is not in the job, and so out of a stop's reach.
//
// The decisions behind the Windows and macOS calls (winproc.go,
// procargs2.go) carry no build tag, so they are unit-tested on Linux too.
package proc

import (
	"context"
	"syscall"
	"time"
)

// EnvRunID is the environment variable that tags every process of a run
// with its run ID: how a run's processes are found once they left its
// process group, or when an agent restarted and no longer knows them.
const EnvRunID = "ARGUS_RUN_ID"

// Process identifies a run's leader: its PID, its process group (its own
// PID, since Start made it a group leader), and its start time, which
// tells it from a later process given the same PID.
type Process struct {
	PID       int
	Group     int
	StartTime uint64
}

// Running reports whether p is still running. On Linux, macOS and Windows
// that means the same process (start time); on other Unixes merely a live
// PID, which is good enough to watch a run end but never to signal it.
func (p Process) Running() bool { return stillRunning(p.PID, p.StartTime) }

// FindLeader finds a run's processes by their tag and returns the one
// leading the run's process group (on Windows the one created first):
// how a restarted agent learns the leader of a run it was starting when
// it stopped. ok is false when no process of the run is left, or on a
// platform that cannot find tagged processes.
func FindLeader(runID string) (p Process, ok bool) {
	pid := groupLeader(processesOfRun(runID))
	if pid == 0 {
		return Process{}, false
	}
	ticks, _ := startTime(pid)
	return Process{PID: pid, Group: groupOf(pid), StartTime: ticks}, true
}

// Identify is pid's identity as the system has it now, for a process the
// caller knows to be the one it means (its own unreaped child, say): what
// a later Running compares against. StartTime is 0 when it cannot be read.
func Identify(pid int) Process {
	ticks, _ := startTime(pid)
	return Process{PID: pid, Group: groupOf(pid), StartTime: ticks}
}

// Ref is what the agent knows of a run it is asked to stop.
type Ref struct {
	RunID  string
	Leader Process // as recorded when the run started
	// Child: the leader is still the agent's own unreaped child, so its
	// PID cannot have been handed to another process.
	Child bool
}

// Outcome is how a stop ended.
type Outcome int

// The zero Outcome is a stop that did not finish (its context ended).
const (
	// Gone: nothing of the run was left to signal (or nothing the agent
	// could prove was the run).
	Gone Outcome = iota + 1
	// Terminated: the run ended within the grace period.
	Terminated
	// Killed: the run was killed, or stragglers were.
	Killed
)

const (
	// stopPoll is how often a stop checks whether the run is gone: small
	// against the grace period, so the stop ends close to the run.
	stopPoll = 10 * time.Millisecond
	// killWait bounds the wait for a killed run to disappear.
	killWait = 5 * time.Second
)

// Stop ends a run (see the package comment for what that means on each
// platform) and reports how. beforeKill, if not nil, is called just before
// the run is killed, so that the caller can record that it was. If ctx
// ends during the grace period, Stop returns ctx's error having sent only
// the polite request; doing the stop again later is safe.
func Stop(ctx context.Context, ref Ref, grace time.Duration, beforeKill func()) (Outcome, error) {
	t, err := runTarget(ref)
	if err != nil || t == nil {
		return Gone, err
	}
	outcome, err := t.end(ctx, grace, beforeKill)
	if err != nil {
		return 0, err
	}
	return sweep(ref.RunID, outcome), nil
}

// EndLeftovers ends what is left of a run whose leader has just ended and
// been reaped by the caller, its parent (so its group id cannot have been
// handed to anyone else while the group has members): processes still in
// its group, and processes that left it still tagged with the run's id
// (on Windows, its job), all with a stop's steps: SIGTERM, up to grace for
// them to go, SIGKILL. It says how many processes were left, 0 when none
// was and nothing was signalled, and how they ended.
func EndLeftovers(ctx context.Context, leader Process, runID string, grace time.Duration) (left int, outcome Outcome, err error) {
	if left = leftInRun(leader, runID); left == 0 {
		return 0, Gone, nil
	}
	outcome, err = leftoverTarget(leader, runID).end(ctx, grace, nil)
	return left, outcome, err
}

// target is how a stop reaches a run's processes; runTarget, per
// platform, decides what it may signal.
type target struct {
	signal func(syscall.Signal) // sigTERM or sigKILL
	alive  func() bool
}

// end is a stop's escalation on t: SIGTERM, up to grace for it to be
// gone, then (beforeKill first, if set) SIGKILL. If ctx ends during the
// grace period it returns ctx's error, having sent only the SIGTERM.
func (t *target) end(ctx context.Context, grace time.Duration, beforeKill func()) (Outcome, error) {
	t.signal(sigTERM)
	if waitGone(ctx, t.alive, grace) {
		return Terminated, nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if beforeKill != nil {
		beforeKill()
	}
	t.signal(sigKILL)
	waitGone(ctx, t.alive, killWait)
	return Killed, nil
}

// sweep kills what is left of the run outside what the target reached
// (its process group; on Windows its job); the outcome becomes Killed if
// anything was.
func sweep(runID string, outcome Outcome) Outcome {
	if killStragglers(runID) {
		outcome = Killed
	}
	return outcome
}

// waitGone polls alive until it is false (true) or the time is up.
func waitGone(ctx context.Context, alive func() bool, within time.Duration) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	for alive() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return !alive()
		case <-tick.C:
		}
	}
	return true
}
