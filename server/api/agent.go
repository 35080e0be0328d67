package api

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// RegisterRequest is the body of POST /api/agents/register: the host the
// agent runs on.
type RegisterRequest struct {
	// AgentID, when set, re-registers that agent of the same user: it keeps
	// its id (and so its runs) and gets a new token; the old one is revoked.
	AgentID    string            `json:"agent_id,omitempty"`
	Hostname   string            `json:"hostname"`
	Label      string            `json:"label,omitempty"`
	OS         string            `json:"os,omitempty"`
	Arch       string            `json:"arch,omitempty"`
	Version    string            `json:"version,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

// RegisterResponse carries the new agent's id and its ag_live_ token. The
// token is shown once and never again.
type RegisterResponse struct {
	AgentID string `json:"agent_id"`
	Token   string `json:"token"`
}

// Command is one unit of work for an agent, as GET .../jobs delivers it.
type Command struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	RunID     string     `json:"run_id"`
	BatchID   string     `json:"batch_id,omitempty"`
	Rerun     *RerunSpec `json:"rerun,omitempty"`
	Stop      *StopSpec  `json:"stop,omitempty"`
	Attempt   int        `json:"attempt"`
	CreatedAt time.Time  `json:"created_at"`
	// ExpiresAt (reruns, server clock): not started by then, the rerun
	// expires. DeliveredAt is the server's clock as it hands the command
	// out, so the agent measures the time left (ExpiresAt - DeliveredAt)
	// on its own clock and skew between the two clocks does not matter.
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// OutcomeExpired is the outcome of a rerun ack by which the agent refuses
// a rerun whose deadline (expires_at) has passed; the run becomes expired.
const OutcomeExpired = "expired"

// StartAnswer answers POST /api/agents/{id}/jobs/{cmd_id}/start, which the
// agent sends before it starts a rerun: Start false means the run was
// cancelled or expired meanwhile (RunStatus says which), and the agent must
// not start it.
type StartAnswer struct {
	CmdID     string    `json:"cmd_id"`
	Start     bool      `json:"start"`
	RunStatus RunStatus `json:"run_status"`
}

// RerunSpec is what the agent needs to start a run: taken from the batch's
// recorded env_snapshot, never from the request that asked for the rerun.
type RerunSpec struct {
	Command CommandLine       `json:"command"`
	Cwd     string            `json:"cwd"`
	Env     map[string]string `json:"env,omitempty"`
	// TimeoutMS, when > 0, is how long the run may run before the agent
	// stops it; the deadline counts from the start the agent acks.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// RequestedBy names the user who asked for the rerun, for the agent's log.
	RequestedBy string `json:"requested_by,omitempty"`
}

// StopSpec says which run to end and how patiently.
type StopSpec struct {
	PID int `json:"pid"`
	// StartedAt is the start time the rerun ack reported for PID, so the
	// agent can refuse to signal a process that merely reuses the PID.
	StartedAt *time.Time `json:"started_at,omitempty"`
	// GracePeriodMS overrides the agent's grace period when > 0.
	GracePeriodMS int64 `json:"grace_period_ms,omitempty"`
	// StoppedBy and Reason say who asked for the stop and why, as the run
	// records them, so the agent can log them.
	StoppedBy string `json:"stopped_by,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

const (
	// HeaderHeartbeat on a jobs or heartbeat answer says what else counts
	// as the agent's heartbeat. HeartbeatHeldPoll: every poll does, and a
	// held one for as long as it is held, so an agent whose polls succeed
	// needs no heartbeat requests (and no second connection) to stay
	// online. Servers before this header count heartbeat requests only.
	HeaderHeartbeat   = "Argus-Heartbeat"
	HeartbeatHeldPoll = "held-poll"
)

// JobList answers GET /api/agents/{id}/jobs.
type JobList struct {
	Commands []Command `json:"commands"`
	// HeldPollHeartbeat is set by the client, not sent: the answer said
	// Argus-Heartbeat: held-poll.
	HeldPollHeartbeat bool `json:"-"`
}

// AckRequest acknowledges a command. For a rerun: the PID, or Error when
// the command could not be started. For a stop: Outcome (terminated, killed,
// already_gone).
type AckRequest struct {
	PID       int        `json:"pid,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	Error     string     `json:"error,omitempty"`
	Outcome   string     `json:"outcome,omitempty"`
}

// Ack answers an ack: the command's state after it. A repeated ack gets
// the same answer as the first, with Duplicate set.
type Ack struct {
	CmdID     string     `json:"cmd_id"`
	State     string     `json:"state"`
	AckedAt   time.Time  `json:"acked_at"`
	Ack       AckRequest `json:"ack"`
	Duplicate bool       `json:"duplicate"`
}

// ExitReport is the body of POST /api/agents/{id}/runs/{run_id}/exit, sent
// once a run has ended. Unknown is set when nobody recorded how the run
// ended (its supervisor died first, or an agent from before supervisors
// was down when it ended); ExitCode and Signal are then empty.
type ExitReport struct {
	ExitCode *int      `json:"exit_code,omitempty"`
	Signal   string    `json:"signal,omitempty"`
	Unknown  bool      `json:"unknown,omitempty"`
	EndedAt  time.Time `json:"ended_at"`
	// OutputTail is the output as text, for servers before output was
	// stored as bytes: a JSON string cannot carry invalid UTF-8 (encoding/json
	// makes each such byte U+FFFD), and those servers, on PostgreSQL, failed
	// on NUL, so agents send it as TextForOldServers makes it. A server
	// uses it only when OutputTailB64 is absent (an older agent).
	OutputTail string `json:"output_tail,omitempty"`
	// OutputTailB64 is the last output exactly as the run wrote it, any
	// bytes, base64 on the wire (encoding/json's []byte). Older servers
	// ignore it: agent bodies are lenient.
	OutputTailB64 []byte `json:"output_tail_b64,omitempty"`
	// StopReason is set when the agent itself stopped the run:
	// StopReasonTimeout when its timeout ran out.
	StopReason string `json:"stop_reason,omitempty"`
	// LogSize is how many bytes the run wrote to its log in all: the
	// server's log of the run is complete once it has received that many
	// (Argus-Log-Complete). Absent from agents that do not stream output.
	LogSize *int64 `json:"log_size,omitempty"`
	// LeftProcesses is how many of the run's processes were still alive
	// when its main process ended, which the agent then ended (SIGTERM,
	// grace, SIGKILL): nothing of a run outlives it.
	LeftProcesses int `json:"left_processes,omitempty"`
}

// Output is the output the report carries, as bytes in a string: the
// exact bytes when the agent sent them, else the text of an older agent.
func (e ExitReport) Output() string {
	if e.OutputTailB64 != nil {
		return string(e.OutputTailB64)
	}
	return e.OutputTail
}

// TextForOldServers is output as text a server before output_tail_b64 can
// store: valid UTF-8 (each invalid byte U+FFFD, as encoding/json would make
// it anyway) without NUL, which PostgreSQL's TEXT refused.
func TextForOldServers(output []byte) string {
	return strings.ReplaceAll(ValidText(string(output)), "\x00", "")
}

// ValidText is s with each byte that is not UTF-8 replaced by U+FFFD, the
// way encoding/json writes such a string, so text shown in Go (the web UI)
// reads the same as the API's JSON.
func ValidText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // utf8.RuneError for an invalid byte, size 1
		i += size
	}
	return b.String()
}

// MaxOutputTail is the most output the server keeps per run.
const MaxOutputTail = 64 << 10

// CommandLine is a recorded command: an argv list, or one shell string to
// run through /bin/sh -c. On the wire it is a JSON array or a JSON string.
type CommandLine struct {
	Argv  []string
	Shell string
}

// IsZero reports whether no command was given.
func (c CommandLine) IsZero() bool { return len(c.Argv) == 0 && c.Shell == "" }

// MarshalJSON writes an array for argv and a string for a shell line.
func (c CommandLine) MarshalJSON() ([]byte, error) {
	if len(c.Argv) > 0 {
		return json.Marshal(c.Argv)
	}
	return json.Marshal(c.Shell)
}

// UnmarshalJSON accepts a JSON array of strings or a JSON string.
func (c *CommandLine) UnmarshalJSON(b []byte) error {
	*c = CommandLine{}
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &c.Argv)
	}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &c.Shell)
	}
	if string(b) == "null" {
		return nil
	}
	return errors.New("command must be an argv list or a shell string")
}

// MaxHolding bounds RestartedRequest.Holding.
const MaxHolding = 10000

// RestartedRequest is the body of POST /api/agents/{id}/restarted: a
// freshly started agent names the commands its journal holds whose acks
// the server may not have yet. Every other command delivered to it and
// not acked was never journaled, so never started: the server hands those
// out again at once, instead of when their leases end.
type RestartedRequest struct {
	Holding []string `json:"holding"`
}

// Released answers it: how many deliveries were handed back.
type Released struct {
	Released int `json:"released"`
}

// ShellText is the command as one would type it into a POSIX shell: a
// shell line as recorded, an argv list with every argument that needs it
// in single quotes (which keep every byte but the quote itself, newlines
// included: why this is not a shell library's quoting, which refuses
// those). The UI and the CLI both show commands this way, so what either
// shows can be pasted into sh.
func (c CommandLine) ShellText() string {
	if len(c.Argv) == 0 {
		return c.Shell
	}
	quoted := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		quoted[i] = shellWord(a)
	}
	return strings.Join(quoted, " ")
}

func shellWord(a string) string {
	safe := a != "" && strings.IndexFunc(a, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			strings.ContainsRune("_@%+=:,./-", r))
	}) < 0
	if safe {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// Diagnostics answers GET /api/diagnostics: how each of the caller's
// agents stands with this server, to tell "offline" from "online but not
// polling" from "polling but its commands pile up".
type Diagnostics struct {
	Agents     []AgentDiagnostics `json:"agents"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

// AgentDiagnostics is one agent's line of Diagnostics. LastPoll and
// PollHeld are the answering replica's view: with several replicas, each
// knows the polls it served.
type AgentDiagnostics struct {
	ID            string         `json:"id"`
	Hostname      string         `json:"hostname"`
	Label         string         `json:"label,omitempty"`
	Version       string         `json:"version,omitempty"`
	Online        bool           `json:"online"`
	LastHeartbeat *time.Time     `json:"last_heartbeat,omitempty"`
	LastPoll      *time.Time     `json:"last_poll,omitempty"`
	PollHeld      bool           `json:"poll_held"`
	Commands      map[string]int `json:"commands"` // not yet acked, by state: queued, delivered, starting
}
