package ui

import (
	"testing"

	"github.com/argus-exec/argus/server/api"
)

// TestExitReasonSaysWhatTheRunLeftBehind: the run page's exit reason says
// when the agent had to end processes the run's main process left, in the
// CLI's words.
func TestExitReasonSaysWhatTheRunLeftBehind(t *testing.T) {
	zero := 0
	for n, want := range map[int]string{
		0: "exit code 0",
		1: "exit code 0 — left 1 process behind, terminated when the main process ended",
		3: "exit code 0 — left 3 processes behind, terminated when the main process ended",
	} {
		if got := exitReason(api.Run{Status: api.RunExited, ExitCode: &zero, LeftProcesses: n}); got != want {
			t.Errorf("left %d: exit reason %q, want %q", n, got, want)
		}
	}
}
