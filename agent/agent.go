// Package agent is the argus-agent daemon: registration and the cached
// ag_live_ token, the heartbeat and long-poll loops, starting recorded
// commands in their own process group, stopping them (SIGTERM to the
// group, grace period, SIGKILL), reporting PIDs, exits and output tails,
// and the on-disk journal that makes each command run at most once and
// lets a restarted agent pick up where it left off.
//
// The CLI (flags, config file, exit codes) is cmd/argus-agent; the HTTP
// calls are package client. Platform process control is in proc_*.go
// (Linux /proc, macOS sysctl, Windows job objects in job_windows.go and
// CTRL_BREAK in ctrlbreak_windows.go), with the decisions behind it kept
// free of build tags (procargs2.go, winproc.go) so they are tested on any
// platform.
// Service installation is not here yet.
package agent

import (
	"errors"
	"time"

	"github.com/rs/zerolog"
)

// ErrTokenRejected ends Run when the server answers 401.
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
	Logger             zerolog.Logger
	Version            string
}

// Signatures the CLI builds on (implemented in register.go and daemon.go):
//
//	func Register(ctx context.Context, cfg Config, replace bool) (token.Cache, error)
//	func Run(ctx context.Context, cfg Config) error
