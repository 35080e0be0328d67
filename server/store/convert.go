package store

import (
	"time"
	"unicode/utf8"

	"github.com/argus-exec/argus/server/api"
)

// API is the run as the API (and the UI) show it.
func (r Run) API() api.Run {
	return api.Run{
		ID: r.ID, BatchID: r.BatchID, AgentID: r.AgentID, Status: r.Status, PID: r.PID,
		ExitCode: r.ExitCode, Signal: r.Signal, ExitUnknown: r.ExitUnknown, LeftProcesses: r.LeftProcesses, Error: r.Error,
		OutputTail: api.ValidText(r.OutputTail), RerunCmdID: r.RerunCmdID, StopCmdID: r.StopCmdID,
		StopOutcome: r.StopOutcome, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		RequestedBy: r.RequestedBy, StoppedBy: r.StoppedBy, StopReason: r.StopReason,
		Timeout: durationText(r.Timeout),
		// The exact bytes only when the text is not them: most output is
		// UTF-8, and lists of runs should not carry it twice.
		OutputTailB64: exactBytes(r.OutputTail),
	}
}

// exactBytes is output as bytes when api.ValidText would change it, else nil.
func exactBytes(output string) []byte {
	if utf8.ValidString(output) {
		return nil
	}
	return []byte(output)
}

// durationText is d as a Go duration, or "" for none.
func durationText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

// API is the batch as the API shows it, with its owner's name.
func (b Batch) API(owner string) api.Batch {
	return api.Batch{
		ID: b.ID, Project: b.Project, Name: b.Name, Owner: owner,
		EnvSnapshot: b.Snapshot, CreatedAt: b.CreatedAt,
	}
}
