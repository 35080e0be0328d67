package api

import "strconv"

// Verdict sorts runs for people: the UI colours a run by it and the CLI
// marks it (and `argus status` picks its exit code from it).
type Verdict string

const (
	VerdictActive  Verdict = "active"  // queued, running or stopping: not over yet
	VerdictOK      Verdict = "ok"      // exited with code 0
	VerdictStopped Verdict = "stopped" // ended because a user asked: neither success nor failure
	VerdictFailed  Verdict = "failed"  // did not do its job: see Outcome's words for how
	VerdictUnknown Verdict = "unknown" // ended, and nobody recorded how (see ExitReport.Unknown)
)

// Outcome says in a few words how the run stands ("exited 0", "failed:
// exit 3", "failed: killed by SIGKILL", "failed to start", "failed: timed
// out", "cancelled", "expired", "stopped", "running", …) and which
// Verdict that is. A non-zero exit, a signal that no stop explains, a
// start failure, a timeout, a cancellation and an expiry are all failures
// and all worded differently; a stop a user asked for is not a failure.
func (r Run) Outcome() (string, Verdict) {
	switch r.Status {
	case RunQueued, RunRunning, RunStopping:
		return string(r.Status), VerdictActive
	case RunFailed:
		return "failed to start", VerdictFailed
	case RunCancelled, RunExpired:
		// Never started: the run did not happen, which whoever waits for
		// its result must see as a failure.
		return string(r.Status), VerdictFailed
	case RunStopped:
		if r.StopReason == StopReasonTimeout {
			return "failed: timed out", VerdictFailed
		}
		return "stopped", VerdictStopped
	case RunExited:
		return exitOutcome(r)
	}
	// A status newer than this code: say it, judge nothing.
	return string(r.Status), VerdictUnknown
}

// exitOutcome judges a run that ended on its own.
func exitOutcome(r Run) (string, Verdict) {
	switch {
	case r.ExitCode != nil && *r.ExitCode == 0:
		return "exited 0", VerdictOK
	case r.ExitCode != nil:
		return "failed: exit " + strconv.Itoa(*r.ExitCode), VerdictFailed
	case r.Signal == EndJobTerminated:
		return "failed: job terminated", VerdictFailed
	case r.Signal == EndCtrlBreak:
		return "failed: ended by CTRL_BREAK", VerdictFailed
	case r.Signal != "":
		return "failed: killed by " + r.Signal, VerdictFailed
	}
	return "ended, exit unknown", VerdictUnknown
}

// How a Windows run was ended, in the place of a signal (Windows has
// none): its job object terminated (a stop's last resort, as SIGKILL is
// elsewhere), or the CTRL_BREAK a stop sends first, ended by its default
// handler.
const (
	EndJobTerminated = "JOB_TERMINATED"
	EndCtrlBreak     = "CTRL_BREAK"
)

// TimeLayout is how the CLI and the UI write a time for people: local to
// the reader (or UTC when asked), always with its zone.
const TimeLayout = "2006-01-02 15:04:05 MST"
