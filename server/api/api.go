// Package api holds the JSON shapes that cross the wire between argus-server,
// its agents and its users: request and response bodies, command payloads and
// run states, and the limits on each field (limits.go). Its only behaviour
// is reading those shapes (RunStatus.Ended, and Run.Outcome in outcome.go,
// which words and judges a run the same way for the UI and the CLI), and
// it has no dependencies, so the server, the client and the agent can all
// share it. Routes, status codes and the
// schema of each of these shapes are in openapi.yaml (embedded as OpenAPI),
// which must change whenever a type here does; server/routes.go wires the
// routes.
package api

import "time"

// RunStatus is where a run stands.
type RunStatus string

const (
	RunQueued   RunStatus = "queued"   // rerun command waits for the agent
	RunRunning  RunStatus = "running"  // agent acked with a PID
	RunExited   RunStatus = "exited"   // ended on its own (any exit code)
	RunStopping RunStatus = "stopping" // stop command queued or delivered
	RunStopped  RunStatus = "stopped"  // ended after a stop
	RunFailed   RunStatus = "failed"   // agent could not start it
	// Set by the queue's own lifecycle: stopped while still queued, or not
	// delivered within the server's queue TTL. Neither ever started.
	RunCancelled RunStatus = "cancelled"
	RunExpired   RunStatus = "expired"
)

// Ended reports whether the status is final.
func (s RunStatus) Ended() bool {
	return s == RunExited || s == RunStopped || s == RunFailed || s == RunCancelled || s == RunExpired
}

// StopReasonTimeout is a run's stop_reason when it was stopped because it
// ran longer than its rerun's timeout: a system stop, with no stopped_by.
// Other stop reasons are the text the user gave with the stop.
const StopReasonTimeout = "timeout"

// Command kinds.
const (
	KindRerun = "rerun"
	KindStop  = "stop"
)

// Stop outcomes an agent acks with.
const (
	StopTerminated  = "terminated"   // the group exited within the grace period
	StopKilled      = "killed"       // SIGKILL was needed (Windows: the job was terminated)
	StopAlreadyGone = "already_gone" // nothing of the run was alive (or the PID was reused)
	StopFailed      = "failed"       // the agent could not stop it; the run is running again
)

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// EnvSnapshot is what was recorded about a batch's launch.
type EnvSnapshot struct {
	Command CommandLine       `json:"command"`
	Cwd     string            `json:"cwd"`
	Host    string            `json:"host"`
	Env     map[string]string `json:"env,omitempty"`
}

// CreateBatchRequest is the body of POST /api/batches.
type CreateBatchRequest struct {
	Project     string      `json:"project"`
	Name        string      `json:"name"`
	EnvSnapshot EnvSnapshot `json:"env_snapshot"`
}

const (
	// HeaderIdempotencyKey on a rerun or a stop makes it safe to send
	// again: a repeat with the same key (1 to 255 visible ASCII
	// characters, the user's own) within a day gets the first answer again
	// and changes nothing, its answer marked with HeaderIdempotentReplayed.
	HeaderIdempotencyKey     = "Idempotency-Key"
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// Created answers a POST that made something: {"id": ...}.
type Created struct {
	ID string `json:"id"`
}

// Batch is a recorded training run as users see it.
type Batch struct {
	ID          string      `json:"id"`
	Project     string      `json:"project"`
	Name        string      `json:"name"`
	Owner       string      `json:"owner"`
	EnvSnapshot EnvSnapshot `json:"env_snapshot"`
	CreatedAt   time.Time   `json:"created_at"`
	Runs        []Run       `json:"runs,omitempty"`
	// RunsNextCursor is set when the batch has more runs than Runs holds:
	// GET /api/runs?batch=ID&cursor=RunsNextCursor lists the older ones.
	RunsNextCursor string `json:"runs_next_cursor,omitempty"`
}

// BatchList answers GET /api/batches.
type BatchList struct {
	Batches []Batch `json:"batches"`
	// NextCursor asks for the next page (?cursor=); absent on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Run is one launch of a batch's command by an agent.
type Run struct {
	ID          string    `json:"id"`
	BatchID     string    `json:"batch_id"`
	AgentID     string    `json:"agent_id"`
	Status      RunStatus `json:"status"`
	PID         int       `json:"pid,omitempty"`
	ExitCode    *int      `json:"exit_code"`
	Signal      string    `json:"signal,omitempty"`
	ExitUnknown bool      `json:"exit_unknown,omitempty"`
	// LeftProcesses: the run's main process ended while this many of its
	// processes were still alive, and the agent ended them.
	LeftProcesses int    `json:"left_processes,omitempty"`
	Error         string `json:"error,omitempty"`
	// OutputTail is the run's last output as text: NUL and other control
	// characters as they are (JSON escapes them), each byte that is not
	// UTF-8 as U+FFFD. When that changed a byte, OutputTailB64 has the
	// exact bytes; Output gives the bytes either way.
	OutputTail    string     `json:"output_tail,omitempty"`
	OutputTailB64 []byte     `json:"output_tail_b64,omitempty"`
	RerunCmdID    string     `json:"rerun_cmd_id"`
	StopCmdID     string     `json:"stop_cmd_id,omitempty"`
	StopOutcome   string     `json:"stop_outcome,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`

	// Timeout is the rerun's timeout as a Go duration ("6h0m0s"), when it
	// was given one.
	Timeout string `json:"timeout,omitempty"`
	// RequestedBy is the name of the user who asked for the rerun.
	RequestedBy string `json:"requested_by,omitempty"`
	// StoppedBy is the name of the user who asked for the run's latest
	// stop (empty for a system stop such as a timeout), StopReason why:
	// their text, or a fixed word such as StopReasonTimeout.
	StoppedBy  string `json:"stopped_by,omitempty"`
	StopReason string `json:"stop_reason,omitempty"`
	// ExpiresAt: a queued run not started by then expires (server clock).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// WaitingReason says why a queued run is not on its way to the agent,
	// e.g. "host busy (2/2 runs)".
	WaitingReason string `json:"waiting_reason,omitempty"`
}

// RunList answers GET /api/runs.
type RunList struct {
	Runs []Run `json:"runs"`
	// NextCursor asks for the next page (?cursor=); absent on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// RerunRequest is the optional body of POST /api/batches/{id}/rerun. It
// carries no command: the server takes that from the recorded batch.
type RerunRequest struct {
	// AgentID picks one of several online agents on the origin host.
	AgentID string `json:"agent_id,omitempty"`
	// Timeout, a Go duration such as "6h", has the agent stop the run
	// (SIGTERM, grace, SIGKILL) once it has run that long.
	Timeout string `json:"timeout,omitempty"`
}

// Queued answers a rerun or a stop: 202 {"run_id", "cmd_id"}.
type Queued struct {
	RunID string `json:"run_id"`
	CmdID string `json:"cmd_id"`
}

// StopRequest is the optional body of POST /api/runs/{id}/stop.
type StopRequest struct {
	// GracePeriod overrides the agent's grace period, e.g. "30s".
	GracePeriod string `json:"grace_period,omitempty"`
	// Reason says why, for whoever looks at the run later: one line of
	// at most MaxStopReason characters, without control characters.
	Reason string `json:"reason,omitempty"`
}

// Agent is a registered daemon as its owner sees it.
type Agent struct {
	ID            string            `json:"id"`
	Hostname      string            `json:"hostname"`
	Label         string            `json:"label,omitempty"`
	OS            string            `json:"os,omitempty"`
	Arch          string            `json:"arch,omitempty"`
	Version       string            `json:"version,omitempty"`
	Properties    map[string]string `json:"properties,omitempty"`
	Online        bool              `json:"online"`
	Revoked       bool              `json:"revoked,omitempty"`
	LastHeartbeat *time.Time        `json:"last_heartbeat,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	// Resources is the host's last report (load, memory, disk, GPUs);
	// absent until the agent has sent one.
	Resources *Resources `json:"resources,omitempty"`
}

// AgentList answers GET /api/agents.
type AgentList struct {
	Agents []Agent `json:"agents"`
	// NextCursor asks for the next page (?cursor=); absent on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ShareRequest is the body of POST /api/projects/{project}/recipients.
type ShareRequest struct {
	User string `json:"user"`
}

// Project answers a share: the project and everyone it is shared with.
type Project struct {
	Name       string   `json:"name"`
	Owner      string   `json:"owner"`
	Recipients []string `json:"recipients"`
}

// Output is the run's last output as the run wrote it, any bytes.
func (r Run) Output() []byte {
	if r.OutputTailB64 != nil {
		return r.OutputTailB64
	}
	return []byte(r.OutputTail)
}
