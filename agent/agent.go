// Package agent is the argus-agent daemon: registering with the server and
// caching the agent's own ag_live_ token (register.go), the heartbeat and
// long-poll loops (daemon.go), starting a recorded command as a run with
// the recorded environment minus tokens (runs.go, env.go), refusing a
// rerun past its deadline and asking the server before starting one, so a
// cancelled or expired run is never started (queue.go), stopping a run
// (stop.go), the on-disk journal that makes each command run at most once
// and remembers what the server has not yet been told (journal.go),
// picking up runs after a restart, with the exit a run's supervisor
// recorded while no agent watched (recover.go, watch.go), delivering acks
// and exit reports until the server has them (outbox.go), stopping a run
// whose timeout ran out (timeout.go), taking up the new token that
// --reregister wrote beside a running daemon (tokenswap.go), and saying
// goodbye to the server on a clean stop (daemon.go), and reporting the
// host's load, memory, disk and GPUs with polls and heartbeats
// (resources.go, gpus.go). The state directory
// is private to the agent's user and locked against a second agent on it
// (fs_*.go).
//
// How processes are started, identified and stopped on each platform
// (process groups, start times, Windows job objects) is agent/internal/proc;
// each run's real parent, which waits for it and writes down how it ended
// whatever becomes of the agent, is a supervisor (agent/internal/supervise);
// this package decides when, and journals and reports what happened.
// Not here: the CLI, its flags, config file, exit codes and service
// installation (cmd/argus-agent, with the unit files in package systemd),
// the HTTP calls (package client), and the token format and cache file
// (package token).
package agent

import (
	"errors"
	"time"

	"github.com/rs/zerolog"
)

// ErrTokenRejected ends Run when the server answers 401 and the token file
// holds no new token to carry on with.
var ErrTokenRejected = errors.New("token rejected: run argus-agent --reregister")

// Config is everything the daemon needs. Zero values pick defaults.
type Config struct {
	URL                string            // server base URL, http:// or https://
	UserToken          string            // em_live_ token, for --register / --reregister only
	Label              string            // separates identities and token files on one host
	Home               string            // default ~/.argus-agent
	GracePeriod        time.Duration     // SIGTERM → SIGKILL; default 10s
	CACertFile         string            // PEM bundle replacing the system roots
	InsecureSkipVerify bool              // only when asked for by name
	Properties         map[string]string // sent at registration; ARGUS_PROP_<KEY> in runs
	HeartbeatInterval  time.Duration     // default 10s
	PollWait           time.Duration     // long-poll hold asked of the server; default 30s
	MaxBackoff         time.Duration     // longest retry wait while the server is unreachable; default 30s
	MaxRuns            int               // runs at once the server may hand this agent; 0: no limit
	ReportResources    bool              // send load, memory, disk and GPU use with polls and heartbeats, for the UI (resources.go); the CLI's default is on
	Logger             zerolog.Logger
	Version            string
}

// Signatures the CLI builds on (implemented in register.go and daemon.go):
//
//	func Register(ctx context.Context, cfg Config, replace bool) (token.Cache, error)
//	func Run(ctx context.Context, cfg Config) error
