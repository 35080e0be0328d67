package api

// Live output: an agent appends what a run writes to its log while it
// runs (POST /api/agents/{agent_id}/runs/{run_id}/log?offset=N, the raw
// bytes as the body), and whoever may see the run reads it back
// (GET /api/runs/{run_id}/log?offset=N&wait=D), as bytes, with its
// position in these headers.
const (
	// HeaderLogOffset is the offset of the first byte returned: larger
	// than the asked offset when that part was dropped by the server's
	// --log-max cap; never smaller.
	HeaderLogOffset = "Argus-Log-Offset"
	// HeaderLogNext is the offset to ask for next.
	HeaderLogNext = "Argus-Log-Next"
	// HeaderLogComplete is "true" once the run has ended and all of its
	// kept output is there: nothing more will come.
	HeaderLogComplete = "Argus-Log-Complete"
)

const (
	// MaxLogChunk is the most one append may carry; an agent sends a
	// longer backlog in several.
	MaxLogChunk = 1 << 20
	// LogHead is how much of the start of a run's output the server
	// always keeps when the run's output passes its cap: the command's
	// first messages (its configuration, the first error) matter most.
	LogHead = 1 << 20
	// MinLogMax is the smallest cap a server takes: the head and a
	// useful stretch of the newest output.
	MinLogMax = 2 << 20
	// DefaultLogMax is the server's cap per run unless told otherwise.
	DefaultLogMax = 16 << 20
	// MaxLogRead is the most one read of a run's log returns; a reader
	// continues at Argus-Log-Next.
	MaxLogRead = 1 << 20
)

// LogAppended answers an append: the offset the server wants next, which
// is where the agent goes on from (also when it sent bytes the server had
// already, after a restart).
type LogAppended struct {
	Next int64 `json:"next"`
}

// LogGap is the body of the 409 an append gets when it starts past what
// the server has: the agent resends from Next.
type LogGap struct {
	Error string `json:"error"`
	Next  int64  `json:"next"`
}
