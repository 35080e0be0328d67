package api

import "time"

// Field limits: the most the server accepts in each user-supplied field of
// a request body, in bytes unless said otherwise. Over a limit is 400 with
// the field named, and nothing is stored. They keep every stored record,
// and so every list answer, to a size an operator can reason about; each
// is also a maxLength, maxItems or maxProperties in openapi.yaml and is
// listed in the README. Sizes are well above what a real command line,
// environment or host needs.
const (
	// Batches (POST /api/batches).
	MaxBatchName   = 256       // name
	MaxProject     = 128       // project (also its pattern)
	MaxHost        = 255       // env_snapshot.host: the longest DNS name
	MaxCwd         = 4096      // env_snapshot.cwd: Linux PATH_MAX
	MaxArgs        = 4096      // env_snapshot.command elements
	MaxArg         = 128 << 10 // one argv element: Linux MAX_ARG_STRLEN
	MaxShell       = 128 << 10 // env_snapshot.command as a shell string
	MaxEnvVars     = 1024      // env_snapshot.env entries
	MaxEnvName     = 256       // one env_snapshot.env name
	MaxEnvValue    = 32 << 10  // one env_snapshot.env value: Windows' own limit
	MaxUserName    = 64        // share's user: the user-name rule's length
	MaxGracePeriod = 32        // stop's grace_period, a duration like "30s"
	MaxStopReason  = 500       // stop's reason, in characters (runes), not bytes
	MaxID          = 64        // ids sent in bodies (rerun's and register's agent_id)
	MaxMaxRuns     = 10000     // the jobs poll's max_runs (an agent's --max-runs)
	MaxTimeout     = 32        // rerun's timeout, a duration like "6h"

	// MaxRunTimeout is the longest timeout a rerun may ask for: long
	// enough for any training run, short enough that a typo ("6000h")
	// is caught rather than holding GPUs for months.
	MaxRunTimeout = 30 * 24 * time.Hour

	// Agent registration (POST /api/agents/register).
	MaxHostname      = 255 // hostname
	MaxOS            = 64  // os
	MaxArch          = 64  // arch
	MaxVersion       = 128 // version
	MaxProperties    = 64  // properties entries
	MaxPropertyName  = 128 // one property name
	MaxPropertyValue = 4096

	// Acks and exit reports. An ack's error is cut to MaxAckError rather
	// than refused, and an exit report's output_tail to its last
	// MaxOutputTail bytes: both come from a real agent (an exec error may
	// quote a long command line; the tail is 64 KiB of raw bytes, more
	// once JSON escapes it), and a refused ack or exit would be dropped,
	// leaving the run unsettled.
	MaxAckError = 4096
	MaxSignal   = 64 // an exit report's signal, e.g. "SIGTERM"
	MinPID      = 1
	MaxPID      = 1<<31 - 1
	// An exit code is a POSIX status or a Windows 32-bit exit code, which
	// the agent reports unsigned (an NTSTATUS such as 0xC0000005 is
	// 3221225477), so the range takes both the int32 and the uint32 one.
	MinExitCode = -1 << 31
	MaxExitCode = 1<<32 - 1
)
