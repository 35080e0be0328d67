package api

import "testing"

func TestOutcome(t *testing.T) {
	code := func(n int) *int { return &n }
	for _, c := range []struct {
		run     Run
		words   string
		verdict Verdict
	}{
		{Run{Status: RunQueued}, "queued", VerdictActive},
		{Run{Status: RunRunning}, "running", VerdictActive},
		{Run{Status: RunStopping, StoppedBy: "bob"}, "stopping", VerdictActive},
		{Run{Status: RunExited, ExitCode: code(0)}, "exited 0", VerdictOK},
		{Run{Status: RunExited, ExitCode: code(3)}, "failed: exit 3", VerdictFailed},
		{Run{Status: RunExited, ExitCode: code(-1)}, "failed: exit -1", VerdictFailed},
		{Run{Status: RunExited, Signal: "SIGKILL"}, "failed: killed by SIGKILL", VerdictFailed},
		{Run{Status: RunExited, ExitUnknown: true}, "ended, exit unknown", VerdictUnknown},
		{Run{Status: RunFailed, Error: "exec: not found"}, "failed to start", VerdictFailed},
		{Run{Status: RunStopped, Signal: "SIGTERM", StoppedBy: "bob"}, "stopped", VerdictStopped},
		{Run{Status: RunStopped, ExitCode: code(1)}, "stopped", VerdictStopped},
		{Run{Status: RunStopped, Signal: "SIGKILL", StopReason: StopReasonTimeout}, "failed: timed out", VerdictFailed},
		{Run{Status: RunCancelled}, "cancelled", VerdictFailed},
		{Run{Status: RunExpired}, "expired", VerdictFailed},
		{Run{Status: "paused"}, "paused", VerdictUnknown},
	} {
		words, verdict := c.run.Outcome()
		if words != c.words || verdict != c.verdict {
			t.Errorf("%+v: %q %s, want %q %s", c.run, words, verdict, c.words, c.verdict)
		}
	}
}
